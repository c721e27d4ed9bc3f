// Wide tables scroll sideways inside Material's wrapper (div.md-typeset__scrollwrap, added by its bundle).
// A scrolling region must be reachable with the keyboard (axe scrollable-region-focusable): a wrapper
// whose table is wider than it becomes a focusable, named region (arrow keys then scroll it). Checked
// again when the window is resized (a phone turned sideways), since only overflowing ones need a stop.
(() => {
  const label = document.documentElement.lang.startsWith("zh") ? "表格（可横向滚动）" : "Table (scrolls sideways)";
  const update = () => {
    for (const wrap of document.querySelectorAll(".md-typeset__scrollwrap")) {
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", label);
      } else if (wrap.getAttribute("role") === "region") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    }
  };
  let timer;
  const later = () => { clearTimeout(timer); timer = setTimeout(update, 150); };
  if (typeof document$ !== "undefined") document$.subscribe(() => setTimeout(update, 0));
  else addEventListener("load", update);
  addEventListener("resize", later);
})();
