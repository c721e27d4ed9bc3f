"""Question lists generated from the pages themselves (no hand-kept lists).

- Before the build, the content model of ``docs/`` is checked (``handbook.check_docs``); a
  broken page stops the build with ``path:line: message`` for every problem.
- ``<!-- question-index -->`` in a page is replaced by a table of every question of the language
  being built: title (linked to its anchor, its ``$...$`` typeset by ``hooks/formulas.py``), chapter,
  difficulty, page; readers filter it in the browser by chapter, difficulty and tag
  (``assets/javascripts/question-index.js``).
- ``<!-- questions -->`` in a chapter's ``index`` page is replaced by that chapter's pages and
  their questions.
- ``questions.json`` at the site root (a generated file) lists every question once, with both
  languages' titles and URLs, its chapter, difficulty and tags.
"""
from __future__ import annotations

import json
import posixpath
from html import escape
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

import formulas
import handbook

STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}
LABELS = {
    "zh": {"question": "问题", "difficulty": "难度", "page": "页面", "chapter": "章节", "tag": "标签",
           "all": "全部", "count": "显示 {shown} / {total} 题", 1: "基础", 2: "进阶", 3: "高级"},
    "en": {"question": "Question", "difficulty": "Difficulty", "page": "Page", "chapter": "Chapter", "tag": "Tag",
           "all": "All", "count": "Showing {shown} of {total} questions",
           1: "basic", 2: "intermediate", 3: "advanced"},
}


def _root(config) -> Path:
    return handbook.repo_root(config)


def on_pre_build(config) -> None:
    problems = handbook.check_docs(Path(config.docs_dir), _root(config))
    if problems:
        raise PluginError("The handbook's content model is broken:\n  " + "\n  ".join(problems))


def _difficulty(lang: str, level: int | None) -> str:
    if level is None:
        return ""
    return f'<span class="hb-difficulty" data-level="{level}" title="{LABELS[lang][level]}">{STARS[level]}</span>'


def _chapter_pages(docs: Path, lang: str, chapter: str) -> list[handbook.Page]:
    pages = [p for p in handbook.iter_pages(docs / chapter, lang) if not p.is_index]
    for p in pages:                      # iter_pages was rooted at the chapter folder
        p.rel = f"{chapter}/{p.rel}"
    return sorted(pages, key=lambda p: (int(p.meta.get("order", 100)), p.rel))


def _link(from_rel: str, target_rel: str, anchor: str = "") -> str:
    """Relative Markdown link from one source page to another (MkDocs resolves ``.md`` links)."""
    href = posixpath.relpath(target_rel + ".md", posixpath.dirname(from_rel) or ".")
    return href + (f"#{anchor}" if anchor else "")


def _url(from_rel: str, page: handbook.Page, anchor: str = "", directory_urls: bool = True) -> str:
    """Relative URL from a source page to another page of the same language."""
    frag = f"#{anchor}" if anchor else ""
    if not directory_urls:             # the offline edition: norms/rmsnorm.html
        return posixpath.relpath(page.rel + ".html", posixpath.dirname(from_rel) or ".") + frag
    here = posixpath.dirname(from_rel) if from_rel.endswith("index") else from_rel
    there = page.rel[: -len("index")].rstrip("/") if page.is_index else page.rel
    href = posixpath.relpath(there or ".", here or ".")
    return (href if href.endswith("/") else href + "/") + frag


def _question_index(docs: Path, root: Path, lang: str, from_rel: str, directory_urls: bool = True) -> str:
    """One table of every question, with filters by chapter, difficulty and tag (``question-index.js``)."""
    labels = LABELS[lang]
    rows, chapters, tags = [], [], set()
    for row in handbook.chapters(root):
        pages = _chapter_pages(docs, lang, row["slug"]) if (docs / row["slug"]).is_dir() else []
        questions = [(p, q) for p in pages for q in p.questions]
        if questions:
            chapters.append((row["slug"], row[lang]))
        for page, q in questions:
            page_tags = [str(t) for t in page.meta.get("tags") or []]
            tags.update(page_tags)
            rows.append(
                f'<tr data-chapter="{row["slug"]}" data-difficulty="{q.difficulty or ""}" '
                f'data-tags="{escape("|".join(page_tags))}">'
                f'<td><a href="{_url(from_rel, page, q.id, directory_urls)}">'
                f'{formulas.typeset_text(q.title, handbook._loc(page, q.line, root))}</a></td>'
                f'<td>{escape(row[lang])}</td><td>{_difficulty(lang, q.difficulty)}</td>'
                f'<td><a href="{_url(from_rel, page, "", directory_urls)}">{escape(page.title or page.rel)}</a></td></tr>')

    def select(name: str, options: list[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in options)
        return (f'<label>{labels[name]} <select data-filter="{name}">'
                f'<option value="">{labels["all"]}</option>{opts}</select></label>')

    levels = [(str(n), f"{STARS[n]} {labels[n]}") for n in (1, 2, 3)]
    return "\n".join([
        '<div class="hb-qindex">',
        '<div class="hb-qindex__filters">',
        select("chapter", chapters), select("difficulty", levels),
        select("tag", [(t, t) for t in sorted(tags, key=str.lower)]),
        # the count as it is before any filter, so the table does not move when question-index.js fills it in
        f'<span class="hb-qindex__count" data-template="{labels["count"]}">'
        f'{labels["count"].format(shown=len(rows), total=len(rows))}</span>',
        "</div>",
        f'<table><thead><tr><th>{labels["question"]}</th><th>{labels["chapter"]}</th>'
        f'<th>{labels["difficulty"]}</th><th>{labels["page"]}</th></tr></thead>',
        "<tbody>", *rows, "</tbody></table>",
        "</div>", "",
    ])


def _chapter_questions(docs: Path, lang: str, chapter: str, from_rel: str) -> str:
    out = []
    for page in _chapter_pages(docs, lang, chapter):
        out.append(f"- **[{page.title}]({_link(from_rel, page.rel)})**")
        for q in page.questions:
            out.append(f"    - [{q.title}]({_link(from_rel, page.rel, q.id)}) {_difficulty(lang, q.difficulty)}")
    return "\n".join(out) + "\n"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- question-index -->" not in markdown and "<!-- questions -->" not in markdown:
        return markdown
    docs, lang = Path(config.docs_dir), handbook.build_language(config)
    rel = handbook.rel_of(Path(page.file.abs_src_path), docs)
    if "<!-- question-index -->" in markdown:
        markdown = markdown.replace("<!-- question-index -->", _question_index(docs, _root(config), lang, rel,
                                                                                  config.use_directory_urls))
    if "<!-- questions -->" in markdown:
        chapter = rel.split("/")[0]
        markdown = markdown.replace("<!-- questions -->", _chapter_questions(docs, lang, chapter, rel))
    return markdown


@event_priority(-200)          # after mkdocs-static-i18n (-100), so i18n does not relocate it
def on_files(files: Files, config) -> Files:
    records = handbook.question_records(Path(config.docs_dir), _root(config))
    content = json.dumps({"count": len(records), "questions": records}, ensure_ascii=False, indent=1)
    # Same file, same site-root path, in every language build: pages link to it as questions.json.
    files.append(File.generated(config, "questions.json", content=content))
    return files
