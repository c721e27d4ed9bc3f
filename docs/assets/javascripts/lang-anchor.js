// Keep the reader on the same question when switching language: question ids are identical
// in zh and en, so carry the current #anchor over to the other language's page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[hreflang]");
  if (!link || !location.hash) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || url.hash) return;
  url.hash = location.hash;
  link.href = url.href;
});
