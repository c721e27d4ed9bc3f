"""Load the heavy front-end assets only on the pages that use them.

``mkdocs.yml`` lists KaTeX and mermaid in ``extra_javascript`` / ``extra_css``, so Material puts them
on every page. mermaid alone is 3.5 MB (about 1 MB gzip) and most pages have no diagram. After a page is
rendered (and the 404 page), this hook removes

- the mermaid script from pages without a diagram left for the browser to draw (no ``<pre class="mermaid">``:
  ``hooks/diagrams.py`` turns every diagram into an SVG at build time when Chromium is there, so with
  it no page loads mermaid; without it, the pages with diagrams do), and
- KaTeX's script, stylesheet, auto-render and ``katex-init.js`` from pages without a formula (no
  ``arithmatex`` element and no ``\\(`` / ``\\[`` delimiter).

Material only calls mermaid when a page holds a ``pre.mermaid`` element, and ``katex-init.js`` is the only
caller of KaTeX, so nothing else needs them. ``tests/test_site.py`` checks both directions.
"""
from __future__ import annotations

import re

MERMAID = re.compile(r'<script src="[^"]*assets/vendor/mermaid/mermaid\.min\.js"></script>\s*')
KATEX = re.compile(r'<script src="[^"]*assets/(?:vendor/katex/(?:katex|auto-render)\.min|javascripts/katex-init)\.js">'
                   r'</script>\s*|<link rel="stylesheet" href="[^"]*assets/vendor/katex/katex\.min\.css">\s*')


def has_diagram(html: str) -> bool:
    """A diagram still to be drawn by mermaid in the browser (superfences' ``<pre class="mermaid">``)."""
    return '<pre class="mermaid">' in html


def has_math(html: str) -> bool:
    return "arithmatex" in html or "\\(" in html or "\\[" in html


def on_post_page(output: str, page, config) -> str:
    if not has_diagram(output):
        output = MERMAID.sub("", output)
    if not has_math(output):
        output = KATEX.sub("", output)
    return output


def on_post_template(output: str, template_name: str, config) -> str:
    """The same for the 404 page (a template, not a page: ``on_post_page`` never sees it)."""
    return on_post_page(output, None, config) if template_name == "404.html" else output
