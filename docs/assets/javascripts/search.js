// Search tweaks that must run before Material's bundle (loaded in <head> by overrides/main.html).
// Material's worker (lunr) ranks; this file only (1) loads the index of the page's language,
// (2) turns what the reader typed into a lunr query, (3) lists each matching question as its own
// result. The index side (separator, per-language pipeline, field boosts) is set in hooks/search.py.
(() => {
  const lang = document.documentElement.lang;
  const base = new URL("../../", document.currentScript.src);        // the site root
  const SETUP = 0, QUERY = 2, RESULT = 3;                          // Material's worker message types

  // 1. Load the search index of the page's own language: hooks/search.py writes
  //    search/search_index.<lang>.json, Material requests search/search_index.json (XMLHttpRequest).
  //    Opened from file:// (the offline edition), Material loads search/search_index.js with a
  //    <script> instead; that URL is rewritten to search_index.<lang>.js the same way.
  if (/^[a-z]{2}$/.test(lang)) {
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
      const target = String(url).replace(/search\/search_index\.json(?=$|[?#])/, `search/search_index.${lang}.json`);
      return open.call(this, method, target, ...rest);
    };
    const localize = (url) => String(url).replace(/search\/search_index\.js(?=$|[?#])/, `search/search_index.${lang}.js`);
    const src = Object.getOwnPropertyDescriptor(HTMLScriptElement.prototype, "src");
    Object.defineProperty(HTMLScriptElement.prototype, "src", {
      ...src, set(value) { src.set.call(this, localize(value)); },
    });
    const setAttribute = Element.prototype.setAttribute;
    Element.prototype.setAttribute = function (name, value) {
      return setAttribute.call(this, name, this instanceof HTMLScriptElement && name === "src" ? localize(value) : value);
    };
  }

  // 2a. Chinese runs are cut into words the way jieba cut the pages at build time: jieba's
  //     maximum-probability route over the words of the index (search/vocab.<lang>.json holds each
  //     word's jieba log probability). Characters that are not indexed (stop words such as 的) drop out.
  let vocab = null, maxLen = 1;
  const latin = [];
  const useVocab = (v) => {
    if (!v) return;
    vocab = v;
    maxLen = 4;
    for (const w of Object.keys(v)) {
      if (HAN.test(w)) maxLen = Math.max(maxLen, w.length);
      else latin.push(w);                              // Latin words (FUZZY_MIN letters or more)
    }
  };
  // Loaded when the reader first goes for search (search-lazy.js), like the index; the index is not
  // handed to the worker before the vocabulary is in, so no query is cut without it.
  let vocabReady = null, vocabSettled = false;
  const loadVocab = () => vocabReady || (vocabReady = new Promise((resolve) => {
    const done = () => { vocabSettled = true; resolve(); };
    if (location.protocol === "file:") {               // no fetch from file://: load it as a script
      const script = document.createElement("script");
      script.src = new URL(`search/vocab.${lang}.js`, base).href;
      script.onload = () => { useVocab(window.__vocab); done(); };
      script.onerror = () => done();
      document.head.appendChild(script);
    } else {
      fetch(new URL(`search/vocab.${lang}.json`, base)).then((r) => (r.ok ? r.json() : null))
        .then(useVocab).catch(() => {}).finally(done);
    }
  }));
  (window.hbWhenSearch || ((run) => run()))(loadVocab);

  function cut(run) {
    if (!vocab) return [run];
    const n = run.length, route = new Array(n + 1);
    route[n] = [0, n];
    for (let i = n - 1; i >= 0; i--) {
      route[i] = [-Infinity, i + 1];
      for (let j = i + 1; j <= Math.min(n, i + maxLen); j++) {
        const word = run.slice(i, j);
        // question words (为啥, 怎么样) are words too, so that they are cut whole and then dropped
        const logp = word in vocab ? vocab[word] : STOP_ZH.has(word) ? STOP_LOGP : (j === i + 1 ? -40 : undefined);
        if (logp !== undefined && logp + route[j][0] > route[i][0]) route[i] = [logp + route[j][0], j];
      }
    }
    const words = [];
    for (let i = 0; i < n; i = route[i][1]) words.push(run.slice(i, route[i][1]));
    return joinSingles(words).filter((w) => w in vocab);
  }

  // jieba then joins runs of single characters that its dictionary route left (线 上) with its HMM, and
  // the pages were indexed with the words that made (线上). Here: within such a run, the longest pieces
  // (left to right) that are words of the index are joined.
  function joinSingles(words) {
    const out = [];
    for (let i = 0; i < words.length;) {
      if (words[i].length !== 1) { out.push(words[i++]); continue; }
      let j = i;
      while (j < words.length && words[j].length === 1) j++;
      const run = words.slice(i, j).join("");
      for (let k = 0; k < run.length;) {
        let end = k + 1;
        for (let e = run.length; e > k + 1; e--)
          if (run.slice(k, e) in vocab) { end = e; break; }
        out.push(run.slice(k, end));
        k = end;
      }
      i = j;
    }
    return out;
  }

  // 2b. English words are stemmed with lunr's Porter stemmer, the one the worker runs over the English
  //     index (hooks/search.py: pipeline trimmer, stopWordFilter, stemmer), so "connections" finds
  //     "connection". The query carries the stem itself, so Material also counts the word as matched
  //     (highlighting, "missing" terms). Porter's algorithm as in lunr 2.3.9 (MIT, Oliver Nightingale;
  //     after Martin Porter's reference JavaScript), unchanged.
  const stem = (() => {
    const step2 = { ational: "ate", tional: "tion", enci: "ence", anci: "ance", izer: "ize", bli: "ble", alli: "al",
      entli: "ent", eli: "e", ousli: "ous", ization: "ize", ation: "ate", ator: "ate", alism: "al", iveness: "ive",
      fulness: "ful", ousness: "ous", aliti: "al", iviti: "ive", biliti: "ble", logi: "log" };
    const step3 = { icate: "ic", ative: "", alize: "al", iciti: "ic", ical: "ic", ful: "", ness: "" };
    const c = "[^aeiou]", v = "[aeiouy]", C = c + "[^aeiouy]*", V = v + "[aeiou]*";
    const mgr0 = new RegExp("^(" + C + ")?" + V + C), meq1 = new RegExp("^(" + C + ")?" + V + C + "(" + V + ")?$");
    const mgr1 = new RegExp("^(" + C + ")?" + V + C + V + C), sv = new RegExp("^(" + C + ")?" + v);
    const cvc = new RegExp("^" + C + v + "[^aeiouwxy]$");
    return (w) => {
      if (w.length < 3) return w;
      const y = w[0] === "y";
      if (y) w = "Y" + w.slice(1);
      let m;
      if (/^(.+?)(ss|i)es$/.test(w)) w = w.replace(/^(.+?)(ss|i)es$/, "$1$2");
      else if (/^(.+?)([^s])s$/.test(w)) w = w.replace(/^(.+?)([^s])s$/, "$1$2");
      if ((m = /^(.+?)eed$/.exec(w))) {
        if (mgr0.test(m[1])) w = w.slice(0, -1);
      } else if ((m = /^(.+?)(ed|ing)$/.exec(w)) && sv.test(m[1])) {
        w = m[1];
        if (/(at|bl|iz)$/.test(w)) w += "e";
        else if (/([^aeiouylsz])\1$/.test(w)) w = w.slice(0, -1);
        else if (cvc.test(w)) w += "e";
      }
      if ((m = /^(.+?[^aeiou])y$/.exec(w))) w = m[1] + "i";
      if ((m = /^(.+?)(ational|tional|enci|anci|izer|bli|alli|entli|eli|ousli|ization|ation|ator|alism|iveness|fulness|ousness|aliti|iviti|biliti|logi)$/.exec(w)) && mgr0.test(m[1])) w = m[1] + step2[m[2]];
      if ((m = /^(.+?)(icate|ative|alize|iciti|ical|ful|ness)$/.exec(w)) && mgr0.test(m[1])) w = m[1] + step3[m[2]];
      if ((m = /^(.+?)(al|ance|ence|er|ic|able|ible|ant|ement|ment|ent|ou|ism|ate|iti|ous|ive|ize)$/.exec(w))) {
        if (mgr1.test(m[1])) w = m[1];
      } else if ((m = /^(.+?)(s|t)(ion)$/.exec(w)) && mgr1.test(m[1] + m[2])) w = m[1] + m[2];
      if ((m = /^(.+?)e$/.exec(w)) && (mgr1.test(m[1]) || (meq1.test(m[1]) && !cvc.test(m[1])))) w = m[1];
      if (/ll$/.test(w) && mgr1.test(w)) w = w.slice(0, -1);
      return y ? "y" + w.slice(1) : w;
    };
  })();

  // 2c. Words that only say "this is a question" (what / how / explain / 为什么 / 如何 ...) match
  //     hundreds of question titles and push the answer down: they are dropped. Words that carry some
  //     meaning but not the subject (difference / 区别, pros and cons, model / 大模型), single letters
  //     and single Chinese characters stay, with a third of the weight of the subject words.
  const STOP = new Set(("a about actually all also always an and any anything are as at basically be been being " +
    "between but by can clearly could describe did do does doing done e eg etc even exactly explain explained " +
    "during figure for from g get gets give go good he help her him his how i ie if in instead into is isn it its just kind " +
    "know let like list main mainly make makes me mean means meant more most much my need needs no not of often " +
    "on one or our out please play plays really role s should simple so some someone something still such t " +
    "tell terms than that the their them then there these they thing things think this those though through to " +
    "too typical typically understand up us use used uses using usually very vs versus was way ways we well " +
    "were what whats when where whether which while who why will with without work works would you your").split(" "));
  const WEAK = new Set(("advantage advantages benefit benefits compare compared comparison cons differ difference " +
    "differences different disadvantage disadvantages drawback drawbacks large language llm llms model models pros " +
    "trade tradeoff tradeoffs").split(" "));
  const STOP_ZH = new Set(("什么 为什么 为何 为啥 怎么 怎么样 怎样 如何 哪些 哪个 哪种 哪里 是 的 了 吗 呢 吧 啊 呀 和 与 及 以及 或 " +
    "或者 有 在 要 能 会 可以 能否 是否 一下 介绍 请 请问 一个 讲讲 说说 谈谈 聊聊 讲 说 问 简述 描述 解释 理解 具体 一般 通常 " +
    "主要 分别 这个 那个 这些 那些 这 那 我们 你 我 它 他们 时候 啥 干 干嘛 用来 怎么办 怎么回事 到底 有没有 是不是 需要 应该 " +
    "还是 还 也 就 才 很 都 又 再 之间 一些 其中 里 中 对 把 被 让 给 做 进行 如果 那么 哪 意思 含义 有用吗 多少 几个 合适 " +
    "比较好 好 跟 类 该 不要 不会 会不会 能不能 要不要 有啥 东西 一直 比如 例如").split(" "));
  const WEAK_ZH = new Set(("区别 不同 差异 对比 比较 相比 优缺点 优点 缺点 优势 劣势 优劣 好处 作用 大模型 模型 语言 方法 " +
    "问题 原理 基本").split(" "));
  const STOP_LOGP = -9;                               // about a common word's jieba log probability
  const BOOST = 3;                                     // subject word : weak word

  // Punctuation (ASCII and full-width) separates words, as the index's separator does.
  const SEP = /[\s\u200b\u3000\p{P}\p{S}]+/u;
  const HAN = /\p{Script=Han}/u;

  // 2e. Typos (tranformer): a Latin word of FUZZY_MIN letters or more that is no word of the index
  //     (vocab.<lang>.json lists those words; for English, nor has the stem of one), nor, while it is
  //     still being typed, the beginning of one, is searched for as the word of the index one edit away
  //     (``correction``: transformer), or if there is none with one edit allowed (lunr's term~1).
  const FUZZY_MIN = 6;
  let stems = null;
  function typo(w, last) {
    if (w.length < FUZZY_MIN || !/^[a-z][a-z0-9]*$/.test(w) || !latin.length || w in vocab) return false;
    if (lang === "en") {
      stems = stems || new Set(latin.map(stem));
      if (stems.has(stem(w))) return false;
    }
    return !(last && latin.some((x) => x.startsWith(w)));
  }

  // 2f. Mixed and cross-language questions: a glossary term typed in one language (专家崩塌, alignment
  //     tax) also searches, weakly, for its other-language term, which the answer may use instead. The
  //     pairs are the glossary page's index entry (hooks/search.py ``glossary_terms``: "en | zh" pairs
  //     separated by " ; "), read from the index when it is handed to the worker.
  let glossary = [];                                   // [typed form (lower case, no spaces), other term]
  // typed forms: Chinese (and mixed) terms without spaces, Latin ones as space-separated lower-case words
  const form = (t) => (HAN.test(t) ? t.toLowerCase().replace(/\s+/g, "")
    : ` ${t.toLowerCase().replace(/[\s\p{P}]+/gu, " ").trim()} `);
  function readGlossary(text) {
    glossary = [];
    for (const row of text.replace(/\u200b/g, "").split(" ; ")) {
      const [en, zh] = row.split(" | ").map((t) => (t || "").trim());
      if (!en || !zh) continue;
      const abbr = /\(([^)]+)\)\s*$/.exec(en);
      const full = en.replace(/\s*\([^)]*\)\s*$/, "");
      glossary.push([form(zh), full]);                 // typed 检索增强生成 → retrieval-augmented generation
      glossary.push([form(full), zh]);                 // typed retrieval augmented generation → 检索增强生成
      if (abbr) glossary.push([form(abbr[1]), zh]);
    }
    glossary = glossary.filter(([typed]) => typed.trim().length >= (HAN.test(typed) ? 2 : 4));
  }
  // The other-language terms of the glossary terms in ``text`` (Latin ones as whole words).
  function counterparts(text) {
    const han = text.toLowerCase().replace(/\s+/g, ""), latin = form(text.replace(/\p{Script=Han}+/gu, " "));
    // not Chinese terms into the English index: only its synonym fields have them
    return glossary.filter(([typed, other]) => (HAN.test(typed) ? han : latin).includes(typed) &&
      !(lang === "en" && HAN.test(other))).map(([, other]) => other);
  }

  // The word of the index one edit (insertion, deletion, substitution, swap of neighbours) away from
  // ``w``, the one sharing the longest beginning with it (then the first in order), or undefined.
  // Searching for that word rather than lunr's term~1 lets Material count the word as matched.
  function correction(w) {
    const oneEdit = (a, b) => {
      if (Math.abs(a.length - b.length) > 1) return false;
      let i = 0;
      while (i < a.length && a[i] === b[i]) i++;
      if (a.length === b.length)
        return a.slice(i + 1) === b.slice(i + 1) ||
          (a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2));
      return a.length > b.length ? a.slice(i + 1) === b.slice(i) : a.slice(i) === b.slice(i + 1);
    };
    let best, bestPrefix = -1;
    for (const x of latin) {
      if (x === w || !oneEdit(w, x)) continue;
      let p = 0;
      while (p < w.length && w[p] === x[p]) p++;
      if (p > bestPrefix) [best, bestPrefix] = [x, p];
    }
    return best;
  }

  // The lunr query for what was typed: each word once, with its weight. If only stop words were typed
  // ("what is it?"), they are searched for after all.
  function rewrite(typed, stop = true) {
    const text = typed.normalize("NFKC");              // full-width letters and digits → ASCII
    const open = !/[\s\p{P}]$/u.test(text);            // the last word may still be being typed
    const terms = [], seen = new Set();
    // other: words of a glossary counterpart (2f), weak, not counted for coverage, only if not typed
    const push = (base, rest, weight, other) => {
      if (other && seen.has(base)) return;
      seen.add(base);
      terms.push(`${base}${rest}^${other ? 1 : weight}`);
    };
    const add = (typedText, other) => {
      const words = typedText.split(SEP).filter(Boolean);
      words.forEach((word, n) => {
        for (const part of word.split(/(\p{Script=Han}+)/u).filter(Boolean)) {
          if (HAN.test(part)) {
            // U+3007 (a Han character that is never indexed) ends each word: Material's worker re-splits
            // every Han run by longest match but never lets a word end on the run's last character.
            // a single character next to another one that is no stop word is a piece of a word the
            // dictionary does not know (外推 → 外 推, cut so in the pages too): a subject word as well
            const cw = cut(part);
            const piece = (k) => k >= 0 && k < cw.length && cw[k].length === 1 && !STOP_ZH.has(cw[k]);
            cw.forEach((w, k) => {
              if (stop && STOP_ZH.has(w)) return;
              const weight = WEAK_ZH.has(w) || (w.length === 1 && !piece(k - 1) && !piece(k + 1)) ? 1 : BOOST;
              push(w, "\u3007", weight, other);
              if (!other) units.set(w, { weight, halves: null });
              // a long word (推理模型) also as its two halves, weakly: the pages may have been cut there
              for (let i = 2; w.length >= 4 && i <= w.length - 2; i++)
                if (w.slice(0, i) in vocab && w.slice(i) in vocab) {
                  push(w.slice(0, i), "\u3007", 1, true);
                  push(w.slice(i), "\u3007", 1, true);
                  if (!other) units.set(w, { weight, halves: [w.slice(0, i), w.slice(i)] });
                  break;
                }
            });
            continue;
          }
          let w = part.toLowerCase();
          if (stop && STOP.has(w)) continue;
          const boost = WEAK.has(w) || w.length === 1 ? 1 : BOOST;
          let last = !other && open && n === words.length - 1;
          if (!other && typo(w, last)) {               // not a word of the index
            const s = stem(w);
            // the Chinese index is not stemmed: an English word in another form (streaming) first
            // as the prefix its stem is of a word of the index (stream*)
            if (lang !== "en" && s.length >= 4 && s !== w && latin.some((x) => x.startsWith(s))) {
              push(s, "*", boost, other);
              continue;
            }
            const fixed = correction(w);
            if (!fixed) {                              // no word one edit away: lunr's fuzzy search
              push(lang === "en" && stem(s) === s ? s : w, "~1", boost, other);
              continue;
            }
            [w, last] = [fixed, false];                // searched as the word of the index
          }
          if (lang === "en") {
            const s = stem(w);
            // the worker stems the query once more (lunr's search pipeline), but not a term with a
            // wildcard: a stem that the stemmer would change again (diffusion → diffus → diffu) is sent
            // as a prefix (diffus*), which matches the index's word and which Material counts as
            // matched (sent as the word, it matched, but was never counted: coverage, 2d)
            const term = s;
            push(term, last || stem(s) !== s ? "*" : "", boost, other);
            if (!other) units.set(term, { weight: boost, halves: null });
          } else {
            // the Chinese index is not stemmed: a prefix matches plurals, but not for short words (rl, tp)
            push(w, last || w.length >= 4 ? "*" : "", boost, other);
            if (!other) units.set(w, { weight: boost, halves: null });
          }
        }
      });
    };
    add(text, false);
    // two typed words that the index writes as one (layer norm → layernorm, batch norm → batchnorm),
    // also as that word, weakly
    const latinWords = text.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w.toLowerCase());
    const joined = [];
    for (let i = 0; i + 1 < latinWords.length; i++)
      if (vocab && vocab[latinWords[i] + latinWords[i + 1]] === 0) joined.push(latinWords[i] + latinWords[i + 1]);
    add(joined.join(" "), true);
    // glossary terms as the words are searched: typos corrected (attension → attention → 注意力)
    const corrected = text.replace(/[a-z][a-z0-9]*/gi, (word, at) => {
      const w = word.toLowerCase();
      return typo(w, open && at + word.length === text.length) ? correction(w) || word : word;
    });
    add(counterparts(corrected).join(" "), true);
    return terms.join(" ");
  }

  // 2d. Coverage: lunr adds up the scores of the terms a document matches, so one frequent word in a
  //     title (训练, model) can outweigh a document that matches every subject word in its text. Each
  //     result's score is multiplied by the share of the query's words it matches, weighted as sent
  //     (subject words 3, weak words 1), to the power COVERAGE. A long Chinese word also counts as
  //     matched when both its halves are. ``units`` maps each query word as the worker reports it
  //     (the ``terms`` of a result) to its weight; it depends only on the word, so it is kept across queries.
  const units = new Map();
  const COVERAGE = 0.5;
  function coverage(terms) {
    let all = 0, hit = 0;
    for (const [term, matched] of Object.entries(terms || {})) {
      const unit = units.get(term);
      if (!unit) continue;                             // a half of a long word: counted with the word
      all += unit.weight;
      if (matched || (unit.halves && unit.halves.every((h) => terms[h]))) hit += unit.weight;
    }
    return all ? hit / all : 1;
  }

  // 3. Each question is its own result item, best first: its title, then the name of its page (Material
  //    groups the sections of a page under the page and folds all but the best under "N more").
  const pages = new Map();                             // page location → title
  function regroup(items) {
    const out = [];
    for (const group of items)
      for (let doc of group) {
        if (!doc.score) continue;                      // a page Material added only as the group's head
        doc = { ...doc, score: doc.score * coverage(doc.terms) ** COVERAGE };
        const page = doc.location.split("#")[0];
        if (doc.location.includes("#") && pages.has(page))
          out.push({ ...doc, title: `${doc.title}<span class="hb-search-page">${pages.get(page)}</span>` });
        else
          out.push(doc);
      }
    // One document per item: Material shows a lone document as the item's head, linking to it.
    return out.sort((a, b) => b.score - a.score).map((doc) => [doc]);
  }

  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (message && message.type === SETUP && !vocabSettled) {   // wait for the vocabulary (see 2a)
      loadVocab().then(() => this.postMessage(message, ...rest));
      return undefined;
    }
    if (message && message.type === SETUP && message.data && message.data.docs)
      for (const doc of message.data.docs) {
        if (!doc.location.includes("#")) pages.set(doc.location, doc.title);
        if (/^([a-z]{2}\/)?glossary\/$/.test(doc.location)) readGlossary(doc.text || "");
      }
    if (message && message.type === QUERY && typeof message.data === "string")
      message = { ...message, data: rewrite(message.data) || rewrite(message.data, false) || message.data };
    return post.call(this, message, ...rest);
  };
  const listen = Worker.prototype.addEventListener;
  Worker.prototype.addEventListener = function (type, listener, ...rest) {
    if (type !== "message" || typeof listener !== "function") return listen.call(this, type, listener, ...rest);
    return listen.call(this, type, function (ev) {
      if (ev.data && ev.data.type === RESULT && ev.data.data && Array.isArray(ev.data.data.items))
        ev = new MessageEvent("message", { data: { ...ev.data, data: { ...ev.data.data, items: regroup(ev.data.data.items) } } });
      return listener.call(this, ev);
    }, ...rest);
  };
})();
