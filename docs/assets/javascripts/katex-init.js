// Typeset the formulas that pymdownx.arithmatex (generic mode) leaves as \( … \) and \[ … \],
// with KaTeX served from this site (assets/vendor/katex). Runs on every page Material loads.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
  });
});
