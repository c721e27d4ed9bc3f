// Hide-answers reading (issue 23): on a page with questions, one button at the top of the article
// (written there at build time by hooks/hide_answers.py) collapses every question's short answer and answer body under its heading; each question then has
// its own "Show answer" button. The choice is kept in localStorage under one key for both languages
// (the language switcher keeps the reader on the same question, so a drill goes on in the other
// language). Printing is not affected: the print page (PDF) gets no button, and @media print in
// hide-answers.css shows every answer. Works with Material's instant navigation too (document$).
(() => {
  const KEY = "llm-handbook.hide-answers";
  const TEXT = {
    zh: { show: "显示答案", hide: "收起答案" },
    en: { show: "Show answer", hide: "Hide answer" },
  };

  const load = () => { try { return localStorage.getItem(KEY) === "1"; } catch (e) { return false; } };
  const save = (on) => { try { localStorage.setItem(KEY, on ? "1" : "0"); } catch (e) { /* private mode */ } };

  // Everything after a question heading up to the next h1/h2 is its answer (short-answer box,
  // explanation, code, follow-ups, references), wrapped once in div.hb-answer. hooks/hide_answers.py
  // does it at build time (h2, hidden button.hb-reveal, div.hb-answer), so normally only the buttons
  // are wired up here; a page built without the hook is wrapped here.
  function wrapAnswers(article) {
    const questions = [];
    for (const h2 of article.querySelectorAll(":scope > h2[id][data-difficulty]")) {
      const done = h2.nextElementSibling;               // set up already: h2, button.hb-reveal, div.hb-answer
      let answer = done && done.classList.contains("hb-reveal") ? done.nextElementSibling : null;
      if (answer && !done.dataset.wired) {
        done.dataset.wired = "1";
        done.addEventListener("click", () => reveal(done, answer, answer.hidden));
      }
      if (!answer) {
        answer = document.createElement("div");
        answer.className = "hb-answer";
        answer.id = `hb-answer-${h2.id}`;
        let node = h2.nextSibling;
        while (node && !(node.nodeType === 1 && (/^H[12]$/.test(node.tagName) ||
               node.matches(".md-source-file, .md-feedback, aside, form")))) {
          const next = node.nextSibling;
          answer.appendChild(node);
          node = next;
        }
        h2.after(answer);
        const button = document.createElement("button");
        button.type = "button";
        button.className = "hb-reveal md-button";
        button.setAttribute("aria-controls", answer.id);
        button.dataset.wired = "1";
        button.addEventListener("click", () => reveal(button, answer, answer.hidden));
        h2.after(button);
      }
      questions.push({ h2, answer, button: h2.nextElementSibling });
    }
    return questions;
  }

  function reveal(button, answer, open) {
    const text = TEXT[button.dataset.lang];
    answer.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? text.hide : text.show;
  }

  function setup() {
    const article = document.querySelector("article.md-content__inner");
    if (!article || document.querySelector("#print-site-page, section.print-page")) return;
    const lang = (document.documentElement.lang || "zh").startsWith("en") ? "en" : "zh";
    const questions = wrapAnswers(article);
    if (!questions.length) return;
    questions.forEach((q) => { q.button.dataset.lang = lang; });

    // The toggle itself is in the page already (hooks/hide_answers.py writes it, disabled, after the
    // title, so nothing moves when this script runs); here it is switched on, once per document.
    const toggle = article.querySelector("button.hb-toggle");
    if (!toggle) return;
    if (toggle.disabled) {
      toggle.addEventListener("click", () => {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        save(on);
        apply(on);
      });
      toggle.disabled = false;
    }

    // A link to a question (#id) keeps its heading in view; a link to anything inside an answer
    // (a sub-heading, a footnote) also shows that answer.
    const linked = () => {
      let el = null;
      try { el = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1))); } catch (e) { /* bad hash */ }
      return el || null;
    };

    function apply(on) {
      toggle.setAttribute("aria-pressed", String(on));
      article.classList.toggle("hb-answers-hidden", on);
      const el = linked();
      const open = el && el.closest(".hb-answer");
      for (const q of questions) {
        q.button.hidden = !on;
        reveal(q.button, q.answer, !on || q.answer === open);
      }
      return el;
    }
    const on = load();
    const el = apply(on);
    if (on && el && article.contains(el)) el.scrollIntoView();     // the layout above the target changed

    if (!window.__hbHideAnswersHash) {          // once per document, not once per instant navigation
      window.__hbHideAnswersHash = true;
      window.addEventListener("hashchange", () => {
        const a = document.querySelector("article.md-content__inner");
        let el = null;
        try { el = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1))); } catch (e) { return; }
        const answer = el && el.closest(".hb-answer");
        if (a && answer && answer.hidden) {
          const button = answer.previousElementSibling;
          if (button && button.classList.contains("hb-reveal")) reveal(button, answer, true);
          el.scrollIntoView();
        }
      });
    }
  }

  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(setup);        // Material: first load and every instant navigation
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
