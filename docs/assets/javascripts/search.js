// Search tweaks that must run before Material's bundle (loaded in <head> by overrides/main.html).
(() => {
  const lang = document.documentElement.lang;
  const base = new URL("../../", document.currentScript.src);        // the site root

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

  // 2. Chinese queries are cut into words the way jieba cut the pages at build time: jieba's
  //    maximum-probability route over the words of the index (search/vocab.<lang>.json holds each
  //    word's jieba log probability). Characters that are not indexed (stop words such as 的) drop
  //    out. Each word is then ended with U+3007, a Han character that is never indexed: Material's
  //    worker re-splits every Han run by longest match but never lets a word end on the run's last
  //    character, so without it "思路" alone would not match "思路".
  let vocab = null, maxLen = 1;
  const useVocab = (v) => {
    if (!v) return;
    vocab = v;
    maxLen = Math.max(1, ...Object.keys(v).map((w) => w.length));
  };
  if (location.protocol === "file:") {                 // no fetch from file://: load it as a script
    const script = document.createElement("script");
    script.src = new URL(`search/vocab.${lang}.js`, base).href;
    script.onload = () => useVocab(window.__vocab);
    document.head.appendChild(script);
  } else {
    fetch(new URL(`search/vocab.${lang}.json`, base)).then((r) => (r.ok ? r.json() : null)).then(useVocab).catch(() => {});
  }

  function cut(run) {
    if (!vocab) return [run];
    const n = run.length, route = new Array(n + 1);
    route[n] = [0, n];
    for (let i = n - 1; i >= 0; i--) {
      route[i] = [-Infinity, i + 1];
      for (let j = i + 1; j <= Math.min(n, i + maxLen); j++) {
        const word = run.slice(i, j);
        const logp = word in vocab ? vocab[word] : (j === i + 1 ? -40 : undefined);
        if (logp !== undefined && logp + route[j][0] > route[i][0]) route[i] = [logp + route[j][0], j];
      }
    }
    const words = [];
    for (let i = 0; i < n; i = route[i][1]) words.push(run.slice(i, route[i][1]));
    return words.filter((w) => w in vocab && !STOP_ZH.has(w));
  }

  // 3. Words that say nothing about the topic ("why", "how", "为什么", "怎么") match hundreds of
  //    question titles and push the answer down; they are dropped from the query, as are single
  //    Latin letters.
  const STOP = new Set(("a an and are as at be by can do does for from how i in is it its of on or " +
    "should the this that to vs was what when where which who why with you your").split(" "));
  const STOP_ZH = new Set(["什么", "为什么", "怎么", "怎么样", "怎样", "如何", "哪些", "哪个", "是", "的", "了", "吗",
    "呢", "吧", "和", "与", "及", "有", "在", "要", "能", "会", "一下", "介绍", "请", "请问", "可以", "一个"]);
  const keepWord = (w) => !STOP.has(w.toLowerCase()) && !/^[A-Za-z]$/.test(w);

  const HAN_RUN = /\p{Script=Han}+/gu;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (message && message.type === 2 && typeof message.data === "string") {
      const latin = message.data.split(/\s+/).map((w) => (/\p{Script=Han}/u.test(w) || keepWord(w) ? w : "")).join(" ");
      const data = latin.replace(HAN_RUN, (run) => " " + cut(run).map((w) => w + "\u3007").join(" ") + " ");
      const query = [...new Set(data.split(/\s+/).filter(Boolean))].join(" ");   // each word once
      message = { ...message, data: query || message.data };
    }
    return post.call(this, message, ...rest);
  };
})();
