"""Accessibility fixes to the rendered pages (issue 19; checked by tests/test_a11y.py with axe-core).

- **Plots in notebooks get real alt text.** nbconvert gives every image output the same placeholder
  ("No description has been provided for this image"). The description is written where the plot is
  made: the code cell's metadata ``"alt"`` (a string, or a list with one string per image the cell
  outputs), in the notebook of each language. A plot without one stops the build, naming the notebook,
  the cell and its line in the ``.ipynb`` file.
- **Notebook code cells can be scrolled with the keyboard** (axe scrollable-region-focusable): nbconvert
  makes the cell wrappers focusable but not the ``div.highlight-ipynb`` that actually scrolls.
- **Navigation toggles have a name.** Material's section toggle (``label#__nav_N_label``: an arrow icon
  only) is also what names the section's ``<nav>`` landmark (``aria-labelledby``); empty, it leaves the
  toggle unnamed and every section landmark with the same (empty) name. It gets the section's title as
  visually hidden text (``hb-visually-hidden`` in extra.css; an ``aria-label`` is not allowed on a label).
- **The page's tag list is a named landmark** ("标签" / "Tags"): Material's ``<nav class="md-tags">`` has
  no name, so it cannot be told from the other navigation landmarks (axe landmark-unique).
"""
from __future__ import annotations

import html as htmlmod
import json
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

PLACEHOLDER = 'alt="No description has been provided for this image"'
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
TOGGLE = re.compile(r'(<label class="md-nav__link[^"]*" for="(__nav_[\w]+)" id="\2_label" tabindex="0">\s*'
                    r'<span class="md-nav__icon md-icon"></span>)(\s*</label>)')
TITLE = '<label class="md-nav__title" for="{}">(.*?)</label>'
TAG = re.compile(r"<[^>]+>")
TAGS_NAME = {"zh": "标签", "en": "Tags"}


def notebook_alts(path: Path) -> list[str]:
    """The alt text of every image output of the notebook at ``path``, in order; PluginError if one lacks it."""
    raw = path.read_text(encoding="utf-8")
    cells = json.loads(raw)["cells"]
    starts = [raw.count("\n", 0, m.start()) + 1 for m in re.finditer(r'"cell_type"\s*:', raw)]
    alts = []
    for i, cell in enumerate(cells):
        images = sum(1 for o in cell.get("outputs", []) if any(t in o.get("data", {}) for t in IMAGE_TYPES))
        if not images:
            continue
        given = cell.get("metadata", {}).get("alt")
        given = [given] if isinstance(given, str) else given
        where = f"{path.as_posix()}:{starts[i] if i < len(starts) else '?'}: cell {i}"
        if not given or len(given) != images or not all(isinstance(a, str) and a.strip() for a in given):
            raise PluginError(f"{where} outputs {images} image(s) but its metadata has no matching \"alt\": "
                              f"add \"alt\": \"<what the plot shows>\" (a list for several images) to the "
                              f"cell's metadata, in the reader's language")
        alts += [a.strip() for a in given]
    return alts


def with_alts(output: str, alts: list[str], name: str) -> str:
    """Replace nbconvert's placeholder alt of each image, in order, by ``alts``."""
    found = output.count(PLACEHOLDER)
    if found != len(alts):
        raise PluginError(f"{name}: {found} image(s) without alt text on the page, {len(alts)} described in the notebook")
    it = iter(alts)
    return re.sub(re.escape(PLACEHOLDER), lambda _: f'alt="{htmlmod.escape(next(it))}"', output)


def name_nav_toggles(output: str) -> str:
    def named(m: re.Match) -> str:
        title = re.search(TITLE.format(re.escape(m.group(2))), output, re.S)
        text = " ".join(htmlmod.unescape(TAG.sub("", title.group(1))).split()) if title else ""
        hidden = f'<span class="hb-visually-hidden">{htmlmod.escape(text)}</span>'
        return f'{m.group(1)}{hidden}{m.group(3)}' if text else m.group(0)
    return TOGGLE.sub(named, output)


def on_post_page(output: str, page, config) -> str:
    if page.file.src_path.endswith(".ipynb"):
        output = with_alts(output, notebook_alts(Path(page.file.abs_src_path)), page.file.src_path)
        output = output.replace('<div class="highlight-ipynb hl-', '<div tabindex="0" class="highlight-ipynb hl-')
    lang = str(config["theme"].get("language") or "en")[:2]
    output = output.replace('<nav class="md-tags" >', f'<nav class="md-tags" aria-label="{TAGS_NAME.get(lang, "Tags")}">')
    return name_nav_toggles(output)
