"""Changes Material's bundle makes to a page's content after load, made at build time instead (issue 19).

Each one made the browser style (and lay out) a large part of the page a second time, in the long tasks
that Lighthouse counts as Total Blocking Time on a phone. Material's script then finds its work done:

- **Code blocks with line anchors** get ``class="md-code__content"`` on their ``<code>`` (Material's
  ``display: grid`` for the line spans). Added after load, it restyled every span of every such block: on
  ``transformer/architecture`` about three quarters of the longest task of the load.
- **Tables** (below).

Material's bundle wraps every ``table:not([class])`` of a page in ``div.md-typeset__scrollwrap >
div.md-typeset__table`` once the page has loaded, so that a wide table scrolls sideways instead of
widening the page. Moving a table in the document makes the browser style and lay it out again from
scratch: on the question index (a table of ~460 rows, nearly all of the page) that was the longest task of
the load on a phone (Lighthouse TBT), and every chapter page with a table paid it too.

This hook writes the same wrapper into the HTML, around every bare ``<table>`` of the article (Markdown
tables and the question index; tables with a class, like notebooks' ``dataframe``, are left alone), and
marks the table ``class="hb-table"``. Material's script only wraps tables without a class, so it leaves
these where they are; ``extra.css`` gives ``table.hb-table`` the look Material gives ``table:not([class])``
(``tests/test_a11y.py`` compares the two in the browser). a11y.js still makes a wrapper that scrolls a
focusable, named region.
"""
from __future__ import annotations

import re

ARTICLE = re.compile(r'<article class="md-content__inner[^"]*">')
# pymdownx.highlight's block with line spans (anchor_linenums): <pre><span></span><code><span id="__span-…
CODE = re.compile(r'(<pre\b[^>]*>(?:<span></span>)?<code)(>)(?=<span id=")')
CODE_CLASS = ' class="md-code__content"'
TABLE = re.compile(r'<table\b[^>]*>|</table\s*>')
WRAP_OPEN = '<div class="md-typeset__scrollwrap"><div class="md-typeset__table"><table class="hb-table">'
WRAP_CLOSE = "</table></div></div>"


def wrap_tables(html: str, start: int = 0, end: int | None = None, where: str = "?") -> str:
    """Every bare ``<table>`` (no attributes) of ``html[start:end]`` that is not inside another table, in
    Material's wrapper and marked ``hb-table``. An unclosed table is an error naming ``where``."""
    end = len(html) if end is None else end
    out, last, depth, outer_bare = [], start, 0, False
    for m in TABLE.finditer(html, start, end):
        if m.group(0).startswith("</"):
            if depth == 0:
                raise ValueError(f"{where}: </table> without <table> at offset {m.start()}")
            depth -= 1
            if depth == 0 and outer_bare:
                out += [html[last:m.start()], WRAP_CLOSE]
                last = m.end()
            continue
        if depth == 0:
            outer_bare = m.group(0) == "<table>"
            if outer_bare:
                out += [html[last:m.start()], WRAP_OPEN]
                last = m.end()
        depth += 1
    if depth:
        raise ValueError(f"{where}: a <table> is not closed")
    return html[:start] + "".join(out) + html[last:]


def mark_code(html: str, start: int = 0, end: int | None = None) -> str:
    """``md-code__content`` on every ``<code>`` of ``html[start:end]`` that is a ``<pre>``'s and starts with
    a line span (what Material's script marks: ``pre > code`` with ``:scope > span[id]`` children)."""
    end = len(html) if end is None else end
    return html[:start] + CODE.sub(rf"\1{CODE_CLASS}\2", html[start:end]) + html[end:]


def on_post_page(output: str, page, config) -> str:
    article = ARTICLE.search(output)
    if not article or 'id="print-site-page"' in output:
        return output
    body_end = output.find("</article>", article.end())
    where = page.file.src_uri if page else "?"
    if body_end == -1:
        raise ValueError(f"{where}: <article> is not closed")
    output = wrap_tables(output, article.end(), body_end, where)
    body_end = output.find("</article>", article.end())
    return mark_code(output, article.end(), body_end)
