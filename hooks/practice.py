"""The practice page (练习 / Practice): a drill scheduled by FSRS and a mock interview, in the browser.

- In every build (site and offline edition), writes ``assets/practice/questions.<lang>.js``: one
  script per language that sets ``window.HB_PRACTICE`` to that language's chapters and questions
  (id, chapter, difficulty, title, tags, short answer, URL of the full answer). A script and not
  JSON because pages opened from file:// (the offline edition) cannot fetch; the URLs are relative
  to the site root and follow the build's URL style (``norms/rmsnorm/#id`` on the site,
  ``norms/rmsnorm.html#id`` in the offline edition).
- ``<!-- practice -->`` in a page is replaced by the element the page's script fills
  (``assets/javascripts/practice.js``), with the relative path to the site root.
- The titles' and short answers' ``$...$`` are typeset at build time, like every formula of the site
  (``hooks/formulas.py``): each question also has ``title_html`` / ``answer_html`` (text escaped, math as
  KaTeX's HTML), which ``practice.js`` shows; no KaTeX script runs.
- On that page only, adds its stylesheet, KaTeX's stylesheet (the formulas' fonts), the language's
  question script, the self-hosted ts-fsrs (``assets/vendor/ts-fsrs``) and ``practice.js``.
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

import formulas
import handbook

MARKER = "<!-- practice -->"
ROOT_CLASS = 'class="hb-practice"'
NOSCRIPT = {"zh": "练习页需要 JavaScript。", "en": "The practice page needs JavaScript."}


def question_url(record: dict, lang: str, directory_urls: bool = True) -> str:
    """Site-root-relative URL of a question's full answer, in the build's URL style."""
    prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
    path = record["page"] + ("/" if directory_urls else ".html")
    return f"{prefix}{path}#{record['id']}"


def _where(record: dict, lang: str, root: Path):
    """(source file for errors, CSS class of the formulas' spans, source file) of a question."""
    path = root / "docs" / f"{record['page']}.{lang}.md"
    return f"docs/{record['page']}.{lang}.md", "hb-practice__math", path


def deck(records: list[dict], root: Path, lang: str, directory_urls: bool = True) -> dict:
    """What ``questions.<lang>.js`` holds: the chapters that have questions, and every question."""
    present = {r["chapter"] for r in records}
    chapters = [{"slug": row["slug"], "title": row[lang]} for row in handbook.chapters(root)
                if row["slug"] in present]
    questions = [{"id": r["id"], "chapter": r["chapter"], "difficulty": r["difficulty"],
                  "title": r["title"][lang], "tags": r["tags"][lang], "answer": r["short_answer"][lang],
                  "title_html": formulas.typeset_text(r["title"][lang], *_where(r, lang, root)),
                  "answer_html": formulas.typeset_text(r["short_answer"][lang], *_where(r, lang, root)),
                  "url": question_url(r, lang, directory_urls)}
                 for r in records if lang in r["title"]]
    return {"lang": lang, "chapters": chapters, "questions": questions}


@event_priority(-210)          # after hooks/questions.py has added questions.json (-200)
def on_files(files: Files, config) -> Files:
    generated = files.get_file_from_path("questions.json")
    if generated is not None and generated.content_string:
        records = json.loads(generated.content_string)["questions"]
    else:
        records = handbook.question_records(Path(config.docs_dir), handbook.repo_root(config))
    root = handbook.repo_root(config)
    for lang in handbook.LANGS:
        data = json.dumps(deck(records, root, lang, config.use_directory_urls), ensure_ascii=False,
                          separators=(",", ":"))
        files.append(File.generated(config, f"assets/practice/questions.{lang}.js",
                                    content=f"window.HB_PRACTICE = {data};\n"))
    return files


def _base(page) -> str:
    """Relative path from the page to the site root ("../" for practice/, "" for practice.html)."""
    rel = posixpath.relpath(".", posixpath.dirname(page.url) or ".")
    return "" if rel == "." else rel + "/"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    lang = handbook.build_language(config)
    element = (f'<div {ROOT_CLASS} data-base="{_base(page)}" data-lang="{lang}">'
               f'<noscript><p>{NOSCRIPT[lang]}</p></noscript></div>')
    return markdown.replace(MARKER, element)


@event_priority(-100)          # after hooks/assets.py has dropped KaTeX's CSS from pages without a formula
def on_post_page(output: str, page, config) -> str:
    if ROOT_CLASS not in output:
        return output
    base, lang = _base(page), handbook.build_language(config)
    css = f'<link rel="stylesheet" href="{base}assets/stylesheets/practice.css">\n'
    if "assets/vendor/katex/katex.min.css" not in output:
        css = f'<link rel="stylesheet" href="{base}assets/vendor/katex/katex.min.css">\n' + css
    # deferred like every other script (hooks/assets.py), so they still run after Material's bundle
    scripts = "".join(f'<script src="{base}{src}" defer></script>\n' for src in (
        f"assets/practice/questions.{lang}.js", "assets/vendor/ts-fsrs/ts-fsrs.umd.js",
        "assets/javascripts/practice.js"))
    output = output.replace("</head>", css + "</head>", 1)
    head, sep, tail = output.rpartition("</body>")
    return head + scripts + sep + tail
