// Search tweaks that must run before Material's bundle (loaded in <head> by overrides/main.html).
(() => {
  const lang = document.documentElement.lang;
  const base = new URL("../../", document.currentScript.src);        // the site root

  // 1. Load the search index of the page's own language: hooks/search.py writes
  //    search/search_index.<lang>.json, Material requests search/search_index.json (XMLHttpRequest).
  if (/^[a-z]{2}$/.test(lang)) {
    const open = XMLHttpRequest.prototype.open;
    XMLHttpRequest.prototype.open = function (method, url, ...rest) {
      const target = String(url).replace(/search\/search_index\.json(?=$|[?#])/, `search/search_index.${lang}.json`);
      return open.call(this, method, target, ...rest);
    };
  }

  // 2. Chinese queries are cut into words the way jieba cut the pages at build time: jieba's
  //    maximum-probability route over the words of the index (search/vocab.<lang>.json holds each
  //    word's jieba log probability). Characters that are not indexed (stop words such as 的) drop
  //    out. Each word is then ended with U+3007, a Han character that is never indexed: Material's
  //    worker re-splits every Han run by longest match but never lets a word end on the run's last
  //    character, so without it "思路" alone would not match "思路".
  let vocab = null, maxLen = 1;
  fetch(new URL(`search/vocab.${lang}.json`, base)).then((r) => (r.ok ? r.json() : null)).then((v) => {
    if (!v) return;
    vocab = v;
    maxLen = Math.max(1, ...Object.keys(v).map((w) => w.length));
  }).catch(() => {});

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
    return words.filter((w) => w in vocab);
  }

  const HAN_RUN = /\p{Script=Han}+/gu;
  const post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message, ...rest) {
    if (message && message.type === 2 && typeof message.data === "string") {
      const data = message.data.replace(HAN_RUN, (run) => " " + cut(run).map((w) => w + "\u3007").join(" ") + " ");
      message = { ...message, data: data.replace(/\s+/g, " ").trim() };
    }
    return post.call(this, message, ...rest);
  };
})();
