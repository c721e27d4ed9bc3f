"""Print the handbook as one PDF per language: ``handbook-zh.pdf`` and ``handbook-en.pdf``.

    python tools/print_pdf.py            # both languages side by side (``make pdf``)
    python tools/print_pdf.py en         # one language

For each language it builds ``editions/pdf.<lang>.yml`` (the site's config with that language only and the
mkdocs-print-site plugin, which joins every chapter into ``print_page/``), checks that every chapter is
on the print page, serves the build on 127.0.0.1 and opens it in headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright). Once mermaid and KaTeX have rendered (waited for only if the
page still has unrendered diagrams or formulas) and every collapsible block is open, it prints the book
one chunk at a time and joins the chunks with pypdf (:func:`join`). Chromium, rather than a WeasyPrint-
based plugin, because it runs the same JavaScript as the site, embeds the fonts it used as TrueType
subsets, and keeps links inside the document. Nothing is fetched from the network.

Why chunks (issues 16 and 19). Printed in one piece with an outline, the book took minutes of CPU and
came out at 44 MB: Chromium writes its outline from a tagged PDF, and the tag tree (about 140,000
structure elements, most of them one per highlighted code token or KaTeX box) made most of the file, and
``page.pdf()`` grows faster than linearly with the document. So each chunk (the cover and contents, then
one chapter, with everything after the last chapter in the last chunk) is printed untagged from the
same rendered page, with the other chunks taken out of the document meanwhile (hiding them is not enough:
Chromium's print time follows the whole DOM), and :func:`join` puts back what the one-piece print had:

* links: Chromium writes an internal link as a named destination (``/Dest /id``), and writes a
  destination for every element some link on the page points to; a link into a chunk taken out points
  at a hidden stand-in with the target's id; each chunk's destinations go into one ``/Dests``
  dictionary of the joined file, so a link into another chapter lands on the right page;
* the outline (bookmarks): chapter > page > question, each pointing at its heading's destination
  (every heading listed is made a link target by a hidden ``nav``, so Chromium writes its destination);
* page numbers: the chunks print without margin boxes; the @page footer of the stylesheet (``n / N``) is
  printed once for the whole book, on N empty pages, and laid over the chunk pages as a form XObject.

Identical objects are then stored once (``compress_identical_objects``).
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hooks"))
import handbook  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")    # Debian's; CI on GitHub points it at Chrome
MARGIN_BOXES = ("top-left-corner", "top-left", "top-center", "top-right", "top-right-corner", "right-top",
                "right-middle", "right-bottom", "bottom-right-corner", "bottom-right", "bottom-center",
                "bottom-left", "bottom-left-corner", "left-bottom", "left-middle", "left-top")


class PrintError(SystemExit):
    pass


@dataclass
class Entry:
    """One outline item: ``level`` 0 (chapter, or a page outside the chapters), 1 (page), 2 (question)."""
    level: int
    title: str
    dest: str


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


# Runs on the rendered print page. Numbers the chunks (data-hb-chunk on the children of #print-site-page:
# a new chunk at each chapter, i.e. each `section.md-section`), lists the outline entries of each chunk,
# gives every listed heading's target an id, and links them all from a hidden nav so that Chromium writes
# a named destination for each (it writes one per element that some link on the page points to).
CHUNK_JS = r"""() => {
  const root = document.getElementById('print-site-page');
  if (!root) return null;
  const title = (h) => {
    if (!h) return '';
    const c = h.cloneNode(true);
    c.querySelectorAll('.headerlink, .katex-mathml, .md-tags').forEach(e => e.remove());
    return c.textContent.replace(/\s+/g, ' ').trim();
  };
  let n = 0;
  const dest = (el) => { if (!el.id) el.id = 'hb-dest-' + (++n); return el.id; };
  const heading = (el) => el.querySelector(':scope > h1, :scope > * > h1');
  const chunks = [];
  const page = (sec, level, out) => {
    const h1 = heading(sec);
    if (!h1) return;
    out.push({level, title: title(h1), dest: dest(sec)});
    sec.querySelectorAll('h2').forEach(h => out.push({level: level + 1, title: title(h), dest: dest(h)}));
  };
  for (const el of root.children) {
    if (!chunks.length || el.classList.contains('md-section')) chunks.push([]);
    const out = chunks[chunks.length - 1];
    el.dataset.hbChunk = chunks.length - 1;
    if (el.classList.contains('md-section')) {
      out.push({level: 0, title: title(el.querySelector(':scope > h1')), dest: dest(el)});
      el.querySelectorAll(':scope > section.print-page').forEach(s => page(s, 1, out));
    } else if (el.matches('section.print-page') && !el.querySelector('#print-page-toc')) {
      page(el, 0, out);
    }
  }
  const nav = document.createElement('nav');
  nav.id = 'hb-outline-links';
  nav.hidden = true;
  for (const e of chunks.flat()) {
    const a = document.createElement('a');
    a.href = '#' + e.dest;
    nav.append(a);
  }
  document.body.append(nav);
  return chunks;
}"""


def render(page, url: str) -> list[list[Entry]]:
    """Open the print page, wait for what the browser still has to draw, return the chunks' outlines."""
    page.goto(url + "print_page/", wait_until="networkidle", timeout=3_600_000)
    # Diagrams and formulas drawn in the browser: Material replaces each pre.mermaid by a rendered div,
    # auto-render puts a .katex into each .arithmatex. Pages rendered at build time have neither left.
    page.wait_for_function("document.querySelectorAll('pre.mermaid').length === 0", timeout=3_600_000)
    page.wait_for_function("[...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))",
                           timeout=3_600_000)
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.emulate_media(media="print")
    chunks = page.evaluate(CHUNK_JS)
    if not chunks:
        raise PrintError(f"{url}print_page/ has no #print-site-page")
    return [[Entry(**e) for e in chunk] for chunk in chunks]


