"""`make anki` (tools/anki.py): the Anki decks and the CSV/TSV files, read back independently of genanki —
the .apkg is opened as a zip holding an SQLite collection, the spreadsheets with the csv module — and
compared with the question records the site's questions.json is made from."""
from __future__ import annotations

import copy
import csv
import html
import re
import sqlite3
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import anki  # noqa: E402

BASE = "https://example.org/handbook/"
FIELD_SEP = "\x1f"      # Anki joins a note's fields with the unit separator


@pytest.fixture(scope="module")
def recs():
    return anki.records()


@pytest.fixture(scope="module")
def out(tmp_path_factory, recs):
    folder = tmp_path_factory.mktemp("anki")
    for lang in ("zh", "en"):
        anki.write(lang, folder, recs, BASE)
    return folder


def _notes(apkg: Path, tmp: Path) -> tuple[list[dict], dict]:
    with zipfile.ZipFile(apkg) as z:
        names = z.namelist()
        db = next(n for n in ("collection.anki21", "collection.anki2") if n in names)
        z.extract(db, tmp)
    con = sqlite3.connect(tmp / db)
    try:
        notes = [{"guid": g, "mid": mid, "fields": flds.split(FIELD_SEP), "tags": tags.split()}
                 for g, mid, flds, tags in con.execute("select guid, mid, flds, tags from notes order by id")]
        cards = con.execute("select count(*) from cards").fetchone()[0]
        models, decks = con.execute("select models, decks from col").fetchone()
    finally:
        con.close()
    return notes, {"cards": cards, "models": models, "decks": decks}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_deck_has_one_note_per_question(out, recs, tmp_path, lang):
    notes, col = _notes(out / f"handbook-{lang}.apkg", tmp_path)
    with zipfile.ZipFile(out / f"handbook-{lang}.apkg") as z:
        assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}     # a quarter of the size
    mine = [r for r in recs if lang in r["title"]]
    assert len(notes) == len(mine) == col["cards"] > 400
    assert str(anki.DECK_ID[lang]) in col["decks"] and str(anki.MODEL_ID[lang]) in col["models"]
    by_id = {n["fields"][anki.FIELDS.index("Id")]: n for n in notes}
    assert sorted(by_id) == sorted(r["id"] for r in mine)
    titles = anki.chapter_titles(lang)
    for r in mine:
        n = by_id[r["id"]]
        f = dict(zip(anki.FIELDS, n["fields"]))
        assert n["guid"] == anki.note_guid(r["id"], lang)
        assert n["mid"] == anki.MODEL_ID[lang]
        # the fields are HTML: unescaping them and undoing the MathJax delimiters gives the source text back
        for field, source in (("Question", r["title"][lang]), ("ShortAnswer", r["short_answer"][lang])):
            text = html.unescape(re.sub(r"\\\((.*?)\\\)", r"$\1$", f[field]))
            assert text == source.replace("\\$", "$"), (r["id"], field)
            assert "<" not in re.sub(r"\\\(.*?\\\)", "", f[field]), (r["id"], field)  # no raw markup
        assert f["Chapter"] == html.escape(titles[r["chapter"]])
        assert f["Difficulty"].startswith(anki.STARS[r["difficulty"]])
        assert f'href="{BASE}{r["url"][lang]}"' in f["Link"]
        assert r["url"][lang].split("#")[1] == r["id"]
        # tags: chapter, difficulty, and every topic tag with spaces turned into "_" (Anki splits on spaces)
        assert n["tags"][:2] == [f"chapter::{r['chapter']}", f"difficulty::{r['difficulty']}"]
        assert set(n["tags"][2:]) == {t.replace(" ", "_") for t in r["tags"][lang]}
        assert all(" " not in t for t in n["tags"])
    spaced = [r for r in mine if any(" " in t for t in r["tags"][lang])]
    assert spaced, "no topic tag with a space: the tag check above proved nothing"


def test_math_and_escaping():
    assert anki.to_html("If $a<b$ and x & y, then $$\\sum_i x_i$$.") == \
        "If \\(a&lt;b\\) and x &amp; y, then \\[\\sum_i x_i\\]."
    # prices are prose, not math (arithmatex's smart dollars): "$9.00 ... $1.41" stays as it is
    assert anki.to_html("costs $9.00 uncached and about $1.41 cached") == "costs $9.00 uncached and about $1.41 cached"
    assert anki.to_html('a <script>"x"</script> \\$5') == 'a &lt;script&gt;"x"&lt;/script&gt; $5'
    assert anki.anki_tag("Position  encoding") == "Position_encoding"


