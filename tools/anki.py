"""Anki decks and spreadsheets of every question: ``make anki``.

    python tools/anki.py                 # both languages, into the repository root
    python tools/anki.py en --out DIR    # one language, somewhere else

For each language it writes

- ``handbook-<lang>.apkg``: an Anki deck (genanki), one note per question. Front: the question, its
  chapter and difficulty. Back: the short answer and a link to the full answer on the site. Tags: the
  chapter (``chapter::<slug>``), the difficulty (``difficulty::1..3``) and the page's topic tags.
- ``handbook-<lang>.csv`` (UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese) and
  ``handbook-<lang>.tsv`` (UTF-8, tab-separated): the same questions as plain-text rows.

The records come straight from the Markdown in ``docs/`` (``handbook.question_records``, the same list
the site's ``questions.json`` is made from); no site build is needed.

Stable identities, so that importing a newer deck updates the cards a reader already studies instead of
adding duplicates: the deck and note-type ids are fixed numbers derived from fixed names; each note's
GUID is derived from the question id and the language only (``genanki.guid_for``), never from its text.
Zh and en notes of the same question have different GUIDs, so both decks can live in one collection.

Links are absolute: ``SITE_URL`` (the same variable ``mkdocs.yml`` reads; the deploy workflow sets it to
the published site) plus the question's URL. When ``SITE_URL`` is not set the links fall back to
mkdocs.yml's default, ``http://127.0.0.1:8000/`` (``make serve``), and a note says so on stderr.

Math in titles and short answers is kept as TeX and converted from the handbook's ``$...$`` /
``$$...$$`` to ``\\(...\\)`` / ``\\[...\\]``, the delimiters Anki's built-in MathJax typesets. Text is
HTML-escaped before it goes into a field (Anki fields are HTML).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import html
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hooks"))
import handbook  # noqa: E402

DEFAULT_SITE_URL = "http://127.0.0.1:8000/"      # mkdocs.yml: site_url: !ENV [SITE_URL, "http://127.0.0.1:8000/"]
STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}
TEXT = {
    "zh": {"deck": "大模型面试手册", "model": "大模型面试手册 · 问答", "levels": {1: "基础", 2: "进阶", 3: "高级"},
           "link": "阅读完整答案", "difficulty": "难度"},
    "en": {"deck": "LLM Interview Handbook", "model": "LLM Interview Handbook · Q&A",
           "levels": {1: "basic", 2: "intermediate", 3: "advanced"}, "link": "Read the full answer",
           "difficulty": "Difficulty"},
}
FIELDS = ["Question", "Chapter", "Difficulty", "ShortAnswer", "Link", "Id"]
CSV_COLUMNS = ["id", "chapter", "chapter_title", "page", "difficulty", "question", "short_answer", "url", "tags"]

FRONT = """<div class="hb-meta"><span class="hb-chapter">{{Chapter}}</span> · <span class="hb-level">{{Difficulty}}</span></div>
<div class="hb-question">{{Question}}</div>"""
BACK = """{{FrontSide}}
<hr id="answer">
<div class="hb-short">{{ShortAnswer}}</div>
<div class="hb-link">{{Link}}</div>"""
CSS = """.card { font-family: -apple-system, "Segoe UI", Roboto, "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei",
  sans-serif; font-size: 18px; line-height: 1.55; color: #1f2328; background: #fff; text-align: left;
  max-width: 42em; margin: 0 auto; padding: 0 .5em; }
