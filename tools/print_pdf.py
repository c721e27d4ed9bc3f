"""Print the handbook as one PDF per language: ``handbook-zh.pdf`` and ``handbook-en.pdf``.

    python tools/print_pdf.py            # both languages (``make pdf``)
    python tools/print_pdf.py en         # one language

For each language it builds ``editions/pdf.<lang>.yml`` (the site's config with that language only and the
mkdocs-print-site plugin, which joins every chapter into ``print_page/``), checks that every chapter is
on the print page, serves the build on 127.0.0.1 and prints it with headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright), with every collapsible block open. Chromium, rather than a
WeasyPrint-based plugin, because it renders the same HTML and CSS as the site, embeds the CJK fonts it
used, keeps links inside the document, and lays out the diagrams' SVG and KaTeX's HTML as the site does.
Nothing is fetched from the network, and the page's scripts do not run: diagrams and formulas are drawn at
build time, and the contents are written here.

The document is printed in chunks of whole pages (a chapter, or a few pages of a large one) and joined
with pikepdf (see CHUNKS_JS below): Chromium's print time grows with the size of the whole document, not
just of what it prints. The joined file gets one set of named destinations, the links between chunks, the
page numbers ("n / N", stamped from a second print with the same @page rule), the outline, and one program
per font face (each chunk embeds its own subset; _merge_font_subsets joins them). The page is laid out at
the width of the paper's text area, and anything wider stops the print (check_width): Chromium would
shrink the whole chunk to fit it, so its pages would print in smaller type.

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
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hooks"))
import handbook  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")    # Debian's; CI on GitHub points it at Chrome

# Run in the print page before printing. (0) print-site's contents: a copy of the sidebar's table of
# contents (what its generate_toc() does when scripts run; the page is loaded without them). (1) Links
# to an id that is not in the document (the ~8,000 code-line anchors: print-site prefixes their href with
# the page's id, not their id) or to an element holding them (permalinks) lose their href: they lead
# nowhere on paper, and Chromium looks every link target up as it paints. (2) The outline: every h1/h2
# gets an empty marker <span id="hb-bm-N"> as its first child and a hidden <nav> links to each marker;
# Chromium writes a named destination for every element that a link of the document points at, painted
# or not. Returns {dropped, bookmarks: [[level, marker id, title], …]}: a chapter (the section whose id
# is a chapter slug) at level 1, its pages at 2, their h2 (the questions) at 3; headings outside the
# chapters (cover, contents) at 1, their h2 at 2. Titles as printed, without KaTeX's MathML copy and the
# permalink "¶".
PREPARE_JS = """(slugs) => {
  const toc = document.querySelector('.md-sidebar--secondary ul').cloneNode(true);
  toc.removeAttribute('data-md-component');
  document.querySelector('#print-page-toc nav').append(toc);
  let dropped = 0;
  // every id and name of the document, collected once (getElementsByName walks the whole document on
  // each call: for the ~8,700 dead links of the English handbook that was 44 s of CPU)
  const known = new Set();
  for (const e of document.querySelectorAll('[id], [name]')) {
    if (e.id) known.add(e.id);
    if (e.getAttribute('name')) known.add(e.getAttribute('name'));
  }
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    let id;
    try { id = decodeURIComponent(a.getAttribute('href').slice(1)); } catch (e) { continue; }
    let useless = !id || !known.has(id);
    for (let e = a; e && !useless; e = e.parentElement) useless = e.id === id;
    if (useless) { a.removeAttribute('href'); dropped++; }
  }
  const chapters = new Set(slugs), bookmarks = [], nav = document.createElement('nav');
  nav.hidden = true;
  nav.id = 'hb-bm-nav';
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