# Leaves only chunk ``i`` (or the element marked "folios") in #print-site-page; the other chunks are kept
# aside in JavaScript, not hidden, because Chromium's print cost follows the whole DOM, hidden or not.
# Every link target outside the kept chunk gets a hidden stand-in with its id, so a link into another
# chunk is still written as a link to a named destination (Chromium drops a link whose target it cannot
# find) while the destination itself is written by the chunk that holds the target.
KEEP_JS = r"""(i) => {
  const root = document.getElementById('print-site-page');
  window.hbChunks = window.hbChunks || [...root.children];
  if (!window.hbTargets) {
    const hrefs = [...document.querySelectorAll('a[href^="#"]')].map(a => decodeURIComponent(a.getAttribute('href').slice(1)));
    window.hbTargets = [...new Set(hrefs)].filter(id => id && document.getElementById(id));
  }
  const kept = window.hbChunks.filter(e => e.dataset.hbChunk === String(i));
  root.replaceChildren(...kept);
  let stubs = document.getElementById('hb-stubs');
  if (!stubs) { stubs = document.createElement('div'); stubs.id = 'hb-stubs'; stubs.hidden = true; document.body.append(stubs); }
  const here = new Set(kept.flatMap(e => [e.id, ...[...e.querySelectorAll('[id]')].map(x => x.id)]));
  stubs.replaceChildren(...window.hbTargets.filter(id => !here.has(id)).map(id => {
    const s = document.createElement('span'); s.id = id; return s; }));
}"""


def print_chunks(page, folder: Path, count: int) -> list[Path]:
    """Print chunk 0..count-1 untagged, each on its own, without margin boxes (see :func:`print_folios`)."""
    no_boxes = "".join(f"@{box} {{ content: none; }}" for box in MARGIN_BOXES)
    style = page.add_style_tag(content=f"@page {{ {no_boxes} }}")
    paths = []
    for i in range(count):
        page.evaluate(KEEP_JS, i)
        paths.append(folder / f"chunk-{i:03d}.pdf")
        page.pdf(path=str(paths[-1]), print_background=True, outline=False, tagged=False, prefer_css_page_size=True)
    style.evaluate("s => s.remove()")
    return paths


def print_folios(page, path: Path, pages: int) -> None:
    """Print ``pages`` empty pages that carry only the stylesheet's @page margin boxes (``n / N``)."""
    page.evaluate("""(n) => {
        const folios = document.createElement('div');
        folios.dataset.hbChunk = 'folios';
        folios.innerHTML = '<div style="break-after: page; height: 1px"></div>'.repeat(n - 1) + '<div></div>';
        window.hbChunks.push(folios);
    }""", pages)
    page.evaluate(KEEP_JS, "folios")
    page.pdf(path=str(path), print_background=False, outline=False, tagged=False, prefer_css_page_size=True)


