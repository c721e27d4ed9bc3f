"""Order the navigation and title its chapters from ``data/chapters.tsv``.

MkDocs builds the navigation from the folder tree (no hand-kept ``nav:`` list), sorted by
file name, and titles a folder section with its folder name. This hook, run after
mkdocs-static-i18n has built the language's navigation:

- orders top-level chapter sections as in ``data/chapters.tsv`` and titles them in the
  language being built (columns ``zh`` / ``en``);
- titles any other folder section (e.g. ``labs``) with the title of its ``index`` page;
- orders the other top-level pages and the pages inside a chapter by the ``order`` key of
  their front matter (default 100), the chapter's ``index`` page first;
- re-links previous/next page links to follow the new order, and hands the order to the
  print-site plugin in the print builds (``editions/pdf.*.yml``).
"""
from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.nav import Navigation, Section, _add_previous_and_next_links, _get_by_type
from mkdocs.structure.pages import Page

import handbook


def _front_matter_order(item) -> int:
    if isinstance(item, Page) and item.file.abs_src_path:
        text = Path(item.file.abs_src_path).read_text(encoding="utf-8")
        if item.file.src_uri.endswith(".md"):
            meta, _, _ = handbook.split_front_matter(text)
            return int(meta.get("order", 100))
    return 100


def _page_key(item):
    if isinstance(item, Page) and item.is_index:
        return (-1, "")
    return (_front_matter_order(item), item.file.src_uri if isinstance(item, Page) else str(item.title))


@event_priority(-200)          # after mkdocs-static-i18n (-100)
def on_nav(nav: Navigation, config, files) -> Navigation:
    lang = handbook.build_language(config)
    root = handbook.repo_root(config)
    rows = handbook.chapters(root)
    rank = {row["slug"]: i for i, row in enumerate(rows)}
    titles = {row["slug"]: row[lang] for row in rows}

    def slug(section: Section) -> str | None:
        for child in section.children:
            if isinstance(child, Page):
                return child.file.src_uri.split("/")[0]
        return None

    pages, sections = [], []
    for item in nav.items:
        (sections if isinstance(item, Section) else pages).append(item)
    for section in sections:
        s = slug(section)
        if s in titles:
            section.title = titles[s]
        else:
            index = next((c for c in section.children if isinstance(c, Page) and c.is_index), None)
            if index is not None:
                title = handbook.parse_page(Path(index.file.abs_src_path), Path(config.docs_dir)).title
                section.title = title or section.title
        section.children.sort(key=_page_key)
    sections.sort(key=lambda s: (rank.get(slug(s), len(rank)), s.title))
    pages.sort(key=_page_key)
    # Home first, then the chapters, then reference pages (question index, glossary, tags, labs).
    home = [p for p in pages if isinstance(p, Page) and p.is_index]     # the language's home page
    rest = [p for p in pages if p not in home]
    items = home + sections + rest
    ordered = Navigation(items, _get_by_type(items, Page))
    ordered.homepage = nav.homepage
    _add_previous_and_next_links(ordered.pages)
    print_site = config.plugins.get("print-site")
    if print_site is not None:         # the print build (editions/pdf.*.yml) joins pages in this same order
        print_site.renderer.items = ordered.items
    return ordered