# Printing in chunks. Chromium's print time grows with the size of the whole document, not only of what
# is printed (English handbook, December 2026: the first 47 pages printed in 231 s with the rest of the
# document hidden by `display: none`, in 1.5 s with the rest detached; 300 s for all 1,325 pages at once).
# So the print page is loaded once, its top-level sections (cover, contents, one per chapter) are
# detached, and each chunk of them is attached alone and printed; every section starts a new page, so
# the chunks' pages are the document's pages. finish() joins the chunks with pikepdf.
#
# CHUNKS_JS groups the sections into chunks of at most `maxNodes` elements (a chapter larger than that is
# split at its pages; a page larger than that is a chunk of its own) and detaches them. SHOW_CHUNK_JS
# attaches chunk i alone. A link whose target is in another chunk gets the address LINK_MARK + target id,
# which Chromium writes as a URI link and finish() turns back into a link to the target's named
# destination; a hidden <nav> links to every link target in the chunk, because Chromium writes a named
# destination only for an element that a link of the printed document points at. Returns the number of
# links that leave the chunk.
LINK_MARK = "https://hb-chunk.invalid/#"
CHUNKS_JS = """(maxNodes) => {
  const root = document.getElementById('print-site-page');
  // A unit is a top-level section, or one page of a chapter larger than maxNodes: {wrap, heads, kid},
  // the chapter's section (attached without its other pages), its heading elements (only with its first
  // page) and the page's section. Every page section starts a new page, so a chapter split at its
  // pages prints the same pages.
  const tops = [...root.children].filter(e => e.tagName === 'SECTION');
  const units = [];
  for (const s of tops) {
    const kids = [...s.children].filter(e => e.tagName === 'SECTION');
    if (kids.length < 2 || s.getElementsByTagName('*').length <= maxNodes) { units.push({wrap: s}); continue; }
    const heads = [...s.children].filter(e => e.tagName !== 'SECTION');
    kids.forEach((kid, j) => units.push({wrap: s, heads: j === 0 ? heads : [], kid}));
  }
  const targets = new Set();
  for (const a of document.querySelectorAll('a[href^="#"]')) {
    try { targets.add(decodeURIComponent(a.getAttribute('href').slice(1))); } catch (e) { }
  }
  targets.delete('');
  document.getElementById('hb-bm-nav')?.remove();
  const chunks = [];
  let size = 0;
  for (const u of units) {
    const n = u.kid ? u.kid.getElementsByTagName('*').length + 1 : u.wrap.getElementsByTagName('*').length;
    if (!chunks.length || size + n > maxNodes) { chunks.push([]); size = 0; }
    chunks[chunks.length - 1].push(u);
    size += n;
  }
  tops.forEach(u => u.remove());
  const style = document.createElement('style');
  style.id = 'hb-chunk-style';   // page numbers are stamped on the joined PDF by finish()
  style.textContent = '@page { @bottom-right { content: none; } }';
  document.head.append(style);
  window.hbChunks = {root, chunks, targets: [...targets]};
  return chunks.length;
}"""
SHOW_CHUNK_JS = """([i, mark]) => {
  const {root, chunks, targets} = window.hbChunks;
  for (const u of [...root.children]) if (u.tagName === 'SECTION') u.remove();
  document.getElementById('hb-chunk-nav')?.remove();
  const attached = new Set();
  for (const u of chunks[i]) {
    if (!attached.has(u.wrap)) {
      attached.add(u.wrap);
      if (u.kid) u.wrap.replaceChildren();
      root.append(u.wrap);
    }
    if (u.kid) u.wrap.append(...u.heads, u.kid);
  }
  // A chunk that starts inside a chapter starts with a page section: its forced break would print a
  // blank first page (print-site lifts it only for the document's first section). The chunk itself
  // starts the new page.
  const first = chunks[i][0];
  if (first.kid && !first.heads.length) first.kid.style.breakBefore = 'avoid';
  const known = new Set();
  for (const e of root.querySelectorAll('[id], [name]')) {
    if (e.id) known.add(e.id);
    if (e.getAttribute('name')) known.add(e.getAttribute('name'));
  }
  const here = id => known.has(id) || document.getElementById(id);
  let leaving = 0;
  for (const a of root.querySelectorAll('a[href]')) {
    const href = a.dataset.hbHref ?? a.getAttribute('href');
    if (!href.startsWith('#')) continue;
    let id;
    try { id = decodeURIComponent(href.slice(1)); } catch (e) { continue; }
    if (!id || here(id)) { a.setAttribute('href', href); continue; }
    a.dataset.hbHref = href;
    a.setAttribute('href', mark + encodeURIComponent(id));
    leaving++;
  }
  const nav = document.createElement('nav');
  nav.id = 'hb-chunk-nav';
  nav.hidden = true;
  for (const id of targets) {
    if (!document.getElementById(id)) continue;
    const a = document.createElement('a');
    a.href = '#' + encodeURIComponent(id);
    nav.append(a);
  }
  root.append(nav);
  return leaving;
}"""
# Elements per chunk: print time per chunk grows faster than linearly with its size. A chapter larger than
# this is split at its pages (every page section starts a new page, so the pages printed are the same), so
# 5,000 means a few pages per chunk: 88 chunks for the English handbook (December 2026), browser CPU for
# printing 31–32 s, against 64 s with 15,000 and whole chapters (22 chunks), 90–107 s with 30,000 (13) and
# 185 s in one piece. The whole `tools/print_pdf.py en`, build and join included: 103 → 77–79 CPU-s.
CHUNK_NODES = int(os.environ.get("PRINT_CHUNK_NODES", "5000"))
# The page numbers, printed alone with the same @page rule as the handbook (docs/assets/stylesheets/
# extra.css) and stamped onto the joined chunks: "page / pages" over the whole document.
NUMBERS_HTML = """<!doctype html><html><head><meta charset="utf-8"><style>
@page { size: A4; margin: 16mm 14mm 18mm 14mm; @bottom-center { content: none; }
        @bottom-right { content: counter(page) " / " counter(pages); font-size: 8pt; color: #666; } }
html { font-family: "DejaVu Sans", sans-serif; } div { height: 1px; break-after: page; } div:last-child { break-after: auto; }
</style></head><body>%s</body></html>"""


