"""Old page addresses keep working, in every language, from ``data/redirects.tsv``.

The mkdocs-redirects plugin writes a tiny HTML page at an old address that forwards to the new
one, keeping the ``#anchor`` (a line of JavaScript plus a meta refresh). On its own it does not
understand mkdocs-static-i18n's suffix structure (upstream issue mkdocs/mkdocs-redirects#33):
it looks targets up before i18n has localised the files (``vlm.zh.md`` is not ``vlm.md``), and
with one map for all languages the English build would write its redirect over the Chinese one.

This hook runs after i18n's ``on_files`` (priority -100) for each language being built and gives
the plugin that language's map. A row ``architectures/multimodal.md → multimodal/vlm.md`` of
``data/redirects.tsv`` (columns ``old``, ``new``; paths under ``docs/`` without the language
suffix) becomes

- zh (default language, served at /):  ``architectures/multimodal.md`` → ``multimodal/vlm.zh.md``
- en (served at /en/):                 ``en/architectures/multimodal.md`` → ``multimodal/vlm.en.md``

so ``/architectures/multimodal/#q`` lands on ``/multimodal/vlm/#q`` and
``/en/architectures/multimodal/#q`` on ``/en/multimodal/vlm/#q``. A target that does not exist
makes the plugin warn, which fails the strict build. Builds without the plugin (the PDF and
offline editions) are left alone.
"""
from __future__ import annotations

from mkdocs.plugins import event_priority

import handbook


def redirect_map(rows: list[dict[str, str]], lang: str) -> dict[str, str]:
    """The plugin's ``redirect_maps`` for one language: old source path → localised new source path."""
    prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
    out = {}
    for row in rows:
        old, new = row["old"].strip(), row["new"].strip()
        new_path, hash_, fragment = new.partition("#")
        out[prefix + old] = new_path.removesuffix(".md") + f".{lang}.md" + hash_ + fragment
    return out


@event_priority(-150)          # after mkdocs-static-i18n has localised the files (-100)
def on_files(files, config):
    plugin = config.plugins.get("redirects")
    table = handbook.repo_root(config) / "data" / "redirects.tsv"
    if plugin is None or not table.is_file():
        return files
    lang = handbook.build_language(config)
    plugin.redirects = {**redirect_map(handbook.read_tsv(table), lang),
                        **(plugin.config.get("redirect_maps") or {})}
    # the plugin validated targets against the files as they were before i18n localised them
    plugin.doc_pages = {f.src_uri: f for f in files.documentation_pages()}
    return files
