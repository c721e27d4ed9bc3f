"""Fast and correct reloads for `make serve` (``mkdocs serve --dirty``).

With ``--dirty`` MkDocs re-renders only the pages whose source is newer than their output. That alone
breaks three things this site relies on, which this hook repairs:

- pages built from other pages' content (a chapter index lists its chapter's questions, the question
  index every question, the glossary comes from ``data/glossary.tsv``) and pages whose included snippet
  changed are rebuilt too, when what they are made from is newer than their output;
  when a page is added or removed, every page is (the navigation changed);
- the navigation of a rebuilt page titles the pages that were not re-read from their H1 (MkDocs would
  print "None");
- the search index: Material and mkdocs-static-i18n only index the pages rebuilt this time, so the
  indexes written by ``hooks/search.py`` are merged here with the previous build's entries.

In a normal ``mkdocs build`` (and under ``make test``) nothing here changes the output.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from mkdocs.plugins import event_priority

import handbook
import search as search_hook          # its functions only; the state lives here

DIRTY = "--dirty" in sys.argv            # the same test mkdocs-static-i18n uses for its language builds
DEPENDS_ON_OTHERS = ("<!-- questions -->", "<!-- question-index -->", "<!-- glossary -->")
INCLUDE = re.compile(r"""--8<--\s+["'](snippets/[^"':]+?\.py)""")

_pages_seen: dict[str, set[str]] = {}    # language → documentation pages of its previous build
rebuilt: set[str] = set()                # URLs of the pages rendered by the current build (all languages)
_previous_index: dict[str, list[dict]] = {}  # language → search entries written by the previous build


def _i18n(config):
    return config.plugins.get("i18n")


def _top_level(config) -> bool:
    i18n = _i18n(config)
    return i18n is None or not i18n.building


@event_priority(100)
def on_pre_build(config) -> None:
    if not _top_level(config):
        return
    rebuilt.clear()
    i18n = _i18n(config)
    if i18n is not None:
        i18n.search_entries.clear()      # it keeps every earlier reload's entries otherwise
    search = config.plugins.get("material/search") or config.plugins.get("search")
    if DIRTY and search is not None:
        search.search_index_prev = None  # hooks/search.py merges by page instead


def _newer(paths, built: float) -> bool:
    return any(p.exists() and p.stat().st_mtime > built for p in paths)


def _needs_rebuild(file, root: Path, docs: Path) -> bool:
    """A page is rebuilt when its own output is missing or older than what it is made from: an included
    snippet; for a chapter index (``<!-- questions -->``), the pages of its chapter in its language; for
    the question index, every page in its language; for the glossary, ``data/glossary.tsv``."""
    src = Path(file.abs_src_path)
    text = src.read_text(encoding="utf-8")
    dest = Path(file.abs_dest_path)
    if not dest.exists():
        return True
    built = dest.stat().st_mtime
    if _newer((root / snippet for snippet in INCLUDE.findall(text)), built):
        return True
    suffix = "." + src.name.split(".", 1)[1]                  # ".en.md"
    if "<!-- question-index -->" in text and _newer(docs.rglob(f"*{suffix}"), built):
        return True
    if "<!-- questions -->" in text and _newer(src.parent.glob(f"*{suffix}"), built):
        return True
    return "<!-- glossary -->" in text and _newer([root / "data" / "glossary.tsv"], built)


@event_priority(-300)                    # after i18n (-100) and the hooks that add files (-200)
def on_files(files, config):
    if not DIRTY:
        return files
    i18n = _i18n(config)
    lang = getattr(i18n, "current_language", None) or handbook.DEFAULT_LANG
    pages = [f for f in files if f.is_documentation_page() and f.abs_src_path]
    names = {f.src_uri for f in pages}
    layout_changed = lang in _pages_seen and _pages_seen[lang] != names
    _pages_seen[lang] = names
    root, docs = handbook.repo_root(config), Path(config.docs_dir)
    for f in pages:
        if layout_changed or (f.src_uri.endswith(".md") and _needs_rebuild(f, root, docs)):
            f.is_modified = lambda: True
    return files


@event_priority(-300)                    # after hooks/nav.py (-200)
def on_nav(nav, config, files):
    if not DIRTY:
        return nav
    for page in nav.pages:
        if page.markdown is None:        # not re-read in this build
            title = None
            if page.file.abs_src_path and page.file.src_uri.endswith(".md"):
                title = handbook.parse_page(Path(page.file.abs_src_path), Path(config.docs_dir)).title
            page.title = title or Path(page.file.src_uri).name.split(".")[0].replace("_", " ")
    return nav


def on_post_page(output, page, config):
    rebuilt.add(page.url)
    return output


@event_priority(-300)                    # after hooks/search.py (-200) has written the language indexes
def on_post_build(config) -> None:
    """Under ``--dirty``: the pages rebuilt now replace their entries of the previous build, every other
    page keeps its previous entries, and each language's word list is made again from the result."""
    if not (DIRTY and _top_level(config)):
        return
    folder = Path(config.site_dir) / "search"
    i18n = _i18n(config)
    default = i18n.default_language if i18n else handbook.DEFAULT_LANG
    for lang in (i18n.build_languages if i18n else [default]):
        path = folder / f"search_index.{lang}.json"
        index = json.loads(path.read_text(encoding="utf-8"))
        if lang in _previous_index:
            kept = [d for d in _previous_index[lang] if d["location"].partition("#")[0] not in rebuilt]
            index["docs"] = kept + index["docs"]
        _previous_index[lang] = index["docs"]
        text = json.dumps(index, ensure_ascii=False, separators=(",", ":"))
        path.write_text(text, encoding="utf-8")
        if lang == default:
            (folder / "search_index.json").write_text(text, encoding="utf-8")
        vocab = search_hook.vocabulary(index["docs"], index["config"]["separator"])
        (folder / f"vocab.{lang}.json").write_text(json.dumps(vocab, ensure_ascii=False, separators=(",", ":")),
                                                   encoding="utf-8")
