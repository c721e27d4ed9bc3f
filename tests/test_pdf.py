"""The printed handbook: `make pdf` (tools/print_pdf.py) writes handbook-zh.pdf and handbook-en.pdf.

Checked with poppler and pypdf: fonts embedded (a CJK font by name, no Type 3), a size guard, every
question title of every chapter in the right language, no raw LaTeX or mermaid source, an outline
(bookmarks) down to the questions whose every entry opens the page that shows its title, internal links
(also from one chapter into another: the chapters are printed apart and joined) landing on the page of
their target, page numbers 1..N running through the book; and a chapter missing from the print page
stops the build. The same checks run first on a three-chapter print page (tests/fixtures/print_mini),
which prints in seconds, together with the errors the joiner raises on a broken print.
"""
from __future__ import annotations

import functools
import http.server
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import handbook
from conftest import shared_once

pytestmark = pytest.mark.build
ROOT = Path(__file__).resolve().parent.parent
MINI = ROOT / "tests" / "fixtures" / "print_mini"
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
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _squash(s: str) -> str:
    """Text without whitespace and soft hyphenation, so titles wrapped over lines still match."""
    return re.sub(r"\s+", "", s).replace("\u00ad", "")


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


# Issue 19 asks for 15 MB; not met yet. The one-piece tagged print was 44 MB (zh 44.3, en 43.6); printed
# in chunks, untagged, joined with shared fonts, the English PDF measured 18.0 MB (1334 pages) and the
# Chinese one has not been measured with this printer yet: a guard against regressions, with margin.
PDF_SIZE_LIMIT = 22e6


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_pdf_size(pdfs, lang):
    size = pdfs[lang].stat().st_size
    print(f"\nhandbook-{lang}.pdf: {size / 1e6:.1f} MB")
    assert size <= PDF_SIZE_LIMIT, f"handbook-{lang}.pdf is {size / 1e6:.1f} MB (guard {PDF_SIZE_LIMIT / 1e6:.0f} MB)"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_every_question_title_is_in_the_pdf(pdfs, lang):
    text = _squash(_text(pdfs[lang]))
    questions = _questions(lang)
    assert questions
    # Titles with inline math ($T^2$) print as typeset math: compare without the TeX markup.
    missing = [(c, qid, t) for c, qid, t in questions
               if _squash(re.sub(r"[`*$\\^_{}]", "", t)) not in re.sub(r"[\^_{}]", "", text)]
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


def _pages(pdf: Path) -> list[str]:
    """The text of each page (pdftotext ends every page with a form feed)."""
    return _text(pdf).split("\f")[:-1]


def _plain(title: str) -> str:
    """A title as it prints: without whitespace, Markdown/TeX markup and ^ _ { } (typeset math)."""
    return re.sub(r"[`*$\\^_{}]", "", _squash(title))


def _outline(pdf: Path) -> list[tuple[int, str, int]]:
    """(depth, title, 0-based page) of every outline item, in order."""
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    items: list[tuple[int, str, int]] = []

    def walk(nodes, depth):
        for node in nodes:
            if isinstance(node, list):
                walk(node, depth + 1)
            else:
                items.append((depth, str(node.title), reader.get_destination_page_number(node)))
    walk(reader.outline, 0)
    return items


def _links(pdf: Path) -> list[tuple[int, str, int]]:
    """(0-based page, destination name, 0-based target page) of every internal link by name."""
    from pypdf import PdfReader

    reader = PdfReader(pdf)
    dests = reader.trailer["/Root"].get("/Dests")
    dests = dests.get_object() if dests is not None else {}
    number = {page.indirect_reference.idnum: i for i, page in enumerate(reader.pages)}
    links = []
    for i, page in enumerate(reader.pages):
        for annot in page.get("/Annots", []) or []:
            dest = annot.get_object().get("/Dest")
            if isinstance(dest, str):
                target = dests.get(dest)
                links.append((i, dest.lstrip("/"), number[target.get_object()[0].idnum] if target else -1))
    return links


def check_folios(pages: list[str]) -> None:
    """The last line of page i reads "i / N": numbers run 1..N through the joined chunks."""
    wrong = [(i, text.strip().splitlines()[-1].strip() if text.strip() else "")
             for i, text in enumerate(pages, 1)
             if not text.strip() or not re.search(rf"(^|\s){i} / {len(pages)}$", text.strip().splitlines()[-1])]
    assert not wrong, f"{len(wrong)} of {len(pages)} pages without their number: {wrong[:5]}"