def join(chunk_paths: list[Path], folios: Path, outline: list[Entry], out: Path) -> None:
    """Join the chunk PDFs into ``out``: one ``/Dests`` for every chunk's named destinations, the outline
    from ``outline`` (each entry at its ``dest``), the folio pages laid over the pages; identical objects
    stored once. A duplicated or missing destination, a link to nowhere or a folio count that does not
    match is an error naming the destination or the chunk file."""
    from pypdf import PdfReader, PdfWriter
    from pypdf.generic import (ArrayObject, DecodedStreamObject, DictionaryObject, Fit, NameObject)

    writer = PdfWriter()
    dests: dict[str, ArrayObject] = {}
    origin: dict[str, Path] = {}
    links: list[tuple[str, Path, int]] = []
    for path in chunk_paths:
        reader = PdfReader(path)
        if path == chunk_paths[0] and reader.metadata:
            writer.add_metadata(reader.metadata)             # title, creator and date Chromium wrote
        moved = {}
        for number, page in enumerate(reader.pages):
            new = writer.add_page(page)
            moved[page.indirect_reference.idnum] = new.indirect_reference
            for annot in new.get("/Annots", []) or []:
                dest = annot.get_object().get("/Dest")
                if isinstance(dest, str):
                    links.append((dest[1:], path, number + 1))
        for name, target in (reader.trailer["/Root"].get("/Dests") or {}).items():
            name = name[1:]                                  # a PDF name: "/id"
            if name in dests:
                raise PrintError(f"destination {name} is in both {origin[name].name} and {path.name}")
            target = target.get_object()
            dests[name], origin[name] = ArrayObject([moved[target[0].idnum], *target[1:]]), path
    dangling = [f"{name} (linked from {path.name}, page {number})" for name, path, number in links
                if name not in dests]
    if dangling:
        raise PrintError(f"{len(dangling)} links point to no destination: {', '.join(dangling[:5])}")
    writer._root_object[NameObject("/Dests")] = writer._add_object(
        DictionaryObject({NameObject("/" + k): v for k, v in sorted(dests.items())}))

    index = {page.indirect_reference.idnum: i for i, page in enumerate(writer.pages)}
    parents: list = [None, None, None]
    for entry in outline:
        if entry.dest not in dests:
            raise PrintError(f"outline entry {entry.title!r}: no destination #{entry.dest} in the printed chunks")
        target = dests[entry.dest]
        parent = next((p for p in reversed(parents[:entry.level]) if p is not None), None)
        item = writer.add_outline_item(title=entry.title, page_number=index[target[0].idnum], parent=parent,
                                       fit=Fit.xyz(float(target[2]), float(target[3]), 0))
        parents[entry.level:] = [item] + [None] * (len(parents) - entry.level - 1)

    folio = PdfReader(folios)
    if len(folio.pages) != len(writer.pages):
        raise PrintError(f"{folios.name}: {len(folio.pages)} folio pages for {len(writer.pages)} pages")
    before = writer._add_object(DecodedStreamObject.initialize_from_dictionary({"__streamdata__": b"q\n"}))
    after = writer._add_object(DecodedStreamObject.initialize_from_dictionary(
        {"__streamdata__": b"Q q /HbFolio Do Q\n"}))
    for page, foot in zip(writer.pages, folio.pages):
        form = DecodedStreamObject()
        form.set_data(foot.get_contents().get_data())
        form.update({NameObject("/Type"): NameObject("/XObject"), NameObject("/Subtype"): NameObject("/Form"),
                     NameObject("/BBox"): foot.mediabox,
                     NameObject("/Resources"): foot.raw_get("/Resources").clone(writer)})
        resources = DictionaryObject(page["/Resources"].get_object())
        xobjects = DictionaryObject(resources.get("/XObject", DictionaryObject()).get_object())
        xobjects[NameObject("/HbFolio")] = writer._add_object(form.flate_encode())
        resources[NameObject("/XObject")] = xobjects
        page[NameObject("/Resources")] = resources
        contents = page["/Contents"].get_object()
        contents = list(contents) if isinstance(contents, list) else [page.raw_get("/Contents")]
        page[NameObject("/Contents")] = ArrayObject([before, *contents, after])
    share_fonts(writer)
    writer.compress_identical_objects(remove_duplicates=True, remove_unreferenced=True)
    writer.page_mode = "/UseOutlines"
    with open(out, "wb") as f:
        writer.write(f)


def union_font(programs: list[bytes]) -> bytes | None:
    """One TrueType program with every glyph of ``programs``: subsets of one font that keep the font's
    glyph ids (Chromium's subsetter does), so each glyph goes to the same id. None if two subsets
    disagree on a glyph, i.e. they do not share ids."""
    from io import BytesIO

    from fontTools.ttLib import TTFont

    fonts = sorted((TTFont(BytesIO(p)) for p in programs), key=lambda f: len(f.getGlyphOrder()), reverse=True)
    base = fonts[0]
    names, glyf, metrics = base.getGlyphOrder(), base["glyf"], base["hmtx"].metrics
    for other in fonts[1:]:
        order, theirs = other.getGlyphOrder(), other["glyf"]
        gid = {name: i for i, name in enumerate(order)}          # names differ per subset, ids do not
        for i, name in enumerate(order):
            glyph, mine = theirs[name], glyf[names[i]]
            if glyph.numberOfContours == 0:
                continue
            if mine.numberOfContours != 0:
                if (mine.numberOfContours > 0 and glyph.numberOfContours > 0
                        and list(mine.coordinates) != list(glyph.coordinates)):
                    return None
                continue
            if glyph.isComposite():
                for component in glyph.components:
                    component.glyphName = names[gid[component.glyphName]]
            glyf[names[i]], metrics[names[i]] = glyph, other["hmtx"].metrics[name]
    out = BytesIO()
    base.save(out)
    return out.getvalue()


