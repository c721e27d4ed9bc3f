"""Notebook pages without the unused bulk of JupyterLab's stylesheet.

mkdocs-jupyter (nbconvert's ``lab`` template) inlines JupyterLab's whole theme into every notebook
page: about 570 KB of CSS in ``<style>`` blocks, of which a page uses a few per cent. After a notebook
page is rendered, this hook prunes each large ``<style>`` block (parsed with tinycss2):

- a style rule is kept when one of its selectors can match the page: every class and id it requires
  (outside ``:not()`` / ``:is()`` / ``:where()``, and ignoring pseudo-classes) occurs in the page's
  markup, or it requires none; ``@media`` / ``@supports`` blocks are pruned inside; other at-rules stay;
- a custom property (``--jp-…``) declaration is kept only if a kept rule, the page's markup or its
  other (small) style blocks refer to it with ``var(--name)``, repeated until nothing changes (variables refer to variables).

Rules that only JavaScript could make match are dropped: the notebook output is static HTML. Small
blocks (Pygments colours, mkdocs-jupyter's own) are left alone. ``tests/test_site.py`` checks the size
and that the classes the page uses still get their styles.
"""
from __future__ import annotations

import functools
import re

import tinycss2

MIN_BLOCK = 20_000                          # bytes: only JupyterLab's theme blocks are pruned
STYLE = re.compile(r"(<style[^>]*>)(.*?)(</style>)", re.S)
NESTED = re.compile(r":(?:not|is|where|has)\((?:[^()]|\([^()]*\))*\)")
CLASS, ID = re.compile(r"\.(-?[_a-zA-Z][\w-]*)"), re.compile(r"#(-?[_a-zA-Z][\w-]*)")
VAR_USE, CUSTOM = re.compile(r"var\(\s*(--[\w-]+)"), re.compile(r"^--[\w-]+$")


def _used(markup: str) -> tuple[set[str], set[str]]:
    classes = {c for value in re.findall(r'\sclass="([^"]*)"', markup) for c in value.split()}
    return classes, set(re.findall(r'\sid="([^"]+)"', markup))


def _selector_matches(selector: str, classes: set[str], ids: set[str]) -> bool:
    bare = NESTED.sub("", selector)
    return set(CLASS.findall(bare)) <= classes and set(ID.findall(bare)) <= ids


def _prune_rules(rules, classes, ids) -> list:
    kept = []
    for rule in rules:
        if rule.type == "qualified-rule":
            selectors = tinycss2.serialize(rule.prelude).split(",")
            if any(_selector_matches(s, classes, ids) for s in selectors):
                kept.append(rule)
        elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content:
            inner = _prune_rules(tinycss2.parse_rule_list(rule.content), classes, ids)
            if inner:
                kept.append((rule, inner))
        elif rule.type == "at-rule":
            kept.append(rule)
    return kept


def _serialize(kept, wanted_vars: set[str] | None) -> str:
    out = []
    for item in kept:
        if isinstance(item, tuple):                           # (@media rule, its kept rules)
            rule, inner = item
            out.append(f"@{rule.at_keyword}{tinycss2.serialize(rule.prelude)}{{{_serialize(inner, wanted_vars)}}}")
        elif item.type == "qualified-rule" and wanted_vars is not None:
            decls = [d for d in tinycss2.parse_blocks_contents(item.content, skip_comments=True, skip_whitespace=True)
                     if not (d.type == "declaration" and CUSTOM.match(d.name) and d.name not in wanted_vars)]
            if decls:
                body = ";".join(tinycss2.serialize([d]).strip().rstrip(";") for d in decls)
                out.append(f"{tinycss2.serialize(item.prelude).strip()}{{{body}}}")
        else:
            out.append(tinycss2.serialize([item]))
    return "\n".join(out)


@functools.lru_cache(maxsize=4)
def _parse(css: str) -> tuple:
    """Parsing is most of the cost, and every notebook page of both languages carries the same theme."""
    return tuple(tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True))


def prune_css(css: str, markup: str, other_css: str = "") -> str:
    """The rules of ``css`` that can apply to ``markup``, with custom properties removed that neither
    they, the markup nor ``other_css`` (the page's other stylesheets) refer to."""
    classes, ids = _used(markup)
    kept = _prune_rules(_parse(css), classes, ids)
    wanted = set(VAR_USE.findall(markup + other_css))
    while True:                    # a property is wanted if a wanted rule body or another wanted one uses it
        text = _serialize(kept, wanted)
        more = wanted | set(VAR_USE.findall(text))
        if more == wanted:
            return text
        wanted = more


def prune_page(output: str) -> str:
    """``output`` with each large ``<style>`` block pruned to what the rest of the page can use."""
    markup = STYLE.sub("", output)
    small = "".join(m.group(2) for m in STYLE.finditer(output) if len(m.group(2)) < MIN_BLOCK)
    return STYLE.sub(lambda m: m.group(0) if len(m.group(2)) < MIN_BLOCK
                     else m.group(1) + prune_css(m.group(2), markup, small) + m.group(3), output)


def on_post_page(output: str, page, config) -> str:
    return prune_page(output) if page.file.src_uri.endswith(".ipynb") else output
