// The practice page (hooks/practice.py): a drill scheduled by FSRS and a mock interview.
// Data: window.HB_PRACTICE from assets/practice/questions.<lang>.js (a script, so it also works from
// file://); scheduling: window.FSRS, ts-fsrs served from assets/vendor/ts-fsrs; formulas: typeset at
// build time (KaTeX's HTML in the question script; only KaTeX's CSS is loaded).
// State lives in localStorage under "hb-practice:<lang>" (one per language): the FSRS card of every
// graded question, the review log, and the chosen filters. Nothing is sent anywhere.
(() => {
  "use strict";
  const root = document.querySelector(".hb-practice");
  const DATA = window.HB_PRACTICE;
  if (!root || !DATA || !window.FSRS) return;
  const lang = DATA.lang;
  const base = root.dataset.base || "";
  const { fsrs, generatorParameters, createEmptyCard, State } = window.FSRS;
  // FSRS-6 defaults (21 parameters, 90% retention, steps 1m/10m and 10m); no fuzz, so a schedule is
  // reproducible (tests/test_practice.py replays it with py-fsrs).
  const scheduler = fsrs(generatorParameters({ enable_fuzz: false }));
  const KEY = `hb-practice:${lang}`;
  const VERSION = 1;
  const STARS = { 1: "★☆☆", 2: "★★☆", 3: "★★★" };

  const STRINGS = {
    zh: {
      tabs: "练习方式", drill: "逐题练习", mock: "模拟面试",
      scope: "选题范围", chapter: "章节", due: "到期", fresh: "新题", learned: "已学", total: "合计",
      allChapters: "全部章节", difficulty: "难度", levels: { 1: "基础", 2: "进阶", 3: "高级" },
      tag: "标签", allTags: "全部标签",
      deck: "当前范围 {n} 题：到期 {due}，新题 {fresh}，已学 {learned}。",
      kindDue: "复习", kindNew: "新题",
      yourAnswer: "你的回答（可选，不会保存）", placeholder: "先想一想，或者把要点写在这里……",
      reveal: "显示答案", revealHint: "空格",
      shortAnswer: "简答", fullAnswer: "查看完整答案",
      gradeLegend: "你答得怎么样？", grades: { 1: "重来", 2: "困难", 3: "良好", 4: "简单" },
      gradeHint: "按 1–4 自评",
      again: "再次出现：{when}",
      emptyScope: "当前范围里没有题：至少选一个章节和一个难度。",
      done: "当前范围里的题都练过了，暂时没有到期的题。", nextDue: "下一道在 {date} 到期。",
      progress: "进度", export: "导出进度", import: "导入进度", reset: "重置进度",
      resetConfirm: "清空中文练习的全部进度？此操作不能撤销。", resetDone: "进度已清空。",
      exported: "已导出 {n} 道题的进度。", imported: "已导入 {n} 道题的进度。",
      importError: "无法导入：{msg}", wrongLang: "这份文件是英文版的进度，请在英文版的练习页导入。",
      badFile: "不是本手册导出的进度文件。",
      mockIntro: "从上面选定的范围里随机抽题，每题单独计时；全部答完才显示答案。",
      count: "题数", minutes: "每题限时（分钟）", start: "开始模拟面试", only: "范围里只有 {n} 道题。",
      questionOf: "第 {i} / {n} 题", timeLeft: "剩余时间", timeUp: "时间到",
      next: "下一题", finish: "答完了，看小结", stop: "提前结束",
      summary: "模拟面试小结", summaryStats: "共 {n} 道题，用时 {time}。",
      used: "用时 {used} / {limit}", notes: "你的回答", noNotes: "（没有写）",
      gradeThis: "自评", graded: "已记入复习计划：{grade}", again2: "再来一轮",
      units: { min: "{n} 分钟", hour: "{n} 小时", day: "{n} 天", year: "{n} 年" },
      storageError: "浏览器不允许本页保存进度（localStorage 不可用），关掉页面后进度会丢失。",
      locale: "zh-CN",
    },
    en: {
      tabs: "Practice mode", drill: "Drill", mock: "Mock interview",
      scope: "Questions to practise", chapter: "Chapter", due: "Due", fresh: "New", learned: "Learned",
      total: "Total", allChapters: "All chapters", difficulty: "Difficulty",
      levels: { 1: "basic", 2: "intermediate", 3: "advanced" }, tag: "Tag", allTags: "All tags",
      deck: "{n} questions selected: {due} due, {fresh} new, {learned} learned.",
      kindDue: "Review", kindNew: "New",
      yourAnswer: "Your answer (optional, not saved)", placeholder: "Think it through, or jot down the key points…",
      reveal: "Show answer", revealHint: "Space",
      shortAnswer: "Short answer", fullAnswer: "Read the full answer",
      gradeLegend: "How did you do?", grades: { 1: "Again", 2: "Hard", 3: "Good", 4: "Easy" },
      gradeHint: "Grade with 1–4",
      again: "Comes back in {when}",
      emptyScope: "No question in this selection: choose at least one chapter and one difficulty.",
      done: "You have practised every question in this selection and none is due.",
      nextDue: "The next one is due {date}.",
      progress: "Progress", export: "Export progress", import: "Import progress", reset: "Reset progress",
      resetConfirm: "Clear all your English practice progress? This cannot be undone.",
      resetDone: "Progress cleared.", exported: "Exported the progress of {n} questions.",
      imported: "Imported the progress of {n} questions.", importError: "Could not import: {msg}",
      wrongLang: "This file holds progress for the Chinese edition; import it on the Chinese practice page.",
      badFile: "this is not a progress file exported by the handbook.",
      mockIntro: "Random questions from the selection above, each with its own timer; no answer is shown until the end.",
      count: "Questions", minutes: "Minutes per question", start: "Start the mock interview",
      only: "Only {n} questions in the selection.",
      questionOf: "Question {i} of {n}", timeLeft: "Time left", timeUp: "Time is up",
      next: "Next question", finish: "Done: show the summary", stop: "End now",
      summary: "Mock interview summary", summaryStats: "{n} questions in {time}.",
      used: "Took {used} of {limit}", notes: "Your answer", noNotes: "(nothing written)",
      gradeThis: "Grade yourself", graded: "Added to your schedule: {grade}", again2: "Another round",
      units: { min: "{n} min", hour: "{n} h", day: "{n} days", year: "{n} years" },
      storageError: "This browser does not let the page save progress (localStorage is unavailable); it will be lost when you leave.",
      locale: "en-GB",
    },
  };
  const T = STRINGS[lang] || STRINGS.en;
  const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : `{${k}}`));

  // ---------- DOM helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
    return el;
  }
  // Titles and short answers as HTML, their $…$ typeset at build time (hooks/practice.py, KaTeX):
  // the text is escaped there, so this is the handbook's own markup.
  function setMath(el, html) {
    el.innerHTML = html;
    return el;
  }

  // ---------- state
  const emptyState = () => ({ version: VERSION, lang, cards: {}, log: [], filters: null });
  function load() {
    try {
      const s = JSON.parse(localStorage.getItem(KEY));
      if (s && s.version === VERSION && s.cards && Array.isArray(s.log)) return s;
    } catch (err) { /* unreadable: start afresh */ }
    return emptyState();
  }
  let state = load();
  function save() {
    try { localStorage.setItem(KEY, JSON.stringify(state)); } catch (err) { status.textContent = T.storageError; }
  }
  const chapterTitle = Object.fromEntries(DATA.chapters.map((c) => [c.slug, c.title]));
  const allTags = [...new Set(DATA.questions.flatMap((q) => q.tags))].sort((a, b) => a.localeCompare(b, T.locale));
  function filters() {
    const f = state.filters || {};
    return {
      chapters: Array.isArray(f.chapters) ? f.chapters : DATA.chapters.map((c) => c.slug),
      difficulties: Array.isArray(f.difficulties) ? f.difficulties : [1, 2, 3],
      tag: allTags.includes(f.tag) ? f.tag : "",
    };
  }
  function card(id) {
    const c = state.cards[id];
    if (!c) return null;
    return { ...c, due: new Date(c.due), last_review: c.last_review ? new Date(c.last_review) : undefined };
  }
  function review(id, rating) {
    const now = new Date();
    const next = scheduler.next(card(id) || createEmptyCard(now), now, rating).card;
    state.cards[id] = JSON.parse(JSON.stringify(next));
    state.log.push({ id, rating, review: now.toISOString() });
    save();
  }
  const isDue = (id, now) => state.cards[id] && new Date(state.cards[id].due) <= now;
  const matches = (q, f, withChapter = true) => (!withChapter || f.chapters.includes(q.chapter))
    && f.difficulties.includes(q.difficulty) && (!f.tag || q.tags.includes(f.tag));
  const deck = () => { const f = filters(); return DATA.questions.filter((q) => matches(q, f)); };

  function duration(ms) {
    const min = ms / 60000;
    if (min < 59.5) return fill(T.units.min, { n: Math.max(1, Math.round(min)) });
    if (min < 60 * 23.5) return fill(T.units.hour, { n: Math.round(min / 60) });
    const days = min / 1440;
    if (days < 365) return fill(T.units.day, { n: Math.round(days) });
    return fill(T.units.year, { n: (days / 365).toFixed(1) });
  }
  const clock = (ms) => {
    const s = Math.max(0, Math.round(ms / 1000));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  };
  const fullUrl = (q) => base + q.url;

  // ---------- layout
  const status = h("p", { class: "hb-practice__status", role: "status", "aria-live": "polite" });
  const tabDrill = h("button", { type: "button", role: "tab", id: "hb-tab-drill", "aria-controls": "hb-panel-drill", text: T.drill });
  const tabMock = h("button", { type: "button", role: "tab", id: "hb-tab-mock", "aria-controls": "hb-panel-mock", text: T.mock });
  const panelDrill = h("section", { role: "tabpanel", id: "hb-panel-drill", "aria-labelledby": "hb-tab-drill", class: "hb-practice__panel" });
  const panelMock = h("section", { role: "tabpanel", id: "hb-panel-mock", "aria-labelledby": "hb-tab-mock", class: "hb-practice__panel" });
  let tab = "drill";
  function selectTab(name, focus) {
    tab = name;
    for (const [t, p, n] of [[tabDrill, panelDrill, "drill"], [tabMock, panelMock, "mock"]]) {
      t.setAttribute("aria-selected", String(n === name));
      t.tabIndex = n === name ? 0 : -1;
      p.hidden = n !== name;
    }
    if (focus) (name === "drill" ? tabDrill : tabMock).focus();
  }
  tabDrill.addEventListener("click", () => selectTab("drill"));
  tabMock.addEventListener("click", () => selectTab("mock"));
  const tablist = h("div", { role: "tablist", "aria-label": T.tabs, class: "hb-practice__tabs" }, tabDrill, tabMock);
  tablist.addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") { e.preventDefault(); selectTab(tab === "drill" ? "mock" : "drill", true); }
  });

  // ---------- scope: chapters (with counts), difficulty, tag
  const scope = h("fieldset", { class: "hb-practice__scope" }, h("legend", { text: T.scope }));
  const chapterBody = h("tbody");
  const allBox = h("input", { type: "checkbox", id: "hb-ch-all", "aria-label": T.allChapters });
  const totalRow = h("tr", { class: "hb-practice__total" });
  scope.append(h("div", { class: "hb-practice__chapters" }, h("table", { class: "hb-practice__table" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, h("label", { class: "hb-practice__check" }, allBox, T.chapter)),
      h("th", { scope: "col", text: T.due }), h("th", { scope: "col", text: T.fresh }), h("th", { scope: "col", text: T.learned }))),
    chapterBody, h("tfoot", {}, totalRow))));
  const chapterBoxes = DATA.chapters.map((c) => {
    const box = h("input", { type: "checkbox", value: c.slug, "data-chapter": c.slug });
    const row = h("tr", { "data-chapter": c.slug },
      h("th", { scope: "row" }, h("label", { class: "hb-practice__check" }, box, c.title)),
      h("td", { "data-count": "due" }), h("td", { "data-count": "new" }), h("td", { "data-count": "learned" }));
    chapterBody.append(row);
    return box;
  });
  const levelBoxes = [1, 2, 3].map((n) => h("input", { type: "checkbox", value: String(n), "data-difficulty": String(n) }));
  const tagSelect = h("select", { "data-filter": "tag" }, h("option", { value: "", text: T.allTags }),
    allTags.map((t) => h("option", { value: t, text: t })));
  scope.append(h("div", { class: "hb-practice__row" },
    h("fieldset", { class: "hb-practice__levels" }, h("legend", { text: T.difficulty }),
      levelBoxes.map((b, i) => h("label", { class: "hb-practice__check" }, b,
        h("span", { class: "hb-difficulty", "aria-hidden": "true", text: STARS[i + 1] }), " ", T.levels[i + 1]))),
    h("label", { class: "hb-practice__tag" }, T.tag, " ", tagSelect)));
  const deckLine = h("p", { class: "hb-practice__deck", "aria-live": "polite" });
  scope.append(deckLine);

  function storeFilters() {
    state.filters = {
      chapters: chapterBoxes.filter((b) => b.checked).map((b) => b.value),
      difficulties: levelBoxes.filter((b) => b.checked).map((b) => Number(b.value)),
      tag: tagSelect.value,
    };
    save();
    current = null;
    renderAll();
  }
  chapterBoxes.forEach((b) => b.addEventListener("change", storeFilters));
  levelBoxes.forEach((b) => b.addEventListener("change", storeFilters));
  tagSelect.addEventListener("change", storeFilters);
  allBox.addEventListener("change", () => { chapterBoxes.forEach((b) => { b.checked = allBox.checked; }); storeFilters(); });

  function renderScope() {
    const f = filters(), now = new Date();
    chapterBoxes.forEach((b) => { b.checked = f.chapters.includes(b.value); });
    allBox.checked = f.chapters.length === DATA.chapters.length;
    allBox.indeterminate = f.chapters.length > 0 && !allBox.checked;
    levelBoxes.forEach((b) => { b.checked = f.difficulties.includes(Number(b.value)); });
    tagSelect.value = f.tag;
    const sums = { due: 0, new: 0, learned: 0 };
    for (const row of chapterBody.rows) {
      const qs = DATA.questions.filter((q) => q.chapter === row.dataset.chapter && matches(q, f, false));
      const c = { due: 0, new: 0, learned: 0 };
      for (const q of qs) c[!state.cards[q.id] ? "new" : isDue(q.id, now) ? "due" : "learned"] += 1;
      for (const k of Object.keys(c)) row.querySelector(`[data-count=${k}]`).textContent = c[k];
      row.classList.toggle("hb-practice__off", !f.chapters.includes(row.dataset.chapter));
      if (f.chapters.includes(row.dataset.chapter)) for (const k of Object.keys(c)) sums[k] += c[k];
    }
    totalRow.replaceChildren(h("th", { scope: "row", text: T.total }),
      h("td", { "data-total": "due", text: sums.due }), h("td", { "data-total": "new", text: sums.new }),
      h("td", { "data-total": "learned", text: sums.learned }));
    deckLine.textContent = fill(T.deck, { n: deck().length, due: sums.due, fresh: sums.new, learned: sums.learned });
  }

  // ---------- drill
  let current = null, revealed = false;
  const cardBox = h("article", { class: "hb-practice__card", tabindex: "-1" });
  const tools = h("div", { class: "hb-practice__tools" });
  panelDrill.append(cardBox);

  function nextQuestion() {
    const now = new Date(), qs = deck();
    const due = qs.filter((q) => isDue(q.id, now)).sort((a, b) => new Date(state.cards[a.id].due) - new Date(state.cards[b.id].due));
    return due[0] || qs.find((q) => !state.cards[q.id]) || null;
  }
  function meta(q, kind) {
    return h("p", { class: "hb-practice__meta" },
      h("span", { text: chapterTitle[q.chapter] || q.chapter }), " · ",
      h("span", { class: "hb-difficulty", title: T.levels[q.difficulty], text: STARS[q.difficulty] || "" }),
      kind ? [" · ", h("span", { class: "hb-practice__kind", text: kind })] : null);
  }
  function answerBlock(q) {
    return h("div", { class: "hb-practice__answer", tabindex: "-1" },
      h("p", { class: "hb-practice__label", text: T.shortAnswer }),
      setMath(h("p", { class: "hb-practice__short" }), q.answer_html),
      h("p", {}, h("a", { href: fullUrl(q), class: "hb-practice__full" }, T.fullAnswer, " →")));
  }
  function gradeButtons(onGrade, q) {
    const preview = q ? scheduler.repeat(card(q.id) || createEmptyCard(new Date()), new Date()) : null;
    return h("div", { class: "hb-practice__grades", role: "group", "aria-label": T.gradeLegend },
      [1, 2, 3, 4].map((r) => {
        const when = preview ? duration(preview[r].card.due - new Date()) : null;
        return h("button", {
          type: "button", class: `md-button hb-practice__grade hb-practice__grade--${r}`, "data-rating": String(r),
          "aria-keyshortcuts": String(r), "aria-label": when ? `${T.grades[r]} (${fill(T.again, { when })})` : T.grades[r],
          onclick: () => onGrade(r),
        }, h("kbd", { text: String(r) }), " ", h("span", { text: T.grades[r] }),
        when ? h("small", { text: when }) : null);
      }));
  }
  function renderDrill() {
    if (!current || !deck().some((q) => q.id === current.id)) { current = nextQuestion(); revealed = false; }
    cardBox.replaceChildren();
    delete cardBox.dataset.question;
    if (!current) {
      const qs = deck();
      const upcoming = qs.filter((q) => state.cards[q.id]).map((q) => new Date(state.cards[q.id].due)).sort((a, b) => a - b)[0];
      cardBox.append(h("p", { class: "hb-practice__empty", text: qs.length ? T.done : T.emptyScope }));
      if (qs.length && upcoming) {
        cardBox.append(h("p", { text: fill(T.nextDue, { date: upcoming.toLocaleString(T.locale, { dateStyle: "medium", timeStyle: "short" }) }) }));
      }
      return;
    }
    const q = current;
    cardBox.dataset.question = q.id;
    const notes = h("textarea", { rows: "4", id: "hb-drill-notes", placeholder: T.placeholder, class: "hb-practice__notes" });
    notes.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); reveal(); }
    });
    cardBox.append(meta(q, state.cards[q.id] ? T.kindDue : T.kindNew),
      setMath(h("h2", { class: "hb-practice__question" }), q.title_html),
      h("label", { for: "hb-drill-notes", class: "hb-practice__label", text: T.yourAnswer }), notes);
    if (!revealed) {
      cardBox.append(h("p", {}, h("button", {
        type: "button", class: "md-button md-button--primary hb-practice__reveal", "aria-keyshortcuts": "Space",
        onclick: reveal,
      }, T.reveal, " ", h("kbd", { text: T.revealHint }))));
    } else {
      cardBox.append(answerBlock(q), h("p", { class: "hb-practice__label", text: `${T.gradeLegend} ${T.gradeHint}` }),
        gradeButtons(gradeCurrent, q));
    }
  }
  function reveal() {
    if (!current || revealed) return;
    const notes = cardBox.querySelector("textarea");
    const typed = notes ? notes.value : "";
    revealed = true;
    renderDrill();
    const box = cardBox.querySelector("textarea");
    if (box) box.value = typed;
    cardBox.querySelector(".hb-practice__answer").focus({ preventScroll: true });
  }
  function gradeCurrent(rating) {
    if (!current || !revealed) return;
    review(current.id, rating);
    current = null;
    renderAll();
    cardBox.focus({ preventScroll: true });
  }
  document.addEventListener("keydown", (e) => {
    if (tab !== "drill" || e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
    const t = e.target instanceof Element ? e.target : null;
    if (t && t.closest("input, textarea, select, [contenteditable]")) return;
    if (e.key === " " && !(t && t.closest("button, a, summary")) && current && !revealed) {
      e.preventDefault();
      reveal();
    } else if (/^[1-4]$/.test(e.key) && revealed) {
      e.preventDefault();
      gradeCurrent(Number(e.key));
    }
  });

  // ---------- progress: export, import, reset
  const fileInput = h("input", { type: "file", accept: "application/json,.json", class: "hb-practice__file", id: "hb-import-file", tabindex: "-1", "aria-hidden": "true" });
  function doExport() {
    const blob = new Blob([JSON.stringify({ ...state, exported: new Date().toISOString() }, null, 1)], { type: "application/json" });
    const a = h("a", { href: URL.createObjectURL(blob), download: `handbook-practice-${lang}-${new Date().toISOString().slice(0, 10)}.json` });
    document.body.append(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    status.textContent = fill(T.exported, { n: Object.keys(state.cards).length });
  }
  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    try {
      const data = JSON.parse(await file.text());
      if (!data || data.version !== VERSION || typeof data.cards !== "object" || !Array.isArray(data.log)) throw new Error(T.badFile);
      if (data.lang !== lang) throw new Error(T.wrongLang);
      const known = new Set(DATA.questions.map((q) => q.id));
      state = { version: VERSION, lang, cards: {}, log: data.log.filter((r) => known.has(r.id)), filters: data.filters || null };
      for (const [id, c] of Object.entries(data.cards)) {
        if (known.has(id) && c && !Number.isNaN(Date.parse(c.due))) state.cards[id] = c;
      }
      save();
      current = null;
      renderAll();
      status.textContent = fill(T.imported, { n: Object.keys(state.cards).length });
    } catch (err) {
      status.textContent = fill(T.importError, { msg: err.message });
    }
  });
  function doReset() {
    if (!window.confirm(T.resetConfirm)) return;
    localStorage.removeItem(KEY);
    state = emptyState();
    current = null;
    renderAll();
    status.textContent = T.resetDone;
  }
  tools.append(h("h2", { class: "hb-practice__tools-title", text: T.progress }),
    h("div", { class: "hb-practice__buttons" },
      h("button", { type: "button", class: "md-button", "data-action": "export", onclick: doExport, text: T.export }),
      h("button", { type: "button", class: "md-button", "data-action": "import", onclick: () => fileInput.click(), text: T.import }),
      h("button", { type: "button", class: "md-button hb-practice__danger", "data-action": "reset", onclick: doReset, text: T.reset })),
    fileInput);

  // ---------- mock interview
  let mock = null;        // {items: [{q, notes, spent, graded}], i, limit, start, deadline, timer}
  const countInput = h("input", { type: "number", min: "1", max: "50", value: "5", id: "hb-mock-count" });
  const minutesInput = h("input", { type: "number", min: "0.5", max: "30", step: "0.5", value: "3", id: "hb-mock-minutes" });
  function renderMockSetup(note) {
    stopTimer();
    mock = null;
    panelMock.replaceChildren(h("div", { class: "hb-practice__card hb-practice__setup" },
      h("p", { text: T.mockIntro }),
      h("div", { class: "hb-practice__row" },
        h("label", { for: "hb-mock-count", text: T.count }), countInput,
        h("label", { for: "hb-mock-minutes", text: T.minutes }), minutesInput),
      note ? h("p", { class: "hb-practice__empty", text: note }) : null,
      h("p", {}, h("button", { type: "button", class: "md-button md-button--primary", "data-action": "start-mock", onclick: startMock, text: T.start }))));
  }
  function startMock() {
    const pool = deck().slice();
    if (!pool.length) { renderMockSetup(T.emptyScope); return; }
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    const n = Math.max(1, Math.min(Number(countInput.value) || 5, pool.length));
    const limit = Math.max(0.5, Number(minutesInput.value) || 3) * 60000;
    mock = { items: pool.slice(0, n).map((q) => ({ q, notes: "", spent: 0, graded: 0 })), i: 0, limit };
    showMockQuestion();
  }
  function stopTimer() { if (mock && mock.timer) { clearInterval(mock.timer); mock.timer = null; } }
  function showMockQuestion() {
    stopTimer();
    const item = mock.items[mock.i], last = mock.i === mock.items.length - 1;
    mock.start = Date.now();
    mock.deadline = mock.start + mock.limit;
    const timer = h("span", { class: "hb-practice__timer", role: "timer", "aria-label": T.timeLeft, text: clock(mock.limit) });
    const notes = h("textarea", { rows: "6", id: "hb-mock-notes", placeholder: T.placeholder, class: "hb-practice__notes" });
    notes.addEventListener("keydown", (e) => {
      if ((e.ctrlKey || e.metaKey) && e.key === "Enter") { e.preventDefault(); advance(); }
    });
    const advance = (timeUp) => {
      if (!mock || mock.items[mock.i] !== item) return;
      item.notes = notes.value;
      item.spent = timeUp ? mock.limit : Math.min(mock.limit, Date.now() - mock.start);
      if (last) showSummary();
      else { mock.i += 1; showMockQuestion(); }
    };
    const stop = () => { advance(false); if (mock && !mock.done) { mock.items = mock.items.slice(0, mock.i); showSummary(); } };
    panelMock.replaceChildren(h("article", { class: "hb-practice__card", "data-question": item.q.id, "data-index": String(mock.i) },
      h("p", { class: "hb-practice__meta hb-practice__mockbar" },
        h("span", { "data-mock": "progress", text: fill(T.questionOf, { i: mock.i + 1, n: mock.items.length }) }),
        h("span", {}, T.timeLeft, " ", timer)),
      meta(item.q),
      setMath(h("h2", { class: "hb-practice__question" }), item.q.title_html),
      h("label", { for: "hb-mock-notes", class: "hb-practice__label", text: T.yourAnswer }), notes,
      h("p", { class: "hb-practice__buttons" },
        h("button", { type: "button", class: "md-button md-button--primary", "data-action": "next", onclick: () => advance(false), text: last ? T.finish : T.next }),
        last ? null : h("button", { type: "button", class: "md-button", "data-action": "stop", onclick: stop, text: T.stop }))));
    notes.focus({ preventScroll: true });
    mock.timer = setInterval(() => {
      const left = mock.deadline - Date.now();
      timer.textContent = clock(left);
      timer.classList.toggle("hb-practice__timer--low", left < 30000);
      if (left <= 0) { status.textContent = T.timeUp; advance(true); }
    }, 250);
  }
  function showSummary() {
    stopTimer();
    mock.done = true;
    const total = mock.items.reduce((s, it) => s + it.spent, 0);
    const list = h("ol", { class: "hb-practice__summary" });
    for (const item of mock.items) {
      const gradeSlot = h("div", { class: "hb-practice__gradeslot" });
      const onGrade = (r) => {
        if (item.graded) return;
        review(item.q.id, r);
        item.graded = r;
        gradeSlot.replaceChildren(h("p", { class: "hb-practice__graded", text: fill(T.graded, { grade: T.grades[r] }) }));
        if (current && current.id === item.q.id) { current = null; renderAll(); } else renderScope();
      };
      gradeSlot.append(h("p", { class: "hb-practice__label", text: T.gradeThis }), gradeButtons(onGrade, item.q));
      list.append(h("li", { "data-question": item.q.id },
        h("h3", {}, setMath(h("a", { href: fullUrl(item.q) }), item.q.title_html)),
        meta(item.q),
        h("p", { class: "hb-practice__meta", text: fill(T.used, { used: clock(item.spent), limit: clock(mock.limit) }) }),
        h("p", { class: "hb-practice__label", text: T.notes }),
        h("p", { class: "hb-practice__mynotes", text: item.notes.trim() || T.noNotes }),
        answerBlock(item.q), gradeSlot));
    }
    const heading = h("h2", { tabindex: "-1", text: T.summary });
    panelMock.replaceChildren(h("div", { class: "hb-practice__card hb-practice__result" },
      heading, h("p", { "data-mock": "stats", text: fill(T.summaryStats, { n: mock.items.length, time: clock(total) }) }),
      list,
      h("p", {}, h("button", { type: "button", class: "md-button", "data-action": "restart", onclick: () => renderMockSetup(), text: T.again2 }))));
    heading.focus();
  }

  // ---------- go
  function renderAll() { renderScope(); renderDrill(); }
  root.replaceChildren(scope, tablist, panelDrill, panelMock, status, tools);
  selectTab("drill");
  renderMockSetup();
  renderAll();
  root.dataset.ready = "true";
})();