class PrintError(SystemExit):
    pass


# The print page is laid out at the width of the paper's text area: A4 less the left and right margins
# of the @page rule in docs/assets/stylesheets/extra.css (210 - 2 x 14 mm, in CSS pixels at 96 per inch).
PAPER_VIEWPORT = {"width": round((210 - 2 * 14) / 25.4 * 96), "height": 1000}
# What is wider than that, outermost first: the element, its section of the print page, its width.
WIDE_JS = """() => {
  const width = document.documentElement.clientWidth, wide = [];
  const walk = (e) => {
    for (const c of e.children) {
      const box = c.getBoundingClientRect(), visible = getComputedStyle(c).overflowX === 'visible';
      if ((visible ? Math.max(box.right, box.left + c.scrollWidth) : box.right) > width + 1) {
        const section = c.closest('section.print-page');
        const deeper = wide.length;
        if (visible && c.tagName !== 'TABLE') walk(c);
        if (wide.length === deeper && c.tagName !== 'SECTION')
          wide.push([section ? section.id : '', c.tagName.toLowerCase(), Math.round(box.width),
                     c.textContent.replace(/\\s+/g, ' ').trim().slice(0, 60)]);
      }
    }
  };
  if (document.documentElement.scrollWidth > width + 1) walk(document.body);
  return wide;
}"""


