"""Question lists generated from the pages themselves (no hand-kept lists).

- Before the build, the content model of ``docs/`` is checked (``handbook.check_docs``); a
  broken page stops the build with ``path:line: message`` for every problem.
- ``<!-- question-index -->`` in a page is replaced by every question of the language being
  built, grouped by chapter: title (linked to its anchor), difficulty, page.
- ``<!-- questions -->`` in a chapter's ``index`` page is replaced by that chapter's pages and
  their questions.
- ``questions.json`` at the site root (a generated file) lists every question once, with both
  languages' titles and URLs, its chapter, difficulty and tags.
"""
from __future__ import annotations

import json
import posixpath
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

import handbook

STARS = {1: "★☆☆", 2: "★★☆", 3: "★★★"}
LABELS = {
    "zh": {"question": "问题", "difficulty": "难度", "page": "页面", 1: "基础", 2: "进阶", 3: "高级"},
    "en": {"question": "Question", "difficulty": "Difficulty", "page": "Page",
           1: "basic", 2: "intermediate", 3: "advanced"},
}


def _root(config) -> Path:
    return Path(config.config_file_path).parent


def _language(config) -> str:
    i18n = config.plugins.get("i18n")
    return getattr(i18n, "current_language", None) or handbook.DEFAULT_LANG


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


def _question_index(docs: Path, root: Path, lang: str, from_rel: str) -> str:
    labels = LABELS[lang]
    out = []
    for row in handbook.chapters(root):
        pages = _chapter_pages(docs, lang, row["slug"]) if (docs / row["slug"]).is_dir() else []
        questions = [(p, q) for p in pages for q in p.questions]
        if not questions:
            continue
        out.append(f"## [{row[lang]}]({_link(from_rel, row['slug'] + '/index')}) {{ #chapter-{row['slug']} }}\n")
        out.append(f"| {labels['question']} | {labels['difficulty']} | {labels['page']} |")
        out.append("|---|:---:|---|")
        for page, q in questions:
            title = q.title.replace("|", "\\|")
            out.append(f"| [{title}]({_link(from_rel, page.rel, q.id)}) | {_difficulty(lang, q.difficulty)} "
                       f"| [{page.title}]({_link(from_rel, page.rel)}) |")
        out.append("")
    return "\n".join(out)


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
    docs, lang = Path(config.docs_dir), _language(config)
    rel = handbook.rel_of(Path(page.file.abs_src_path), docs)
    if "<!-- question-index -->" in markdown:
        markdown = markdown.replace("<!-- question-index -->", _question_index(docs, _root(config), lang, rel))
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