def test_guids_survive_new_text_and_differ_between_ids(recs, tmp_path):
    """Re-generating a deck after the text changed keeps every note's GUID (so Anki updates the notes);
    different question ids, and the two languages of one question, never share a GUID."""
    changed = copy.deepcopy(recs[:20])
    for r in changed:
        r["title"]["en"] += " (rewritten)"
        r["short_answer"]["en"] = "A new short answer with $x^2$."
        r["difficulty"] = 3
        r["tags"]["en"] = ["Something else"]
    anki.write("en", tmp_path / "old", recs[:20], BASE)
    anki.write("en", tmp_path / "new", changed, BASE)
    old, _ = _notes(tmp_path / "old" / "handbook-en.apkg", tmp_path / "o")
    new, _ = _notes(tmp_path / "new" / "handbook-en.apkg", tmp_path / "n")
    assert [n["guid"] for n in old] == [n["guid"] for n in new]
    assert [n["fields"][0] for n in old] != [n["fields"][0] for n in new]
    guids = {anki.note_guid(r["id"], lang) for r in recs for lang in ("zh", "en")}
    assert len(guids) == 2 * len(recs)
    assert anki.note_guid("rmsnorm-formula", "en") == anki.note_guid("rmsnorm-formula", "en")


def test_ids_are_fixed():
    """Deck and note-type ids are constants: a newer deck lands in the same deck with the same note type."""
    assert len({*anki.DECK_ID.values(), *anki.MODEL_ID.values()}) == 4
    assert all(1 << 30 <= i < 1 << 31 for i in [*anki.DECK_ID.values(), *anki.MODEL_ID.values()])
    assert anki.stable_id("llm-interview-handbook deck en") == anki.DECK_ID["en"]


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("suffix, delimiter, encoding", [(".csv", ",", "utf-8-sig"), (".tsv", "\t", "utf-8")])
def test_csv_and_tsv_match_the_records(out, recs, lang, suffix, delimiter, encoding):
    path = out / f"handbook-{lang}{suffix}"
    with path.open(encoding=encoding, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=delimiter))
    if suffix == ".csv":
        assert path.read_bytes().startswith(b"\xef\xbb\xbf")      # the BOM spreadsheet programs need
    mine = [r for r in recs if lang in r["title"]]
    assert len(rows) == len(mine)
    for row, r in zip(rows, mine):
        assert row["id"] == r["id"] and row["chapter"] == r["chapter"] and row["page"] == r["page"]
        assert row["difficulty"] == str(r["difficulty"])
        assert row["question"] == r["title"][lang] and row["short_answer"] == r["short_answer"][lang]
        assert row["url"] == BASE + r["url"][lang]
        assert row["tags"].split("; ") == r["tags"][lang]


def test_site_url(monkeypatch, capsys):
    monkeypatch.setenv("SITE_URL", "https://example.org/hb")
    assert anki.site_url() == "https://example.org/hb/"
    monkeypatch.delenv("SITE_URL")
    assert anki.site_url() == anki.DEFAULT_SITE_URL == "http://127.0.0.1:8000/"
    assert "SITE_URL is not set" in capsys.readouterr().err


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_card_renders_in_chromium(browser, recs, tmp_path, lang):
    """A card's front and back, the note type's templates applied to a note with its CSS, in Chromium:
    the front shows the question and not the answer, the back both; every formula typesets (KaTeX stands
    in for Anki's MathJax, with the same \\( \\) delimiters) and nothing is fetched from another host."""
    qid = "kd-temperature-t-squared"          # math in the title and the short answer, and a ">" to escape
    path = anki.preview(qid, lang, tmp_path, recs, BASE)
    context = browser.new_context()
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:")) else None)
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_selector(".katex")
    front, back = page.locator("section > .card").all()
    rec = next(r for r in recs if r["id"] == qid)
    assert page.locator(".katex-error").count() == 0
    assert "\\(" not in page.inner_text("body") and "$" not in page.inner_text("body")
    assert front.locator(".hb-question .katex").count() == 1 and front.locator(".hb-short").count() == 0
    assert back.locator(".hb-short .katex").count() >= 5
    assert back.locator(".hb-link a").get_attribute("href") == BASE + rec["url"][lang]
    assert anki.chapter_titles(lang)["compression"] in front.inner_text()
    box = back.bounding_box()
    assert box and box["height"] > front.bounding_box()["height"]
    page.screenshot(path=str(tmp_path / f"anki-{lang}.png"), full_page=True)
    context.close()
    assert outside == []
