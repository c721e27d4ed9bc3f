// Keep the reader on the same question when switching language. Question ids are identical in zh
// and en, and the selector's links (set by mkdocs-static-i18n) already point at the same page in the
// other language, so follow the link with the current #anchor added. This runs in the capture phase
// and stops the event: Material's own selector handler would otherwise drop the anchor (it rebuilds
// the target from sitemap.xml and falls back to the bare link).
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element && event.target.closest("a[hreflang]");
  if (!link || !location.hash || event.metaKey || event.ctrlKey) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.hash) return;
  url.hash = location.hash;
  event.preventDefault();
  event.stopPropagation();
  location.href = url.href;
}, true);