def share_fonts(writer) -> None:
    """Every chunk embeds its own subset of each font; give all subsets of a font one program (the union
    of their glyphs, :func:`union_font`). Each chunk keeps its font dictionaries (widths, ToUnicode)."""
    from pypdf.generic import NameObject, NumberObject, StreamObject

    groups: dict[str, dict[int, tuple]] = {}
    for page in writer.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            for cid in font.get("/DescendantFonts") or []:
                cid = cid.get_object()
                if cid.get("/Subtype") != "/CIDFontType2" or cid.get("/CIDToGIDMap") != "/Identity":
                    continue
                descriptor = cid["/FontDescriptor"].get_object()
                program = descriptor.raw_get("/FontFile2")
                if program is not None:
                    name = str(descriptor["/FontName"]).split("+", 1)[-1]
                    groups.setdefault(name, {})[program.idnum] = (descriptor, program)
    for name, members in groups.items():
        if len(members) < 2:
            continue
        union = union_font([program.get_object().get_data() for _, program in members.values()])
        if union is None:
            print(f"warning: the subsets of {name} do not share glyph ids; each chunk keeps its own", file=sys.stderr)
            continue
        stream = StreamObject()
        stream.set_data(union)
        stream = stream.flate_encode()
        stream[NameObject("/Length1")] = NumberObject(len(union))
        shared = writer._add_object(stream)
        for descriptor, _ in members.values():
            descriptor[NameObject("/FontFile2")] = shared


def browser_cpu() -> float:
    """CPU seconds (user + sys) used so far by the live processes below this one (Playwright's driver
    and Chromium, which ``os.times`` does not count: they are not waited for by this process)."""
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(stat.parent.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    below, grew = {os.getpid()}, True
    while grew:
        new = {pid for pid, (ppid, _) in stats.items() if ppid in below} - below
        below, grew = below | new, bool(new)
    return sum(stats[pid][1] for pid in below - {os.getpid()}) / os.sysconf("SC_CLK_TCK")


def print_pdf(url: str, out: Path, work: Path | None = None) -> dict[str, float]:
    """Print the served build at ``url`` into ``out``; returns seconds per step. The chunk and folio PDFs
    are written to ``work`` (kept) or to a temporary folder."""
    from playwright.sync_api import sync_playwright

    times, start = {}, time.perf_counter()
    with sync_playwright() as p, tempfile.TemporaryDirectory(prefix="hb-print-") as tmp:
        tmp = work or tmp
        # Fallback fonts (text whose CSS names no installed face, e.g. mermaid's labels) from
        # tools/print-fonts.conf: TrueType only, so nothing becomes a Type 3 font in the PDF.
        env = {**os.environ, "FONTCONFIG_FILE": str(ROOT / "tools" / "print-fonts.conf")}
        browser = p.chromium.launch(executable_path=CHROMIUM, env=env,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
        chunks = render(page, url)
        times["render"] = time.perf_counter() - start
        paths = print_chunks(page, Path(tmp), len(chunks))
        times["print"] = time.perf_counter() - start - times["render"]
        from pypdf import PdfReader
        folios = Path(tmp) / "folios.pdf"
        print_folios(page, folios, sum(len(PdfReader(p).pages) for p in paths))
        times["browser CPU"] = browser_cpu() if Path("/proc/self/stat").exists() else float("nan")
        browser.close()
        join(paths, folios, [e for chunk in chunks for e in chunk], out)
        times["join"] = time.perf_counter() - start - times["render"] - times["print"]
    if outside:
        raise PrintError(f"the print page requested other hosts: {sorted(set(outside))[:5]}")
    return times


def main(langs: list[str]) -> None:
    if len(langs) > 1:          # one process per language: Playwright's sync API allows one per thread
        procs = [subprocess.Popen([sys.executable, __file__, lang]) for lang in langs]
        if any(proc.wait() for proc in procs):
            raise PrintError("a print failed")
        return
    lang, start = langs[0], time.perf_counter()
    site = build(lang)
    check_chapters(site, lang)
    built = time.perf_counter() - start
    httpd, url = serve(site)
    out = ROOT / f"handbook-{lang}.pdf"
    try:
        times = print_pdf(url, out)
    finally:
        httpd.shutdown()
    cpu = os.times()
    cpu = cpu.user + cpu.system + cpu.children_user + cpu.children_system + times["browser CPU"]
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in {"build": built, **times}.items())
    print(f"{out.name}: {out.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s wall, "
          f"{cpu:.0f} s CPU user+sys with Chromium ({steps})")


if __name__ == "__main__":
    main(sys.argv[1:] or list(handbook.LANGS))
