"""The print editions (``editions/pdf.<lang>.yml``): mkdocs-print-site's ``update_anchor_ids`` without its
quadratic regex.

print-site 2.9 prefixes the ids of headings, footnotes and list items of every page with the page's key,
finding tags with ``<([^\\s]+).*?id="([^"]*?)".*?>``. From every ``<`` that regex scans lazily to the end
of the line for an ``id="``; our pages have lines of up to 48,000 characters (inline diagram SVG, KaTeX
HTML) with thousands of tags and no id, so building one edition spent about 300 s in this function.

``find_tags`` returns exactly the matches of that regex (same start, end and groups, case-insensitive
``id="``, ``.`` not crossing a line end, the greedy tag name backtracking), but looks up the next
``id="``, ``"``, ``>`` and line end by bisection instead of rescanning. ``update_anchor_ids`` then
applies print-site's own replacements unchanged, so the output is byte for byte what print-site writes
(``tests/test_print_anchors.py`` compares both on a real page and on generated adversarial HTML).
"""
from __future__ import annotations

import re
from bisect import bisect_left

ID_ATTR = re.compile(r'id="', re.IGNORECASE)
CHANGE_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "sup", "li")     # print-site's list


def find_tags(html: str):
    """(tag, id, matched text) for each match of print-site's tag regex, in order."""
    ids = [m.start() for m in ID_ATTR.finditer(html)]
    quotes = [i for i, c in enumerate(html) if c == '"']
    gts = [i for i, c in enumerate(html) if c == ">"]
    newlines = [i for i, c in enumerate(html) if c == "\n"]
    n = len(html)

    def next_in(arr, i):
        k = bisect_left(arr, i)
        return arr[k] if k < len(arr) else -1

    def line_end(i):                      # index of the first "\n" at or after i, or len(html)
        e = next_in(newlines, i)
        return n if e == -1 else e

    def attempt(k):
        """With ``id="`` at k: the end of the match (after its ">") and the id, or None."""
        q = next_in(quotes, k + 4)         # [^"]*?" : the first quote, across lines
        if q == -1:
            return None
        g = next_in(gts, q + 1)            # .*?> : the first ">" on the quote's line
        if g == -1 or g >= line_end(q + 1):
            return None
        return g + 1, html[k + 4:q]

    pos = 0
    while True:
        p = html.find("<", pos)
        if p == -1:
            return
        r = p + 1                          # [^\s]+ : the greedy tag name
        while r < n and not html[r].isspace():
            r += 1
        found = None
        if r > p + 1:
            end_of_line = line_end(p)
            k = bisect_left(ids, r)        # first, the name as long as it goes, then .*? to an id=" on the line
            while found is None and k < len(ids) and ids[k] + 4 <= end_of_line:
                hit = attempt(ids[k])
                if hit:
                    found = (r, hit)
                k += 1
            g = r - 1                      # then shorter names: an id=" right after them, inside the run
            while found is None and g >= p + 2:
                if ID_ATTR.match(html, g):
                    hit = attempt(g)
                    if hit:
                        found = (g, hit)
                g -= 1
        if found is None:
            pos = p + 1
            continue
        name_end, (end, id_text) = found
        yield html[p + 1:name_end], id_text, html[p:end]
        pos = end


def update_anchor_ids(page_html: str, page_key: str) -> str:
    """print-site's ``urls.update_anchor_ids`` with ``find_tags`` in place of its regex."""
    for tag_text, id_text, match_text in list(find_tags(page_html)):
        if tag_text not in CHANGE_TAGS:
            continue
        page_html = page_html.replace(match_text, match_text.replace(id_text, page_key + "-" + id_text))
    return page_html


def on_startup(command, dirty) -> None:
    """print-site calls it by its global name in ``urls`` (from ``fix_internal_links``)."""
    import mkdocs_print_site_plugin.urls as urls
    urls.update_anchor_ids = update_anchor_ids