def check_width(page) -> None:
    """Fail if anything on the print page is wider than the paper. Chromium would shrink the whole
    document (or the chunk holding it) to fit, so every page of it would print in smaller type."""
    wide = page.evaluate(WIDE_JS)
    if wide:
        raise PrintError("wider than the paper's text area (%d px), so Chromium would shrink the print: %s"
                         % (PAPER_VIEWPORT["width"], "; ".join(
                             f"<{tag}> of {width} px in section {section or '?'} ({text!r})"
                             for section, tag, width, text in wide[:5])))


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

    work = out.with_name(out.stem + ".chunks")
    work.mkdir(exist_ok=True)
    slugs = [row["slug"] for row in handbook.chapters(ROOT)]
    start = time.perf_counter()
    with sync_playwright() as p:
        # Fallback fonts (text whose CSS names no installed face, e.g. mermaid's labels) from
        # tools/print-fonts.conf: TrueType only, so nothing becomes a Type 3 font in the PDF.
        env = {**os.environ, "FONTCONFIG_FILE": str(ROOT / "tools" / "print-fonts.conf")}
        browser = p.chromium.launch(executable_path=CHROMIUM, env=env,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        # Without JavaScript: the diagrams and formulas are drawn at build time (hooks/diagrams.py,
        # hooks/formulas.py), PREPARE_JS writes print-site's contents, and the page's scripts would cost
        # more CPU time than the rest of loading the 17 MB print page (35 of 61 s, English, December 2026).
        # Laid out for print from the start, not for the screen first.
        page = browser.new_context(java_script_enabled=False, viewport=PAPER_VIEWPORT).new_page()
        page.emulate_media(media="print")
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
        page.goto(url + "print_page/", wait_until="load", timeout=3_600_000)
        debug(f"loaded: browser CPU {_cpu():.1f} s")
        missing = page.evaluate("""() => [document.querySelectorAll('pre.mermaid').length,
            [...document.querySelectorAll('.arithmatex')].filter(e => !e.querySelector('.katex')).length]""")
        if any(missing):
            raise PrintError(f"the print page has {missing[0]} undrawn diagrams and {missing[1]} untypeset formulas")
        check_width(page)
        debug(f"width checked: browser CPU {_cpu():.1f} s")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        prepared = page.evaluate(PREPARE_JS, slugs)
        debug(f"prepared: browser CPU {_cpu():.1f} s")
        loaded = time.perf_counter()
        cpu_loaded = _cpu()
        parts = []
        for i in range(page.evaluate(CHUNKS_JS, CHUNK_NODES)):
            t = time.perf_counter()
            page.evaluate(SHOW_CHUNK_JS, [i, LINK_MARK])
            shown = time.perf_counter()
            parts.append(work / f"{i:03d}.pdf")
            # Page size, margins and page numbers come from the @page rule in assets/stylesheets/extra.css.
            page.pdf(path=str(parts[-1]), print_background=True, tagged=False, outline=False,
                     prefer_css_page_size=True)
            debug(f"chunk {i}: shown in {shown - t:.1f} s, printed in {time.perf_counter() - shown:.1f} s")
        pages = sum(_page_count(part) for part in parts)
        numbers = browser.new_page()
        numbers.set_content(NUMBERS_HTML % ("<div></div>" * pages))
        numbers.pdf(path=str(work / "numbers.pdf"), tagged=False, outline=False, prefer_css_page_size=True)
        cpu_printed = _cpu()
        browser.close()
    printed = time.perf_counter()
    debug(f"browser CPU: load {cpu_loaded:.1f} s, print {cpu_printed - cpu_loaded:.1f} s")
    if outside:
        raise PrintError(f"the print page requested other hosts: {sorted(set(outside))[:5]}")
    finish(parts, work / "numbers.pdf", out, prepared["bookmarks"])
    if not os.environ.get("PRINT_KEEP"):
        shutil.rmtree(work)
    log(f"{out.name}: page loaded in {loaded - start:.1f} s, printed in {len(parts)} chunks in "
        f"{printed - loaded:.1f} s, joined with outline, page numbers and object streams in "
        f"{time.perf_counter() - printed:.1f} s ({pages} pages, {prepared['dropped']} dead or self links "
        f"dropped, {len(prepared['bookmarks'])} bookmarks)")


def _share_identical_fonts(pdf) -> None:
    """Each chunk embeds its own copy of a font Chromium does not subset (the CJK collection, ~2 MB): one
    copy, byte for byte the same, serves every chunk."""
    import hashlib

    import pikepdf

    first: dict[bytes, pikepdf.Object] = {}
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/FontDescriptor":
            for key in ("/FontFile", "/FontFile2", "/FontFile3"):
                if key in obj:
                    stream = obj[key]
                    digest = hashlib.sha256(stream.read_raw_bytes() + repr(sorted(
                        (k, str(v)) for k, v in stream.stream_dict.items())).encode()).digest()
                    obj[key] = first.setdefault(digest, stream)


# Tables a PDF viewer never reads from an embedded CID font (it draws glyphs by id, without shaping).
LAYOUT_TABLES = ("GDEF", "GPOS", "GSUB", "MATH", "BASE", "JSTF", "kern")


def _merge_font_subsets(pdf) -> int:
    """One font program per face instead of one per chunk; returns the number of programs dropped.

    Chromium (Skia) embeds each TrueType face of a print as a subset that keeps the face's glyph ids
    (unused glyphs are left empty and the font ends at the highest id used; CIDToGIDMap /Identity), so
    the subsets of one face from several chunks differ only in which glyphs are filled in. Subsets with
    the same face name (without the subset tag) are merged, largest first, into one program holding every
    glyph any of them holds, but only where no glyph present in both differs: a subset that conflicts
    starts a merge of its own. A face fontTools cannot read (a TrueType collection, which Chromium embeds
    whole, so _share_identical_fonts already shares it) keeps its programs."""
    import collections
    import io

    import pikepdf
    from fontTools.ttLib import TTFont

    groups: dict[str, list] = collections.defaultdict(list)
    for obj in pdf.objects:
        if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/FontDescriptor" and "/FontFile2" in obj:
            groups[str(obj.FontName).split("+", 1)[-1]].append(obj)
    dropped = 0
    for descriptors in groups.values():
        streams = {d.FontFile2.objgen: d.FontFile2 for d in descriptors}
        if len(streams) < 2:
            continue
        fonts = {}
        for key, stream in streams.items():
            try:
                fonts[key] = _by_glyph_id(TTFont(io.BytesIO(stream.read_bytes())))
            except Exception:   # a collection (TTC) or a face fontTools cannot parse: left as it is
                pass
        merges: list[tuple[object, list]] = []          # (merged font, keys of the programs it replaces)
        for key in sorted(fonts, key=lambda k: -fonts[k]["maxp"].numGlyphs):
            font = fonts[key]
            for merged, keys in merges:
                take = _glyphs_to_take(merged, font)
                if take is not None:
                    for name in take:
                        merged["glyf"][name], merged["hmtx"][name] = font["glyf"][name], font["hmtx"][name]
                    keys.append(key)
                    break
            else:
                merges.append((font, [key]))
        for merged, keys in merges:
            if len(keys) < 2:
                continue
            for tag in LAYOUT_TABLES:
                if tag in merged:
                    del merged[tag]
            out = io.BytesIO()
            merged.save(out)
            stream = pdf.make_stream(out.getvalue())
            stream.Length1 = len(out.getvalue())
            for d in descriptors:
                if d.FontFile2.objgen in keys:
                    d.FontFile2 = stream
            dropped += len(keys) - 1
    return dropped


def _glyphs_to_take(merged, font) -> list[str] | None:
    """The glyphs ``font`` holds and ``merged`` lacks, or None if a glyph both hold differs (or ``font`` is
    longer: merges go largest first)."""
    names = font.getGlyphOrder()
    if len(names) > len(merged.getGlyphOrder()):
        return None
    mine, theirs, take = merged["glyf"], font["glyf"], []
    for name in names:
        glyph = theirs[name]
        if glyph.numberOfContours == 0:
            continue
        if mine[name].numberOfContours == 0:
            take.append(name)
        elif _outline(mine[name], mine) != _outline(glyph, theirs) or merged["hmtx"][name] != font["hmtx"][name]:
            return None
    return take


def _outline(glyph, table) -> bytes:
    """A glyph's outline, components and instructions, compiled from its decoded form: the same glyph
    can be stored with different padding by two subsets."""
    glyph.expand(table)
    return glyph.compile(table, recalcBBoxes=False)


def _by_glyph_id(font):
    """``font`` with its glyphs named by id (".notdef", "g1", "g2", …) and no glyph names in its ``post``
    table: a subset names only the glyphs it kept, so two subsets of a face name the same glyph
    differently; by id they line up (composite glyphs refer to their parts by these names too)."""
    font["post"].formatType = 3.0
    font.setGlyphOrder([".notdef"] + [f"g{i}" for i in range(1, font["maxp"].numGlyphs)])
    return font


def debug(message: str) -> None:
    """Progress with the browser's CPU time, when PRINT_DEBUG is set (for measuring the print)."""
    if os.environ.get("PRINT_DEBUG"):
        print(message, flush=True)


def _cpu() -> float:
    """CPU seconds used so far by this process's children (Playwright's driver, Chromium)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def _page_count(pdf: Path) -> int:
    import pikepdf

    with pikepdf.open(pdf) as doc:
        return len(doc.pages)


def finish(parts: list[Path], numbers: Path, out: Path, bookmarks: list[list]) -> None:
    """Join ``parts`` (Chromium's untagged PDFs of the chunks, in order) into ``out``: the named destinations
    of all chunks in one ``/Dests``, links between chunks (``LINK_MARK`` URIs) turned into links to those
    destinations, the page numbers of ``numbers`` stamped on each page, the outline ``bookmarks`` ([level,
    named destination, title], in document order), written with object streams."""
    import pikepdf

    pdf = pikepdf.new()
    sources = [pikepdf.open(part) for part in parts]
    dests = {}
    for src in sources:
        with warnings.catch_warnings():     # "does not preserve named destinations": done below, by hand
            warnings.simplefilter("ignore", pikepdf.PageCopyWarning)
            pdf.pages.extend(src.pages)
        found = src.Root.get("/Dests")
        if "/Names" in src.Root and "/Dests" in src.Root.Names:
            raise PrintError(f"{out.name}: Chromium wrote a name tree of destinations; finish() reads /Dests only")
        for name in (found.keys() if found is not None else []):
            # copy_foreign maps the destination's page onto the copy that pages.extend made above
            dest = found[name]
            dests[name] = pikepdf.Array([pdf.copy_foreign(dest[0]), *dest[1:]])
    on_page = {page.obj.objgen for page in pdf.pages}
    stray = [name for name, dest in dests.items()
             if not (isinstance(dest, pikepdf.Array) and dest[0].objgen in on_page)]
    if stray:
        raise PrintError(f"{out.name}: named destinations not on a page of the joined PDF: {stray[:5]}")
    pdf.Root.Dests = pdf.make_indirect(pikepdf.Dictionary(dests))

    unresolved = []
    for page in pdf.pages:
        for annot in page.get("/Annots", []):
            action = annot.get("/A")
            if annot.get("/Subtype") != "/Link" or action is None or action.get("/S") != "/URI":
                continue
            uri = bytes(action.URI).decode("utf-8", "replace")
            if not uri.startswith(LINK_MARK):
                continue
            name = "/" + unquote(uri[len(LINK_MARK):])
            if name not in dests:
                unresolved.append(name[1:])
                continue
            del annot["/A"]
            annot.Dest = pikepdf.Name(name)
    if unresolved:
        raise PrintError(f"{out.name}: links to ids without a named destination: {sorted(set(unresolved))[:5]}")

    with pikepdf.open(numbers) as stamps:
        if len(stamps.pages) != len(pdf.pages):
            raise PrintError(f"{out.name}: {len(stamps.pages)} page numbers for {len(pdf.pages)} pages")
        for page, stamp in zip(pdf.pages, stamps.pages):
            page.add_overlay(stamp)

        with pdf.open_outline() as outline:
            outline.root.clear()
            stack: list[tuple[int, pikepdf.OutlineItem]] = []
            for level, name, title in bookmarks:
                if "/" + name not in dests:
                    raise PrintError(f"{out.name}: no named destination {name!r} in the printed PDF")
                item = pikepdf.OutlineItem(title, destination=pikepdf.Array(list(dests["/" + name])))
                while stack and stack[-1][0] >= level:
                    stack.pop()
                (stack[-1][1].children if stack else outline.root).append(item)
                stack.append((level, item))
        pdf.Root.PageMode = pikepdf.Name.UseOutlines
        _share_identical_fonts(pdf)                 # the chunks' and the page numbers' fonts
        _merge_font_subsets(pdf)
        pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate, compress_streams=True)
    for src in sources:
        src.close()


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