.hb-meta { font-size: 13px; color: #57606a; margin-bottom: .6em; }
.hb-level { color: #ef6c00; }
.hb-question { font-size: 21px; font-weight: 600; }
hr#answer { border: 0; border-top: 1px solid #d0d7de; margin: 1em 0; }
.hb-short { border-left: 4px solid #3f51b5; background: #f3f4fb; padding: .6em .8em; border-radius: 4px; }
.hb-link { margin-top: .9em; font-size: 15px; }
.hb-link a { color: #3f51b5; }
.nightMode.card, .night_mode .card { color: #e6edf3; background: #1e1e1e; }
.nightMode .hb-meta, .night_mode .hb-meta { color: #9da7b3; }
.nightMode .hb-short, .night_mode .hb-short { background: #262a40; border-left-color: #7986cb; }
.nightMode .hb-link a, .night_mode .hb-link a { color: #9fa8da; }
"""

# The handbook's inline math is pymdownx.arithmatex's "smart dollar" form: $x$ with no space just inside
# the dollars, so "$9.00 ... about $1.41" is prose, not math. \$ is a literal dollar.
DISPLAY_MATH_RE = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
INLINE_MATH_RE = re.compile(r"(?<!\\)\$(?!\s)((?:\\.|[^\\$])+?)(?<!\s)\$")


def stable_id(name: str) -> int:
    """A fixed id for a deck or note type, from its name: in [2**30, 2**31) as genanki suggests."""
    return (1 << 30) + int(hashlib.sha256(name.encode("utf-8")).hexdigest(), 16) % (1 << 30)


DECK_ID = {lang: stable_id(f"llm-interview-handbook deck {lang}") for lang in handbook.LANGS}
MODEL_ID = {lang: stable_id(f"llm-interview-handbook model {lang} v1") for lang in handbook.LANGS}


def note_guid(qid: str, lang: str) -> str:
    """The note's GUID: from the question id and the language only, so a newer deck updates the note."""
    import genanki

    return genanki.guid_for("llm-interview-handbook", lang, qid)


def site_url() -> str:
    url = os.environ.get("SITE_URL") or ""
    if not url:
        print(f"anki: SITE_URL is not set; card links point at {DEFAULT_SITE_URL} (make serve). "
              "Set SITE_URL to the published site for decks to share.", file=sys.stderr)
        url = DEFAULT_SITE_URL
    return url if url.endswith("/") else url + "/"


def to_html(text: str) -> str:
    """Plain text with $...$ TeX → HTML for an Anki field: escaped, math in MathJax delimiters."""
    out, pos = [], 0
    pattern = re.compile(f"{DISPLAY_MATH_RE.pattern}|{INLINE_MATH_RE.pattern}", re.S)
    for m in pattern.finditer(text):
        out.append(html.escape(text[pos:m.start()].replace("\\$", "$"), quote=False))
        if m.group(1) is not None:
            out.append("\\[" + html.escape(m.group(1), quote=False) + "\\]")
        else:
            out.append("\\(" + html.escape(m.group(2), quote=False) + "\\)")
        pos = m.end()
    out.append(html.escape(text[pos:].replace("\\$", "$"), quote=False))
    return "".join(out)


def anki_tag(tag: str) -> str:
    """Anki tags are separated by spaces: a space inside a tag becomes "_"."""
    return "_".join(tag.split())


def chapter_titles(lang: str) -> dict[str, str]:
    return {row["slug"]: row[lang] for row in handbook.chapters(ROOT)}


def records(docs: Path | None = None) -> list[dict]:
    return handbook.question_records(docs or ROOT / "docs", ROOT)


def note_fields(rec: dict, lang: str, base: str, titles: dict[str, str]) -> list[str]:
    level = rec["difficulty"]
    url = base + rec["url"][lang]
    text = TEXT[lang]
    difficulty = f"{STARS[level]} {text['levels'][level]}" if level else ""
    link = f'<a href="{html.escape(url, quote=True)}">{html.escape(text["link"])}</a>'
    return [to_html(rec["title"][lang]), html.escape(titles.get(rec["chapter"], rec["chapter"])),
            html.escape(difficulty), to_html(rec["short_answer"][lang]), link, html.escape(rec["id"])]


def note_tags(rec: dict, lang: str) -> list[str]:
    tags = [f"chapter::{rec['chapter']}"]
    if rec["difficulty"]:
        tags.append(f"difficulty::{rec['difficulty']}")
    for tag in rec["tags"].get(lang, []):
        t = anki_tag(tag)
        if t and t not in tags:
            tags.append(t)
    return tags


def model(lang: str):
    import genanki

    return genanki.Model(
        MODEL_ID[lang], TEXT[lang]["model"],
        fields=[{"name": name} for name in FIELDS],
        templates=[{"name": "Card 1", "qfmt": FRONT, "afmt": BACK}],
        css=CSS)


def deck(recs: list[dict], lang: str, base: str):
    import genanki

    d = genanki.Deck(DECK_ID[lang], TEXT[lang]["deck"])
    m = model(lang)
    titles = chapter_titles(lang)
    for rec in recs:
        if lang not in rec["title"]:
            continue
        d.add_note(genanki.Note(model=m, fields=note_fields(rec, lang, base, titles),
                                tags=note_tags(rec, lang), guid=note_guid(rec["id"], lang)))
    return d


def rows(recs: list[dict], lang: str, base: str) -> list[dict[str, str]]:
    titles = chapter_titles(lang)
    return [{"id": r["id"], "chapter": r["chapter"], "chapter_title": titles.get(r["chapter"], r["chapter"]),
             "page": r["page"], "difficulty": str(r["difficulty"] or ""), "question": r["title"][lang],
             "short_answer": r["short_answer"][lang], "url": base + r["url"][lang],
             "tags": "; ".join(r["tags"].get(lang, []))}
            for r in recs if lang in r["title"]]


def deflate(apkg: Path) -> None:
    """genanki stores the collection uncompressed; Anki reads deflated packages (its own exports are),
    and the SQLite file shrinks to about a quarter."""
    import zipfile

    with zipfile.ZipFile(apkg) as z:
        members = [(info.filename, z.read(info)) for info in z.infolist()]
    with zipfile.ZipFile(apkg, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members:
            z.writestr(name, data)


def write(lang: str, out: Path, recs: list[dict] | None = None, base: str | None = None) -> list[Path]:
    import genanki

    recs = records() if recs is None else recs
    base = site_url() if base is None else base
    out.mkdir(parents=True, exist_ok=True)
    apkg = out / f"handbook-{lang}.apkg"
    genanki.Package(deck(recs, lang, base)).write_to_file(str(apkg))
    deflate(apkg)
    table = rows(recs, lang, base)
    written = [apkg]
    for suffix, delimiter, encoding in ((".csv", ",", "utf-8-sig"), (".tsv", "\t", "utf-8")):
        path = out / f"handbook-{lang}{suffix}"
        with path.open("w", encoding=encoding, newline="") as f:
            w = csv.DictWriter(f, fieldnames=CSV_COLUMNS, delimiter=delimiter, lineterminator="\r\n"
                               if suffix == ".csv" else "\n")
            w.writeheader()
            w.writerows(table)
        written.append(path)
    return written


def render(template: str, fields: dict[str, str]) -> str:
    """Apply a card template the way Anki does for the plain ``{{Field}}`` / ``{{FrontSide}}`` it uses."""
    return re.sub(r"{{(\w+)}}", lambda m: fields[m.group(1)], template)


def preview(qid: str, lang: str, out: Path, recs: list[dict] | None = None, base: str | None = None) -> Path:
    """``anki-card-<lang>.html``: one note's front and back, rendered from the note type's templates and
    CSS, as Anki's reviewer shows them (body.card). Anki typesets \\( \\) with its own MathJax; here
    the handbook's self-hosted KaTeX (auto-render, the same delimiters) stands in for it."""
    recs = records() if recs is None else recs
    base = site_url() if base is None else base
    rec = next(r for r in recs if r["id"] == qid)
    fields = dict(zip(FIELDS, note_fields(rec, lang, base, chapter_titles(lang))))
    front = render(FRONT, fields)
    back = render(BACK, {**fields, "FrontSide": front})
    katex = ROOT / "docs" / "assets" / "vendor" / "katex"
    sides = "".join(f'<section><h6>{name}</h6><div class="card">{body}</div></section>'
                    for name, body in (("front", front), ("back", back)))
    page = f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(qid)}</title>
<link rel="stylesheet" href="{(katex / 'katex.min.css').as_uri()}">
<style>{CSS}
body {{ margin: 0; padding: 16px; background: #e9eaee; display: flex; gap: 16px; align-items: flex-start;
  font-family: sans-serif; }}
section {{ width: 460px; }} h6 {{ margin: 0 0 6px; font-size: 12px; color: #555; text-transform: uppercase; }}
section > .card {{ padding: 20px; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.2); min-height: 260px; }}
</style></head>
<body>{sides}
<script src="{(katex / 'katex.min.js').as_uri()}"></script>
<script src="{(katex / 'auto-render.min.js').as_uri()}"></script>
<script>renderMathInElement(document.body, {{delimiters: [{{left: "\\\\[", right: "\\\\]", display: true}},
  {{left: "\\\\(", right: "\\\\)", display: false}}], throwOnError: false}});</script>
</body></html>
"""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"anki-card-{lang}.html"
    path.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("langs", nargs="*", metavar="LANG", help=f"one or more of {', '.join(handbook.LANGS)} (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT)
    parser.add_argument("--preview", metavar="QUESTION_ID",
                        help="instead of the decks, write anki-card-<lang>.html: that note's card, front and back")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.langs) - set(handbook.LANGS))
    if unknown:
        parser.error(f"unknown language(s): {', '.join(unknown)}")
    recs, base = records(), site_url()
    if args.preview:
        for lang in args.langs or list(handbook.LANGS):
            print(preview(args.preview, lang, args.out, recs, base))
        return
    for lang in args.langs or list(handbook.LANGS):
        for path in write(lang, args.out, recs, base):
            print(f"{path.name}: {path.stat().st_size:,} bytes")
        print(f"  {sum(lang in r['title'] for r in recs)} questions ({lang})")


if __name__ == "__main__":
    main()
