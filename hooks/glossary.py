"""Glossary page generated from ``data/glossary.tsv`` (one list of terms for both languages).

``<!-- glossary -->`` in a page is replaced by a table of every term, sorted for the
language being built (alphabetically by the English term in both languages, since Chinese
terms have no common sort order): the term in the page's language first, then the other
language, and the note in the page's language.
"""
from __future__ import annotations

from pathlib import Path

import handbook

HEADERS = {"zh": ("中文", "English", "说明"), "en": ("English", "中文", "Note")}


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- glossary -->" not in markdown:
        return markdown
    lang = handbook.build_language(config)
    rows = handbook.read_tsv(handbook.repo_root(config) / "data" / "glossary.tsv")
    first, second = ("zh", "en") if lang == "zh" else ("en", "zh")
    rows.sort(key=lambda r: r["en"].lower())
    head = HEADERS[lang]
    lines = [f"| {head[0]} | {head[1]} | {head[2]} |", "|---|---|---|"]
    for r in rows:
        lines.append(f"| {r[first]} | {r[second]} | {r[f'note_{lang}']} |")
    return markdown.replace("<!-- glossary -->", "\n".join(lines) + "\n")
