"""Render Jupyter notebooks as pages when mkdocs-static-i18n is active.

mkdocs-jupyter marks ``*.ipynb`` files as documentation pages in its ``on_files``.
mkdocs-static-i18n runs its own ``on_files`` later (priority -100) and rebuilds every
``File`` object, which loses that mark: the notebook is then copied as a static file
to the page's URL and readers get raw JSON (ultrabug/mkdocs-static-i18n issue #198;
``mkdocs build --strict`` does not notice).

This hook runs after i18n and turns the localized notebook files back into pages,
with the destination i18n chose for the language (``en/labs/demo/index.html``), and gives
them their language alternates so the language switcher stays on the notebook.
``tests/test_site.py`` fails if a built notebook page is JSON.
"""
from __future__ import annotations

import logging
import os
import posixpath
import re
from pathlib import Path
from types import SimpleNamespace

from mkdocs.plugins import CombinedEvent, event_priority
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.notebooks")


class NotebookPage(File):
    """A notebook file that MkDocs treats as a page (mkdocs-jupyter renders it)."""

    def is_documentation_page(self) -> bool:
        return True

    def is_static_page(self) -> bool:
        return False


@event_priority(-200)          # after mkdocs-static-i18n (-100)
def on_files(files: Files, config) -> Files:
    for file in files:
        if not file.src_uri.endswith(".ipynb") or file.is_documentation_page():
            continue
        file.__class__ = NotebookPage
        parent, name = posixpath.split(file.dest_uri)     # e.g. "en/labs", "demo.ipynb"
        stem = name.rsplit(".", 1)[0]
        if config.use_directory_urls and stem != "index":
            dest = posixpath.join(parent, stem, "index.html")
        else:
            dest = posixpath.join(parent, stem + ".html")
        file.dest_uri = dest
        file.abs_dest_path = os.path.normpath(os.path.join(config.site_dir, dest))
        file.url = file._get_url(config.use_directory_urls)
        file.alternates = _alternates(file, config)
    return files


def _alternates(file: File, config) -> dict:
    """URLs of the same notebook in every language it exists in (used by the language switcher)."""
    i18n = config.plugins.get("i18n")
    if i18n is None:
        return {}
    parent, name = posixpath.split(file.src_uri)               # "labs", "demo.zh.ipynb"
    stem = name.split(".")[0]
    out = {}
    for lang in i18n.build_languages:
        if os.path.isfile(os.path.join(config.docs_dir, parent, f"{stem}.{lang}.ipynb")):
            prefix = "" if lang == i18n.default_language else f"{lang}/"
            out[lang] = SimpleNamespace(url=posixpath.join(prefix + parent, stem) + "/")
    return out


# Links in a notebook's markdown cells are written like the handbook's own (`../rag/retrieval.md#rag-bm25`),
# but mkdocs-jupyter renders them with nbconvert, so MkDocs never rewrites them to page URLs and
# never validates them: the reader would get `labs/rag/retrieval.md`, a 404. Rewrite them here to
# the URL of the page in the notebook's language, and warn (fails `mkdocs build --strict`) when the
# page or the question id does not exist.
MD_LINK_RE = re.compile(r'href="(?![a-zA-Z][a-zA-Z0-9+.-]*:|#|/)([^"#]+\.md)(?:#([^"]*))?"')


def on_page_content(html: str, page, config, files: Files) -> str:
    if not isinstance(page.file, NotebookPage):
        return html
    parent, name = posixpath.split(page.file.src_uri)             # "labs", "rag.zh.ipynb"
    parts = name.split(".")
    lang = parts[1] if len(parts) == 3 else None

    def rewrite(m: re.Match) -> str:
        path, frag = m.group(1), m.group(2)
        target_uri = posixpath.normpath(posixpath.join(parent, path))   # "rag/retrieval.md"
        stem = target_uri[: -len(".md")]
        candidates = ([f"{stem}.{lang}.md"] if lang else []) + [target_uri]
        target = next((f for f in map(files.get_file_from_path, candidates) if f is not None), None)
        if target is None:
            log.warning("%s: link to %s: no such page", page.file.src_uri, path)
            return m.group(0)
        if frag:
            text = open(target.abs_src_path, encoding="utf-8").read()
            if not re.search(r"#" + re.escape(frag) + r"(?![\w-])", text):
                log.warning("%s: link to %s#%s: no such id in %s", page.file.src_uri, path, frag, target.src_uri)
        url = target.url_relative_to(page.file)
        return f'href="{url}{"#" + frag if frag else ""}"'

    return MD_LINK_RE.sub(rewrite, html)



# mkdocs-jupyter caches each rendered notebook (keyed by its content) and, after every build, deletes the
# cache files that build did not use. With mkdocs-static-i18n each language is a build of its own, so the
# Chinese build deleted the English entries and the English build the Chinese ones: every build (and every
# `make serve` reload) converted all notebooks again. Below, the languages share one record of used entries
# and only the last language's build evicts what no language used.

_used_by_earlier_languages: set = set()


def _jupyter(config):
    return config.plugins.get("mkdocs-jupyter")


def _is_last_language_build(config) -> bool:
    i18n = config.plugins.get("i18n")
    if i18n is None or len(i18n.build_languages) < 2:
        return True
    return bool(i18n.building) and i18n.current_language == list(i18n.build_languages)[-1]


@event_priority(-100)          # after mkdocs-jupyter's on_pre_build (priority 0) has reset its record
def _restore_used_cache(config) -> None:
    plugin = _jupyter(config)
    i18n = config.plugins.get("i18n")
    if plugin is not None and i18n is not None and i18n.building:
        plugin._used_cache_paths |= _used_by_earlier_languages


@event_priority(100)           # before mkdocs-jupyter's on_post_build (priority 0) evicts
def _protect_other_languages(config) -> None:
    global _used_by_earlier_languages
    plugin = _jupyter(config)
    if plugin is None or not plugin.config["cache"]:
        return
    if _is_last_language_build(config):
        _used_by_earlier_languages = set()
        return
    _used_by_earlier_languages = set(plugin._used_cache_paths)
    plugin._used_cache_paths |= set(Path(plugin.config["cache_dir"]).glob("*.json"))   # evict nothing yet


on_pre_build = CombinedEvent(_restore_used_cache)
on_post_build = CombinedEvent(_protect_other_languages)
