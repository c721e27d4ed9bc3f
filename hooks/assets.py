"""Load the heavy front-end assets only on the pages that use them.

``mkdocs.yml`` lists mermaid in ``extra_javascript`` and KaTeX's stylesheet in ``extra_css``, so Material
puts them on every page. mermaid alone is 3.5 MB (about 1 MB gzip) and most pages have no diagram. After
a page is rendered (and the 404 page), this hook removes

- the mermaid script from pages without a diagram left for the browser to draw (no ``<pre class="mermaid">``:
  ``hooks/diagrams.py`` turns every diagram into an SVG at build time when Chromium is there, so with
  it no page loads mermaid; without it, the pages with diagrams do), and
- KaTeX's stylesheet (which loads its fonts) from pages without a typeset formula (no ``class="katex"``
  element). Formulas are typeset at build time (``hooks/formulas.py``): no page loads KaTeX's script.
  Pages with a formula preload the KaTeX fonts their formulas use (``katex_fonts``: KaTeX's classes →
  the faces its CSS gives them), so the formulas are laid out once in their own font, not first in a
  fallback font and again, shifted, when the font arrives.

Material only calls mermaid when a page holds a ``pre.mermaid`` element, so nothing else needs it.
``tests/test_site.py`` checks both directions.

Every remaining script file is loaded with ``defer``: Material's bundle, ours in ``<head>`` (search-lazy,
search) and ``extra_javascript``. A plain ``<script src>`` holds up the first paint until it has been
fetched and run (Lighthouse counted about 1 s of render-blocking scripts on a slow phone); deferred
scripts are fetched in parallel and run after parsing, still in document order, so search-lazy.js still
runs before the bundle and hide-answers.js after it. The page's inline scripts only use Material's
inline ``__md_get``, not these files.
"""
from __future__ import annotations

import re

MERMAID = re.compile(r'<script src="[^"]*assets/vendor/mermaid/mermaid\.min\.js"></script>\s*')
KATEX = re.compile(r'<link rel="stylesheet" href="[^"]*assets/vendor/katex/katex\.min\.css">\s*')
SCRIPT = re.compile(r'<script src="([^"]+)"></script>')
KATEX_LINK = re.compile(r'<link rel="stylesheet" href="([^"]*assets/vendor/katex/)katex\.min\.css">')
# KaTeX font file → the markup that uses it (katex.min.css: .mathnormal is KaTeX_Math italic, .mathbb
# KaTeX_AMS, .delimsizing.size1 and .small-op KaTeX_Size1, …). Main-Regular is every formula's face.
FONT_USE = {
    "KaTeX_Main-Regular": re.compile(r'class="katex"'),
    "KaTeX_Math-Italic": re.compile(r'class="mord mathnormal'),
    "KaTeX_Main-Bold": re.compile(r'\bmathbf\b'),
    "KaTeX_Math-BoldItalic": re.compile(r'\bboldsymbol\b'),
    "KaTeX_AMS-Regular": re.compile(r'\b(?:amsrm|mathbb)\b'),
    "KaTeX_Caligraphic-Regular": re.compile(r'\bmathcal\b'),
    "KaTeX_Size1-Regular": re.compile(r'delimsizing size1|small-op'),
    "KaTeX_Size2-Regular": re.compile(r'delimsizing size2|large-op'),
    "KaTeX_Size3-Regular": re.compile(r'delimsizing size3'),
    "KaTeX_Size4-Regular": re.compile(r'delimsizing size4|delimsizing mult'),
}


def katex_fonts(html: str) -> list[str]:
    """The KaTeX font files (without ``.woff2``) that the typeset formulas in ``html`` use."""
    return [font for font, used in FONT_USE.items() if used.search(html)]


def has_diagram(html: str) -> bool:
    """A diagram still to be drawn by mermaid in the browser (superfences' ``<pre class="mermaid">``)."""
    return '<pre class="mermaid">' in html


def has_math(html: str) -> bool:
    return 'class="katex"' in html


def on_post_page(output: str, page, config) -> str:
    if not has_diagram(output):
        output = MERMAID.sub("", output)
    if not has_math(output):
        output = KATEX.sub("", output)
    else:
        link = KATEX_LINK.search(output)
        if link:
            preload = "".join(f'<link rel="preload" href="{link.group(1)}fonts/{font}.woff2" as="font" '
                              f'type="font/woff2" crossorigin>' for font in katex_fonts(output))
            output = output[:link.end()] + preload + output[link.end():]
    return SCRIPT.sub(r'<script src="\1" defer></script>', output)


def on_post_template(output: str, template_name: str, config) -> str:
    """The same for the 404 page (a template, not a page: ``on_post_page`` never sees it)."""
    return on_post_page(output, None, config) if template_name == "404.html" else output
