// Filters of the question index page (hooks/questions.py writes the table and its <select>s).
// Rows carry data-chapter, data-difficulty and data-tags ("a|b|c"); filters can be preset from the
// URL, e.g. questions/?chapter=norms&difficulty=2&tag=RMSNorm. No server involved.
document$.subscribe(() => {
  const root = document.querySelector(".hb-qindex");
  if (!root) return;
  const selects = [...root.querySelectorAll("select[data-filter]")];
  const rows = [...root.querySelectorAll("tbody tr")];
  const count = root.querySelector(".hb-qindex__count");
  const params = new URLSearchParams(location.search);
  for (const s of selects) {
    const wanted = params.get(s.dataset.filter);
    if (wanted && [...s.options].some((o) => o.value === wanted)) s.value = wanted;
  }
  const apply = () => {
    const f = Object.fromEntries(selects.map((s) => [s.dataset.filter, s.value]));
    let shown = 0;
    for (const row of rows) {
      const ok = (!f.chapter || row.dataset.chapter === f.chapter)
        && (!f.difficulty || row.dataset.difficulty === f.difficulty)
        && (!f.tag || row.dataset.tags.split("|").includes(f.tag));
      row.hidden = !ok;
      shown += ok;
    }
    count.textContent = count.dataset.template.replace("{shown}", shown).replace("{total}", rows.length);
  };
  selects.forEach((s) => s.addEventListener("change", apply));
  apply();
});
