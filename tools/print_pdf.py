"""Print the handbook as one PDF per language: ``handbook-zh.pdf`` and ``handbook-en.pdf``.

    python tools/print_pdf.py            # both languages (``make pdf``)
    python tools/print_pdf.py en         # one language

For each language it builds ``editions/pdf.<lang>.yml`` (the site's config with that language only and the
mkdocs-print-site plugin, which joins every chapter into ``print_page/``), checks that every chapter is
on the print page, serves the build on 127.0.0.1 and prints it with headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright) once KaTeX and mermaid have rendered and every collapsible
block is open. Chromium, rather than a WeasyPrint-based plugin, because it runs the same JavaScript as
the site (KaTeX, mermaid), embeds the CJK fonts it used, keeps links inside the document, and writes a
PDF outline (bookmarks) from the headings. Nothing is fetched from the network.

Printing is untagged (``page.pdf(tagged=False)``) and the outline is written here, with pikepdf: Chromium
writes its own outline only into a tagged PDF, whose structure tree (~190,000 objects for the English
handbook) made the PDFs over 40 MB and the print slower. Every h1/h2 gets a named destination (a marker
that a hidden link points at), and the outline (chapter > page > question) goes to those destinations.
The file is written with object streams (qpdf). The print stylesheet leaves out Material's CSS-mask
icons, which Chromium prints as soft-masked transparency groups (~14,000 PDF objects, ~5 MB, and about
half the print time of a chapter). Links to an id the document lacks (pymdownx's ~8,000 code-line
anchors, whose href print-site prefixes) or to themselves (permalinks) lose their ``href`` first: they
lead nowhere on paper. What an untagged PDF lacks is the structure tree (reading order and roles for
screen readers, reflow); links, the outline, text extraction and search are as before.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hooks"))
import handbook  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")    # Debian's; CI on GitHub points it at Chrome

# Run in the print page before printing. (1) Links to an id that is not in the document (the ~8,000
# code-line anchors: print-site prefixes their href with the page's id, not their id) or to an element
# holding them (permalinks) lose their href: they lead nowhere on paper, and Chromium looks every link
# target up as it paints. (2) The outline: every h1/h2 gets an empty marker
# <span id="hb-bm-N"> as its first child and a hidden <nav> links to each marker; Chromium writes a named
# destination for every element that a link of the document points at, painted or not. Returns
# {dropped, bookmarks: [[level, marker id, title], …]}: a chapter (the section whose id is a chapter
# slug) at level 1, its pages at 2, their h2 (the questions) at 3; headings outside the chapters (cover,
# contents) at 1, their h2 at 2. Titles as printed, without KaTeX's MathML copy and the permalink "¶".
PREPARE_JS = """(slugs) => {
  let dropped = 0;
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    let id;
    try { id = decodeURIComponent(a.getAttribute('href').slice(1)); } catch (e) { continue; }
    let useless = !id || !(document.getElementById(id) || document.getElementsByName(id).length);
    for (let e = a; e && !useless; e = e.parentElement) useless = e.id === id;
    if (useless) { a.removeAttribute('href'); dropped++; }
  }
  const chapters = new Set(slugs), bookmarks = [], nav = document.createElement('nav');
  nav.hidden = true;
  let chapter = null;
  document.querySelectorAll('h1, h2').forEach((h, i) => {
    const section = h.closest('section.print-page'), sid = section ? section.id : '';
    if (chapters.has(sid)) chapter = sid;
    else if (!(chapter && sid.startsWith(chapter + '-'))) chapter = null;
    const level = (chapters.has(sid) || !chapter ? 1 : 2) + (h.tagName === 'H2' ? 1 : 0);
    const copy = h.cloneNode(true);
    copy.querySelectorAll('.headerlink, .katex-mathml').forEach(e => e.remove());
    const title = copy.textContent.replace(/\\s+/g, ' ').trim();
    if (!title) return;
    const mark = document.createElement('span');
    mark.id = 'hb-bm-' + i;
    h.prepend(mark);
    const a = document.createElement('a');
    a.href = '#' + mark.id;
    nav.append(a);
    bookmarks.push([level, mark.id, title]);
  });
  document.body.append(nav);
  return {dropped, bookmarks};
}"""


class PrintError(SystemExit):
    pass


def build(lang: str) -> Path:
    site = ROOT / "build" / "pdf" / lang
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PRINT_DATE": os.environ.get("PRINT_DATE")
           or time.strftime("%Y-%m-%d")}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", f"editions/pdf.{lang}.yml"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PrintError(f"print build for {lang} failed:\n{proc.stdout}{proc.stderr}")
    return site


def check_chapters(site: Path, lang: str) -> None:
    """Fail loudly if a chapter that exists in ``docs/`` is not on the print page."""
    html = (site / "print_page" / "index.html").read_text(encoding="utf-8")
    missing = [row["slug"] for row in handbook.chapters(ROOT)
               if (ROOT / "docs" / row["slug"] / f"index.{lang}.md").exists()
               and f'<section class="print-page" id="{row["slug"]}"' not in html]
    if missing:
        raise PrintError(f"{lang}: chapters missing from the print page: {', '.join(missing)}")


def serve(site: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def print_pdf(url: str, out: Path, log=print) -> None:
    from playwright.sync_api import sync_playwright

    raw = out.with_name(out.stem + ".chromium.pdf")
    slugs = [row["slug"] for row in handbook.chapters(ROOT)]
    start = time.perf_counter()
    with sync_playwright() as p:
        # Fallback fonts (text whose CSS names no installed face, e.g. mermaid's labels) from
        # tools/print-fonts.conf: TrueType only, so nothing becomes a Type 3 font in the PDF.
        env = {**os.environ, "FONTCONFIG_FILE": str(ROOT / "tools" / "print-fonts.conf")}
        browser = p.chromium.launch(executable_path=CHROMIUM, env=env,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
        page.goto(url + "print_page/", wait_until="networkidle", timeout=3_600_000)
        # Every diagram drawn (Material replaces pre.mermaid by a rendered div) and every formula typeset
        # (both are done at build time now: hooks/diagrams.py, hooks/formulas.py).
        page.wait_for_function("document.querySelectorAll('pre.mermaid').length === 0", timeout=3_600_000)
        page.wait_for_function("[...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))",
                               timeout=3_600_000)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        prepared = page.evaluate(PREPARE_JS, slugs)
        page.emulate_media(media="print")
        loaded = time.perf_counter()
        # Page size, margins and page numbers come from the @page rule in assets/stylesheets/extra.css.
        page.pdf(path=str(raw), print_background=True, tagged=False, outline=False, prefer_css_page_size=True)
        browser.close()
    printed = time.perf_counter()
    if outside:
        raise PrintError(f"the print page requested other hosts: {sorted(set(outside))[:5]}")
    finish(raw, out, prepared["bookmarks"])
    raw.unlink()
    log(f"{out.name}: page loaded in {loaded - start:.1f} s, printed in {printed - loaded:.1f} s, "
        f"outline and object streams in {time.perf_counter() - printed:.1f} s "
        f"({prepared['dropped']} dead or self links dropped, {len(prepared['bookmarks'])} bookmarks)")


def finish(raw: Path, out: Path, bookmarks: list[list]) -> None:
    """Write ``raw`` (Chromium's untagged PDF) to ``out`` with the outline ``bookmarks`` ([level, named
    destination, title], in document order) and with object streams."""
    import pikepdf

    with pikepdf.open(raw) as pdf:
        dests = pdf.Root.get("/Dests")
        names = pikepdf.NameTree(pdf.Root.Names.Dests) if "/Names" in pdf.Root and "/Dests" in pdf.Root.Names else {}

        def destination(name: str):
            found = dests.get("/" + name) if dests is not None else None
            if found is None and name in names:
                found = names[name]
            if isinstance(found, pikepdf.Dictionary):
                found = found.get("/D")
            if found is None:
                raise PrintError(f"{out.name}: no named destination {name!r} in the printed PDF")
            return found

        with pdf.open_outline() as outline:
            outline.root.clear()
            stack: list[tuple[int, pikepdf.OutlineItem]] = []
            for level, name, title in bookmarks:
                item = pikepdf.OutlineItem(title, destination=pikepdf.Array(list(destination(name))))
                while stack and stack[-1][0] >= level:
                    stack.pop()
                (stack[-1][1].children if stack else outline.root).append(item)
                stack.append((level, item))
        pdf.Root.PageMode = pikepdf.Name.UseOutlines
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate, compress_streams=True)


def main(langs: list[str]) -> None:
    for lang in langs:
        start = time.perf_counter()
        site = build(lang)
        built = time.perf_counter()
        print(f"handbook-{lang}: print edition built in {built - start:.1f} s", flush=True)
        check_chapters(site, lang)
        httpd, url = serve(site)
        out = ROOT / f"handbook-{lang}.pdf"
        try:
            print_pdf(url, out, log=functools.partial(print, flush=True))
        finally:
            httpd.shutdown()
        print(f"{out.name}: {out.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(handbook.LANGS))
