"""hooks/print_anchors.py: print-site's ``update_anchor_ids`` without the quadratic regex must write exactly
what print-site writes. Compared with print-site's own function on generated HTML made of the pieces its
regex is sensitive to (tags with and without ids, any case, quotes, ">" and line ends in odd places), and
on a real built page."""
from __future__ import annotations

import inspect
import random
import re

import pytest
from mkdocs_print_site_plugin import urls

import print_anchors

REGEX = re.compile(r"<([^\s]+).*?id=\"([^\"]*?)\".*?>", flags=re.IGNORECASE)      # print-site 2.9's
PIECES = ["<", ">", '"', " ", "\n", "\t", 'id="', 'ID="', 'iD="x"', "İd=\"", "h2", "li", "sup", "a", "x", "=",
          '<h2 id="a">', "</h2>", '<li id="fn:1">', "<span class=\"k\">"]


def test_same_matches_and_output_as_print_site_on_generated_html():
    rng = random.Random(0)
    for _ in range(5000):
        html = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 50)))
        expected = [(m.group(1), m.group(2), m.group()) for m in REGEX.finditer(html)]
        assert list(print_anchors.find_tags(html)) == expected, repr(html)
        key = rng.choice(["norms-rmsnorm", "k", ""])
        assert print_anchors.update_anchor_ids(html, key) == urls.update_anchor_ids(html, key), repr(html)


@pytest.mark.build
def test_same_output_as_print_site_on_a_built_page(built_site):
    html = (built_site / "norms" / "rmsnorm" / "index.html").read_text(encoding="utf-8")[:60_000]
    assert 'id="' in html and "<h1" in html
    expected = urls.update_anchor_ids(html, "norms-rmsnorm")
    assert expected != html
    assert print_anchors.update_anchor_ids(html, "norms-rmsnorm") == expected


def test_the_hook_replaces_print_sites_function():
    original = urls.update_anchor_ids
    try:
        print_anchors.on_startup("build", False)
        assert urls.update_anchor_ids is print_anchors.update_anchor_ids
        assert "update_anchor_ids(page_html, page_key)" in inspect.getsource(urls.fix_internal_links)
    finally:
        urls.update_anchor_ids = original
