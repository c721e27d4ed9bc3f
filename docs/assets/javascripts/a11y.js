// Wide tables scroll sideways inside Material's wrapper (div.md-typeset__scrollwrap, added by its bundle).
// A scrolling region must be reachable with the keyboard (axe scrollable-region-focusable): a wrapper
// whose table is wider than it becomes a focusable, named region (arrow keys then scroll it). Checked
// again whenever the wrapper or its table changes size (a phone turned sideways, a font arriving), since
// only overflowing ones need a stop.
// The sizes are read in a ResizeObserver callback, which the browser calls right after it has laid the
// page out: reading them straight after Material has set the page up made the browser style and lay out
// the whole page once more, in a task of its own (issue 19: ~60 ms of a phone's main thread).
(() => {
  const label = document.documentElement.lang.startsWith("zh") ? "表格（可横向滚动）" : "Table (scrolls sideways)";
  const update = (wrap) => {
    if (wrap.scrollWidth > wrap.clientWidth + 1) {
      if (wrap.getAttribute("role") === "region") return;
      wrap.setAttribute("tabindex", "0");
      wrap.setAttribute("role", "region");
      wrap.setAttribute("aria-label", label);
    } else if (wrap.getAttribute("role") === "region") {
      wrap.removeAttribute("tabindex");
      wrap.removeAttribute("role");
      wrap.removeAttribute("aria-label");
    }
  };
  const wraps = () => document.querySelectorAll(".md-typeset__scrollwrap");
  if (typeof ResizeObserver !== "function") {        // very old browsers: measure now and on resize
    const all = () => wraps().forEach(update);
    let timer;
    addEventListener("resize", () => { clearTimeout(timer); timer = setTimeout(all, 150); });
    if (typeof document$ !== "undefined") document$.subscribe(() => setTimeout(all, 0));
    else addEventListener("load", all);
    return;
  }
  const observer = new ResizeObserver((entries) => {
    const seen = new Set();
    for (const entry of entries) {
      const wrap = entry.target.closest(".md-typeset__scrollwrap");
      if (wrap && !seen.has(wrap)) { seen.add(wrap); update(wrap); }
    }
  });
  const watch = () => {
    observer.disconnect();                            // a new page (Material's instant navigation)
    for (const wrap of wraps()) {
      observer.observe(wrap);                         // its width: the window's
      if (wrap.firstElementChild) observer.observe(wrap.firstElementChild);   // the table's
    }
  };
  // Material wraps the tables when it sets the page up (document$), so look for them just after
  if (typeof document$ !== "undefined") document$.subscribe(() => setTimeout(watch, 0));
  else addEventListener("load", watch);
})();
