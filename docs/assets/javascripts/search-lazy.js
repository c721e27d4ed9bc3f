// Fetch the search index when the reader first goes for search, not on every page load.
// Material's bundle requests search/search_index.json (1 MB gzip, then built into a lunr index in a
// worker) as soon as a page opens; most readers never search. This script (loaded in <head> before the
// bundle, see overrides/main.html) holds that one request back until the search box gets focus (click,
// tap, or Material's shortcuts f, s, /), the pointer moves over it (a head start), or the URL carries a
// query (?q=). Material shows "Initializing search" meanwhile and runs the query once the index is in.
// The query vocabulary of search.js waits for the same moment. From file:// (the offline edition) the
// index is a local script and is loaded as before.
(() => {
  const INDEX = /search\/search_index(\.[a-z]{2})?\.json(?=$|[?#])/;
  const held = [], waiting = [];
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    held.splice(0).forEach((send) => send());
    waiting.splice(0).forEach((run) => run());
  };
  // search.js loads its query vocabulary through this, at the same moment as the index
  window.hbWhenSearch = (run) => (released ? run() : waiting.push(run));
  const open = XMLHttpRequest.prototype.open;
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    this.hbSearchIndex = INDEX.test(String(url));
    return open.call(this, method, url, ...rest);
  };
  XMLHttpRequest.prototype.send = function (...args) {
    if (this.hbSearchIndex && !released) {
      held.push(() => send.apply(this, args));
      return undefined;
    }
    return send.apply(this, args);
  };
  window.hbLoadSearch = release;                     // for tests
  const isSearch = (target) => target instanceof Element && target.closest(".md-search, label[for='__search']");
  document.addEventListener("focusin", (e) => { if (isSearch(e.target)) release(); }, true);
  document.addEventListener("pointerover", (e) => { if (isSearch(e.target)) release(); }, true);
  document.addEventListener("keydown", (e) => {
    if (!e.ctrlKey && !e.metaKey && !e.altKey && ["f", "s", "/"].includes(e.key)) release();
  }, true);
  if (new URLSearchParams(location.search).has("q")) release();
})();
