"""The printed handbook: `make pdf` (tools/print_pdf.py) writes handbook-zh.pdf and handbook-en.pdf.

Checked with poppler: fonts embedded (a CJK font by name), every question title of every chapter in
the right language, no raw LaTeX or mermaid source, an outline (bookmarks) down to the questions,
a plausible page count, at most 15 MB; with pikepdf and poppler's text of each page: every question's
bookmark and every internal link (the contents link to every page) opens the page its target's title is
printed on; every page carries its number in the whole document; the font subsets of the printed chunks
are merged; and a chapter missing from the print page, or anything wider than the paper, stops the print.
"""
from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import handbook
from conftest import shared_once

pytestmark = pytest.mark.build
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import print_pdf  # noqa: E402


class PDFs:
    """``pdfs[lang]``: what `make pdf` writes for that language. The first use prints both languages at
    once, each by ``tools/print_pdf.py <lang>`` in its own process (Playwright's sync API allows one per
    thread), once per test run even with several pytest-xdist workers. The prints are the longest steps
    of the suite; running them side by side, and early (conftest.py puts this file's tests first), keeps
    the other worker from idling at the end while one print finishes."""

    def __init__(self, tmp_path_factory):
        self.factory = tmp_path_factory

    def __getitem__(self, lang: str) -> Path:
        def make(folder: Path) -> None:
            # Not after the site build, although on a fresh clone the three builds then typeset and draw
            # everything each (48 instead of 24 CPU-s): waiting for it put the cold build on the PDF chain,
            # and the suite took 499 s instead of 420 s (one clone, cold cache, 2 cores, December 2026).
            procs = {code: subprocess.Popen([sys.executable, "tools/print_pdf.py", code], cwd=ROOT, text=True,
                                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                     for code in handbook.LANGS}
            outputs = {code: proc.communicate(timeout=3000)[0] for code, proc in procs.items()}
            failed = [code for code, proc in procs.items() if proc.returncode != 0]
            assert not failed, "\n".join(f"print of {code} failed:\n{outputs[code]}" for code in failed)
            print("\n" + "".join(outputs.values()))
            folder.mkdir()
        shared_once(self.factory, "pdfs", make)
        return ROOT / f"handbook-{lang}.pdf"


@pytest.fixture(scope="session")
def pdfs(tmp_path_factory) -> PDFs:
    return PDFs(tmp_path_factory)


def _text(pdf: Path) -> str:
    """poppler's text of the whole PDF (``pdftotext -layout``), read once per file version and test process:
    five checks of each language read it."""
    stat = pdf.stat()
    return _text_of(str(pdf), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _text_of(pdf: str, mtime_ns: int, size: int) -> str:
    return subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True, check=True).stdout


def _squash(s: str) -> str:
    """Text without whitespace and soft hyphenation, so titles wrapped over lines still match."""
    return re.sub(r"\s+", "", s).replace("\u00ad", "")


def _plain(s: str) -> str:
    """A title as printed, comparable with its Markdown source: squashed, without the characters that
    TeX and Markdown markup add or typesetting drops (``$T^2$`` prints as "T2")."""
    return re.sub(r"[`*$\\^_{}]", "", _squash(s))


def _page_texts(pdf: Path) -> list[str]:
    """poppler's text of each page (pdftotext separates pages by form feeds), as ``_plain``."""
    return [_plain(page) for page in _text(pdf).split("\f")]


def _page_index(pdf) -> dict:
    return {page.obj.objgen: number for number, page in enumerate(pdf.pages)}


def _target(pdf, dest, pages: dict) -> int | None:
    """The page number (from 0) a destination goes to: a name in /Dests or an explicit array."""
    import pikepdf

    if isinstance(dest, (pikepdf.String, pikepdf.Name)):
        name = str(dest).lstrip("/")
        found = pdf.Root.get("/Dests", {}).get("/" + name)
        if found is None and "/Names" in pdf.Root and "/Dests" in pdf.Root.Names:
            found = pikepdf.NameTree(pdf.Root.Names.Dests).get(name)
        dest = found.get("/D") if isinstance(found, pikepdf.Dictionary) else found
    if dest is None or len(dest) == 0:
        return None
    return pages.get(dest[0].objgen)


def _questions(lang: str) -> list[tuple[str, str, str]]:
    return [(p.chapter, q.id, q.title) for p in handbook.iter_pages(ROOT / "docs", lang)
            if p.chapter and not p.is_index for q in p.questions]


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_fonts_are_embedded(pdfs, lang):
    out = subprocess.run(["pdffonts", str(pdfs[lang])], capture_output=True, text=True, check=True).stdout
    rows = out.splitlines()[2:]
    assert rows and all(" yes " in row[60:] for row in rows), "a font is not embedded:\n" + out
    assert any("WenQuanYiMicroHei" in row for row in rows), "no CJK font embedded:\n" + out
    # tools/print-fonts.conf and the print stylesheet: only TrueType faces, nothing synthesised, so no
    # unnamed Type 3 font (each one is a per-page copy of glyph outlines: they made the PDFs 30 MB).
    type3 = [row for row in rows if "Type 3" in row]
    assert type3 == [], f"{len(type3)} Type 3 fonts:\n" + "\n".join(type3[:5])


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_font_subsets_are_merged(pdfs, lang):
    """The document is printed in chunks, each with its own subset of every face; print_pdf.finish()
    merges the subsets of a face, so merging the finished PDF again finds nothing left to merge, and
    most faces have one program."""
    import collections

    import pikepdf

    programs = collections.defaultdict(set)
    with pikepdf.open(pdfs[lang]) as pdf:
        for obj in pdf.objects:
            if isinstance(obj, pikepdf.Dictionary) and obj.get("/Type") == "/FontDescriptor" and "/FontFile2" in obj:
                programs[str(obj.FontName).split("+", 1)[-1]].add(obj.FontFile2.objgen)
        left = print_pdf._merge_font_subsets(pdf)
    print(f"\n{lang}: font programs per face: { {face: len(found) for face, found in programs.items()} }")
    assert left == 0, f"{lang}: {left} font programs could still be merged"
    assert sum(len(found) for found in programs.values()) <= len(programs) + 3, dict(programs)


def test_font_subsets_merge_into_one_program(tmp_path):
    """Two subsets of DejaVu Sans that keep the face's glyph ids (as Chromium writes them), made by
    fontTools' own subsetter, become one program holding both subsets' glyphs, each identical to the
    face's; a subset of another face with the same name is kept apart."""
    import io

    import pikepdf
    from fontTools import subset
    from fontTools.ttLib import TTFont

    face = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not face.exists():
        pytest.skip("fonts-dejavu-core is not installed")

    def cut(text: str, source: Path = face) -> bytes:
        font = TTFont(source)
        options = subset.Options()
        options.retain_gids, options.notdef_outline = True, True
        sub = subset.Subsetter(options)
        sub.populate(text=text)
        sub.subset(font)
        out = io.BytesIO()
        font.save(out)
        return out.getvalue()

    pdf = pikepdf.new()
    descriptors = []
    for name, data in (("AAAAAA+DejaVuSans", cut("Attention")), ("BAAAAA+DejaVuSans", cut("Qwen 2026")),
                       ("CAAAAA+DejaVuSans", cut("xyz", Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")))):
        descriptors.append(pdf.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor, FontName=pikepdf.Name("/" + name),
            FontFile2=pdf.make_stream(data))))
    pdf.Root.Fonts = pikepdf.Array(descriptors)            # reachable, like fonts on a page
    assert print_pdf._merge_font_subsets(pdf) == 1
    a, b, bold = (d.FontFile2 for d in descriptors)
    assert a.objgen == b.objgen and bold.objgen != a.objgen
    merged, original = TTFont(io.BytesIO(a.read_bytes())), TTFont(face)
    cmap, order = original.getBestCmap(), original.getGlyphOrder()
    for char in "AttenionQw2026":
        gid = order.index(cmap[ord(char)])
        mine = merged["glyf"][merged.getGlyphOrder()[gid]]
        theirs = original["glyf"][cmap[ord(char)]]
        assert mine.numberOfContours > 0
        assert mine.getCoordinates(merged["glyf"])[0] == theirs.getCoordinates(original["glyf"])[0], char
    gid_z = order.index(cmap[ord("z")])                   # only the bold subset has it
    assert gid_z >= len(merged.getGlyphOrder()) or merged["glyf"][merged.getGlyphOrder()[gid_z]].numberOfContours == 0


def test_anything_wider_than_the_paper_stops_the_print(browser):
    """A table wider than the paper's text area (Material's 5rem header cells, 9 columns) would make
    Chromium shrink the whole print; check_width names it and its section instead."""
    page = browser.new_context(java_script_enabled=False, viewport=print_pdf.PAPER_VIEWPORT).new_page()
    page.emulate_media(media="print")
    cells = "".join(f"<th style='min-width: 5rem'>column {i}</th>" for i in range(9))
    page.set_content("<div id='print-site-page'><section class='print-page' id='demo-page'><p>Text.</p>"
                     f"<table><tr>{cells}</tr></table></section></div>")
    with pytest.raises(print_pdf.PrintError, match=r"<table> of \d+ px in section demo-page"):
        print_pdf.check_width(page)
    # the same wide content in a scroll box, or a narrow table, is fine
    page.set_content("<div id='print-site-page'><section class='print-page' id='demo-page'>"
                     "<div style='overflow: auto'><pre style='width: 2000px'>x</pre></div>"
                     "<table><tr><th>a</th></tr></table></section></div>")
    print_pdf.check_width(page)
    page.context.close()


# Issue 19's goal. Chromium prints untagged (no structure tree: it was ~190,000 objects, most of the
# 40+ MB) and tools/print_pdf.py writes the file with object streams; the rest is mostly page content.
PDF_SIZE_GUARD = 15e6


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_pdf_size_guard(pdfs, lang):
    size = pdfs[lang].stat().st_size
    print(f"\nhandbook-{lang}.pdf: {size / 1e6:.1f} MB")
    assert size <= PDF_SIZE_GUARD, f"handbook-{lang}.pdf is {size / 1e6:.1f} MB (guard {PDF_SIZE_GUARD / 1e6:.0f} MB)"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_every_question_title_is_in_the_pdf(pdfs, lang):
    text = _squash(_text(pdfs[lang]))
    questions = _questions(lang)
    assert questions
    # Titles with inline math ($T^2$) print as typeset math: compare without the TeX markup.
    typeset = re.sub(r"[\^_{}]", "", text)
    missing = [(c, qid, t) for c, qid, t in questions if _squash(re.sub(r"[`*$\\^_{}]", "", t)) not in typeset]
    assert not missing, f"{lang}: question titles not found in the PDF: {missing[:5]}"
    other = "en" if lang == "zh" else "zh"
    foreign = [t for _, _, t in _questions(other) if _squash(t) in text]
    assert not foreign, f"{lang} PDF contains {other} question titles: {foreign[:3]}"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_no_raw_latex_or_mermaid_source(pdfs, lang):
    text = _text(pdfs[lang])
    for raw in ("$$", "\\frac", "\\mathrm", "\\sum_"):
        assert raw not in text, f"{lang}: raw {raw!r} in the PDF"
    # \( … \) and \[ … \] around TeX (a command such as \alpha, or ^ / _) are unrendered math; the
    # same characters in a code block's regular expression, e.g. \[(.*)\], are not.
    tex = r"(?=[^\n]*?(?:\\[a-zA-Z]{2,}|[A-Za-z0-9})][\^_][A-Za-z0-9{]))"
    for pattern in (r"\\\(" + tex + r"[^\n]{1,120}?\\\)", r"\\\[" + tex + r"[^\n]{1,200}?\\\]"):
        match = re.search(pattern, text)
        assert match is None, f"{lang}: raw math {match.group(0)!r} in the PDF"
    for source in re.findall(r"^```mermaid\n(.*?)^```", "".join(
            p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob(f"*.{lang}.md")), re.M | re.S):
        first = source.strip().splitlines()[0].strip()          # e.g. "flowchart LR"
        assert first not in text, f"{lang}: mermaid source {first!r} printed as text"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_outline_and_page_count(pdfs, lang):
    xml = subprocess.run(["pdftohtml", "-xml", "-i", "-stdout", "-f", "1", "-l", "1", str(pdfs[lang])],
                         capture_output=True, text=True, check=True).stdout
    outline = re.findall(r'<item page="\d+">([^<]*)', xml)
    questions = _questions(lang)
    assert {t for _, _, t in questions} & set(outline), "the outline does not reach the questions"
    chapters = {row[lang] for row in handbook.chapters(ROOT)}
    assert chapters & set(outline)
    info = subprocess.run(["pdfinfo", str(pdfs[lang])], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    content_pages = sum(1 for p in handbook.iter_pages(ROOT / "docs", lang) if p.chapter and not p.is_index)
    assert content_pages <= pages <= 15 * content_pages + 20, (pages, content_pages)


def test_missing_chapter_fails_the_print(tmp_path, pdfs):
    pdfs["en"]                                                   # the print build of build/pdf/en
    site = tmp_path / "site"
    shutil.copytree(ROOT / "build" / "pdf" / "en" / "print_page", site / "print_page")
    html = (site / "print_page" / "index.html").read_text(encoding="utf-8")
    chapter = next(row["slug"] for row in handbook.chapters(ROOT) if (ROOT / "docs" / row["slug"]).is_dir())
    (site / "print_page" / "index.html").write_text(
        html.replace(f'<section class="print-page" id="{chapter}"', '<section class="print-page" id="x"'), encoding="utf-8")
    with pytest.raises(print_pdf.PrintError, match=f"chapters missing from the print page: {chapter}"):
        print_pdf.check_chapters(site, "en")


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_outline_goes_to_every_question(pdfs, lang):
    """Every question is a bookmark under its page (and chapter), and the bookmark opens the page the
    question's title is printed on (poppler's text of that page)."""
    import pikepdf

    texts = _page_texts(pdfs[lang])
    with pikepdf.open(pdfs[lang]) as pdf:
        pages = _page_index(pdf)
        found: dict[str, list[tuple[int, int | None]]] = {}
        with pdf.open_outline() as outline:
            def walk(items, depth):
                for item in items:
                    found.setdefault(_plain(item.title), []).append((depth, _target(pdf, item.destination, pages)))
                    walk(item.children, depth + 1)
            walk(outline.root, 1)
    assert len(texts) - 1 <= len(pages) <= len(texts)
    chapters = [row[lang] for row in handbook.chapters(ROOT) if (ROOT / "docs" / row["slug"]).is_dir()]
    top = [c for c in chapters if not any(depth == 1 for depth, _ in found.get(_plain(c), []))]
    assert not top, f"{lang}: chapters not at the outline's top level: {top[:5]}"
    wrong = []
    for chapter, qid, title in _questions(lang):
        entries = found.get(_plain(title), [])
        if not any(depth == 3 and page is not None and _plain(title) in texts[page] for depth, page in entries):
            wrong.append((chapter, qid, title, entries))
    assert not wrong, f"{lang}: {len(wrong)} questions without a bookmark (level 3) to their page: {wrong[:3]}"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_internal_links_go_to_the_right_page(pdfs, lang):
    """Every link inside the PDF has a destination on one of its pages; a link to a page of the
    handbook (the contents at the front link to every page) opens the page that page's title is
    printed on, and a link to a question the page with the question's title."""
    import pikepdf

    texts = _page_texts(pdfs[lang])
    expected: dict[str, str] = {}                  # id on the print page -> title printed there
    sections: set[str] = set()                     # the ids of the handbook's pages
    for page in handbook.iter_pages(ROOT / "docs", lang):
        if page.chapter and not page.is_index and page.title:
            section = page.rel.replace("/", "-")
            sections.add(section)
            expected[section] = page.title
            for question in page.questions:
                expected[f"{section}-{question.id}"] = question.title
    dangling, wrong, checked = [], [], set()
    with pikepdf.open(pdfs[lang]) as pdf:
        pages = _page_index(pdf)
        for number, page in enumerate(pdf.pages):
            for annot in page.obj.get("/Annots", []):
                if annot.get("/Subtype") != "/Link":
                    continue
                dest = annot.get("/Dest")
                action = annot.get("/A")
                if dest is None and action is not None and action.get("/S") == "/GoTo":
                    dest = action.get("/D")
                if dest is None:                                  # a link to a web address
                    uri = bytes(action.get("/URI", b"")) if action is not None else b""
                    if uri.startswith(print_pdf.LINK_MARK.encode()):
                        dangling.append((number + 1, uri.decode()))   # a link between chunks left unjoined
                    continue
                target = _target(pdf, dest, pages)
                if target is None:
                    dangling.append((number + 1, str(dest)))
                    continue
                name = str(dest).lstrip("/") if isinstance(dest, (pikepdf.String, pikepdf.Name)) else None
                if name in expected:
                    checked.add(name)
                    if _plain(expected[name]) not in texts[target]:
                        wrong.append((number + 1, name, target + 1))
    assert not dangling, f"{lang}: links without a destination in the PDF: {dangling[:5]}"
    assert not wrong, f"{lang}: links that open a page without their target's title (page, id, target page): {wrong[:5]}"
    unlinked = sorted(sections - checked)
    assert not unlinked, f"{lang}: pages of the handbook no link of the PDF goes to: {unlinked[:5]}"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_pages_are_numbered_through_the_whole_document(pdfs, lang):
    """The PDF is printed in chunks and joined (tools/print_pdf.py); each page still carries "n / N" with
    n its place in the whole document and N the page count, as the @page rule of extra.css prints it."""
    pages = _text(pdfs[lang]).split("\f")[:-1]
    wrong = [(n, page.split("\n")[-3:]) for n, page in enumerate(pages, 1)
             if not re.search(rf"(?<!\d){n} / {len(pages)}\s*$", page)]
    assert len(pages) > 300 and not wrong, f"{lang}: pages without their number (page, last lines): {wrong[:3]}"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_no_blank_page(pdfs, lang):
    """Chunks that start inside a chapter must not open with a blank page (a page section's forced break at
    the top of a chunk prints one, tools/print_pdf.py SHOW_CHUNK_JS): every page has text besides its
    number. Such pages would still be numbered and bookmarked, so the checks above would not see them."""
    pages = _text(pdfs[lang]).split("\f")[:-1]
    blank = [n for n, page in enumerate(pages, 1) if not re.sub(r"\d+ / \d+", "", page).strip()]
    assert len(pages) > 300 and not blank, f"{lang}: blank pages {blank[:10]} of {len(pages)}"
