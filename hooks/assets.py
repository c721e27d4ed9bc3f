"""Load the heavy front-end assets only on the pages that use them.

``mkdocs.yml`` lists mermaid in ``extra_javascript`` and KaTeX's stylesheet in ``extra_css``, so Material
puts them on every page. mermaid alone is 3.5 MB (about 1 MB gzip) and most pages have no diagram. After
a page is rendered, this hook removes

- the mermaid script from pages without a diagram (no ``class="mermaid"`` element), and
- KaTeX's stylesheet (which loads its fonts) from pages without a typeset formula (no ``class="katex"``
  element). Formulas are typeset at build time (``hooks/formulas.py``): no page loads KaTeX's script.

Material only calls mermaid when a page holds a ``.mermaid`` element, so nothing else needs it.
``tests/test_site.py`` checks both directions.
"""
from __future__ import annotations

import re

MERMAID = re.compile(r'<script src="[^"]*assets/vendor/mermaid/mermaid\.min\.js"></script>\s*')
KATEX = re.compile(r'<link rel="stylesheet" href="[^"]*assets/vendor/katex/katex\.min\.css">\s*')


def has_diagram(html: str) -> bool:
    return re.search(r'class="[^"]*\bmermaid\b', html) is not None


def has_math(html: str) -> bool:
    return 'class="katex"' in html


def on_post_page(output: str, page, config) -> str:
    if not has_diagram(output):
        output = MERMAID.sub("", output)
    if not has_math(output):
        output = KATEX.sub("", output)
    return output