def check_outline(pdf: Path, pages: list[str], expected: list[tuple[int, str]], ordered: bool = True) -> None:
    """The outline holds ``expected`` (depth, title), in that order if ``ordered``, and every item of
    the outline opens the page showing its title."""
    outline = _outline(pdf)
    # Titles with inline math ($T^2$) are bookmarked as typeset text (T2): compared without the markup.
    want = [(d, _plain(t)) for d, t in expected]
    got = [(d, _plain(t)) for d, t, _ in outline if (d, _plain(t)) in set(want)]
    missing = [e for e, w in zip(expected, want) if w not in got]
    assert not missing, f"{len(missing)} of {len(expected)} items not in the outline: {missing[:5]}"
    assert not ordered or got == want, f"outline order: {got} != {want}"
    wrong = [(t, p + 1) for d, t, p in outline if _plain(t) not in _plain(pages[p])]
    assert not wrong, f"{len(wrong)} outline items open a page without their title: {wrong[:5]}"


def check_links(pages: list[str], links, titles: dict[str, str], first_pages: dict[int, str]) -> int:
    """Every named link has a destination, and a link to a heading in ``titles`` (destination → title)
    opens the page showing it; returns how many of those cross from one chunk (``first_pages``: first
    page of each chapter) into another."""
    dangling = [(p + 1, name) for p, name, target in links if target < 0]
    assert not dangling, f"links without a destination: {dangling[:5]}"
    chunk = lambda page: max((p for p in first_pages if p <= page), default=-1)   # noqa: E731
    checked = [(p, name, target) for p, name, target in links if name in titles]
    wrong = [(p + 1, name, target + 1) for p, name, target in checked
             if _plain(titles[name]) not in _plain(pages[target])]
    assert not wrong, f"links open a page without their target's title: {wrong[:5]}"
    return sum(chunk(p) != chunk(target) for p, _, target in checked)


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


def _expected_outline(lang: str) -> list[tuple[int, str]]:
    """Chapter (depth 0) > page (1) > question (2), for every chapter and question in docs/."""
    out = []
    for row in handbook.chapters(ROOT):
        pages = [p for p in handbook.iter_pages(ROOT / "docs" / row["slug"], lang)
                 if not p.is_index] if (ROOT / "docs" / row["slug"]).is_dir() else []
        if pages:
            out.append((0, row[lang]))
        for page in pages:
            out += [(2, q.title) for q in page.questions]
    return out


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_outline_opens_the_right_pages(pdfs, lang):
    # Pages print in the order of the nav, not of the file names: only the presence is checked here.
    check_outline(pdfs[lang], _pages(pdfs[lang]), _expected_outline(lang), ordered=False)


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_links_land_on_their_targets(pdfs, lang):
    pages = _pages(pdfs[lang])
    titles = {f"{p.rel.replace('/', '-')}-{q.id}": q.title for p in handbook.iter_pages(ROOT / "docs", lang)
              if p.chapter and not p.is_index for q in p.questions}
    chapters = {row[lang] for row in handbook.chapters(ROOT)}
    first_pages = {p: t for d, t, p in _outline(pdfs[lang]) if d == 0 and t in chapters}
    across = check_links(pages, _links(pdfs[lang]), titles, first_pages)
    assert across > 0, "no link from one chapter to a question of another"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_page_numbers_run_through(pdfs, lang):
    check_folios(_pages(pdfs[lang]))


# ------------------------------------------------------------------ the same on a three-chapter print page

