"""Keep ``<head>`` free of links that make every page request a file that does not exist.

mkdocs-static-i18n fills Material's ``extra.alternate`` with page-level links (``../../en/norms/rmsnorm/``),
which is what the language selector needs. Material's template also writes each of them into ``<head>``
as ``<link rel="alternate" hreflang=…>``, and Material's bundle fetches ``sitemap.xml`` relative to every
such link (it expects site-level alternates such as ``/en/``): two 404s on every page. This hook removes
those head links after rendering. Search engines still get the language alternates of every page from
``sitemap.xml`` (i18n writes ``<xhtml:link rel="alternate" hreflang=…>`` for each URL there), one of the
three places hreflang may live. ``tests/test_site.py`` checks both halves.
"""
from __future__ import annotations

import re

HEAD_ALTERNATE = re.compile(r'<link rel="alternate" href="[^"]*" hreflang="[^"]*">\s*')


def on_post_page(output: str, page, config) -> str:
    head_end = output.find("</head>")
    if head_end == -1:
        return output
    return HEAD_ALTERNATE.sub("", output[:head_end]) + output[head_end:]