@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    """tests/fixtures/print_mini printed by tools/print_pdf.py: (pdf, chunk folder, served url)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(MINI)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    work = tmp_path_factory.mktemp("print_mini")
    out = work / "mini.pdf"
    print_pdf.print_pdf(f"http://127.0.0.1:{httpd.server_address[1]}/", out, work=work)
    yield out, work
    httpd.shutdown()


MINI_OUTLINE = [(0, "Alpha chapter"), (1, "Alpha page"), (2, "What is alpha first?"), (2, "What is alpha second?"),
                (0, "Beta chapter"), (1, "Beta page"), (2, "What is beta first?"), (2, "What is beta second?"),
                (0, "Glossary"), (1, "Terms")]
MINI_TITLES = {"alpha-one-second": "What is alpha second?", "beta-one-first": "What is beta first?",
               "section-2": "Alpha chapter", "section-3": "Beta chapter"}


def test_mini_is_printed_in_chunks_and_joined(mini):
    pdf, work = mini
    chunks = sorted(work.glob("chunk-*.pdf"))
    assert len(chunks) == 3, chunks                  # cover + contents, alpha, beta + glossary
    pages = _pages(pdf)
    assert len(pages) >= 6, len(pages)
    assert [(d, t) for d, t, _ in _outline(pdf)] == MINI_OUTLINE
    check_outline(pdf, pages, MINI_OUTLINE)
    check_folios(pages)
    first_pages = {p: t for d, t, p in _outline(pdf) if d == 0}
    links = _links(pdf)
    assert {name for _, name, _ in links} >= set(MINI_TITLES), links
    assert check_links(pages, links, MINI_TITLES, first_pages) == 4   # both TOC links, alpha → beta, beta → alpha
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "Type 3" not in fonts and "DejaVuSans" in fonts, fonts


def test_join_names_a_link_to_a_chunk_not_printed(mini, tmp_path):
    _, work = mini
    chunks = sorted(work.glob("chunk-*.pdf"))
    with pytest.raises(print_pdf.PrintError, match=r"beta-one-first \(linked from chunk-001.pdf, page \d+\)"):
        print_pdf.join(chunks[:2], work / "folios.pdf", [], tmp_path / "out.pdf")


def test_join_names_an_outline_entry_without_destination(mini, tmp_path):
    _, work = mini
    entry = print_pdf.Entry(level=2, title="Lost question", dest="no-such-id")
    with pytest.raises(print_pdf.PrintError, match=r"'Lost question': no destination #no-such-id"):
        print_pdf.join(sorted(work.glob("chunk-*.pdf")), work / "folios.pdf", [entry], tmp_path / "out.pdf")


def test_join_rejects_folios_that_do_not_match(mini, tmp_path):
    _, work = mini
    chunks = sorted(work.glob("chunk-*.pdf"))
    with pytest.raises(print_pdf.PrintError, match=r"chunk-000.pdf: 2 folio pages for \d+ pages"):
        print_pdf.join(chunks, chunks[0], [], tmp_path / "out.pdf")


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


def _programs(pdf: Path) -> dict[str, list[bytes]]:
    """The embedded TrueType programs of ``pdf`` by font name (without the subset prefix)."""
    from pypdf import PdfReader

    out: dict[str, dict[int, bytes]] = {}
    for page in PdfReader(pdf).pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            for cid in font.get_object().get("/DescendantFonts") or []:
                descriptor = cid.get_object()["/FontDescriptor"].get_object()
                ref = descriptor.raw_get("/FontFile2")
                out.setdefault(str(descriptor["/FontName"]).split("+")[-1], {})[ref.idnum] = ref.get_object().get_data()
    return {name: list(programs.values()) for name, programs in out.items()}


def test_union_font_keeps_every_glyph_of_every_subset(mini):
    from io import BytesIO

    from fontTools.ttLib import TTFont

    _, work = mini
    subsets = [p for chunk in sorted(work.glob("chunk-*.pdf")) for p in _programs(chunk)["DejaVuSans"]]
    assert len(subsets) == 3
    union = TTFont(BytesIO(print_pdf.union_font(subsets)))
    drawn = lambda font: {i for i, name in enumerate(font.getGlyphOrder())          # noqa: E731
                          if font["glyf"][name].numberOfContours != 0}
    have = drawn(union)
    for subset in map(lambda p: TTFont(BytesIO(p)), subsets):
        assert drawn(subset) <= have
        assert len(drawn(subset)) < len(have)                 # no one subset has them all
    # The joined PDF carries one DejaVuSans program, shared by the three chunks' font dictionaries.
    assert len(_programs(mini[0])["DejaVuSans"]) == 1


def test_union_font_refuses_subsets_of_different_fonts(mini):
    _, work = mini
    programs = _programs(sorted(work.glob("chunk-*.pdf"))[1])
    assert print_pdf.union_font([programs["DejaVuSans"][0], programs["DejaVuSans-Bold"][0]]) is None
