"""Checks on the built site: strict build, no third-party requests, notebooks rendered as pages,
both languages present with their switcher, generated question lists and questions.json.

`built_site` (tests/conftest.py) runs `mkdocs build --strict` once per session and fails on any warning.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest

import handbook
from checks import external_resource_problems, notebook_page_problems

pytestmark = pytest.mark.build


def test_no_third_party_resources(built_site):
    assert external_resource_problems(built_site) == []


def test_notebooks_are_pages_not_json(built_site, root):
    notebooks = sorted((root / "docs").rglob("*.ipynb"))
    assert notebooks, "expected at least the demo notebook"
    assert notebook_page_problems(built_site, root / "docs") == []


def test_math_and_mermaid_are_self_hosted(built_site):
    html = (built_site / "norms" / "placement" / "index.html").read_text(encoding="utf-8")   # formulas and a diagram
    assert '"../../assets/vendor/katex/katex.min.css"' in html and (built_site / "assets/vendor/katex/katex.min.css").is_file()
    assert "katex.min.js" not in html          # formulas are typeset at build time (hooks/formulas.py)
    # mermaid draws no diagram in the published site (hooks/diagrams.py), but stays served for builds
    # without Chromium (make serve on a laptop), which leave the diagrams to the browser
    assert (built_site / "assets/vendor/mermaid/mermaid.min.js").is_file()
    css = (built_site / "assets/vendor/katex/katex.min.css").read_text(encoding="utf-8")
    fonts = re.findall(r"url\((fonts/[^)]+\.woff2)\)", css)
    assert fonts and all((built_site / "assets/vendor/katex" / f).is_file() for f in fonts)


def test_notebook_pages_carry_no_css_bulk(built_site, root):
    """hooks/notebook_css.py: a notebook page's inline CSS stays under 60 KB (mkdocs-jupyter inlines
    about 570 KB of JupyterLab theme); that it changes no style is checked in tests/test_browser.py."""
    notebooks = sorted((root / "docs").rglob("*.ipynb"))
    pages = [built_site / ("" if nb.name.split(".")[-2] == handbook.DEFAULT_LANG else nb.name.split(".")[-2])
             / nb.parent.relative_to(root / "docs") / nb.name.split(".")[0] / "index.html" for nb in notebooks]
    assert pages
    for page in pages:
        css = sum(len(x) for x in re.findall(r"<style[^>]*>(.*?)</style>", page.read_text(encoding="utf-8"), re.S))
        assert 1_000 < css < 60_000, (page.relative_to(built_site).as_posix(), css)


def test_language_alternates_live_in_the_sitemap(built_site, root):
    """hooks/head.py: no page-level hreflang links in <head> (Material would fetch a sitemap.xml next to
    each, two 404s per page); sitemap.xml lists every page with its zh and en alternates instead."""
    sitemap = (built_site / "sitemap.xml").read_text(encoding="utf-8")
    entries = re.findall(r"<url>(.*?)</url>", sitemap, re.S)
    by_loc = {re.search(r"<loc>(.*?)</loc>", e).group(1): dict(re.findall(
        r'<xhtml:link rel="alternate" hreflang="(\w+)" href="([^"]+)"/>', e)) for e in entries}
    site_url = min(by_loc, key=len)                  # the home page: SITE_URL as the build saw it
    for page in handbook.iter_pages(root / "docs", handbook.DEFAULT_LANG):
        html = (built_site / page.url() / "index.html").read_text(encoding="utf-8")
        head = html[: html.index("</head>")]
        assert not re.search(r'<link rel="alternate"[^>]*hreflang', head), page.url()
        assert "hreflang=\"en\"" in html, f"{page.url()}: the language selector lost its link"
        alternates = by_loc.get(site_url + page.url())
        assert alternates == {lang: site_url + ("" if lang == handbook.DEFAULT_LANG else f"{lang}/") + page.url()
                              for lang in handbook.LANGS}, page.url()


def test_mermaid_and_katex_only_where_used(built_site):
    """hooks/assets.py: no page loads mermaid (hooks/diagrams.py drew every diagram at build time), no page
    loads KaTeX's script (hooks/formulas.py), a page loads KaTeX's CSS only if it has a formula, and every
    script file is deferred (none holds up the first paint)."""
    import assets

    counts = {"math": 0, "no math": 0}
    for path in [*built_site.rglob("index.html"), *built_site.rglob("404.html")]:
        html = path.read_text(encoding="utf-8")
        rel = path.relative_to(built_site)
        assert not assets.has_diagram(html), f"{rel}: a diagram left for the browser to draw"
        assert "mermaid.min.js" not in html, f"{rel}: loads mermaid"
        math = assets.has_math(html)
        assert "katex.min.js" not in html and ("katex.min.css" in html) == math, f"{rel}: KaTeX vs math"
        blocking = [m for m in re.findall(r"<script\b[^>]*\bsrc=\"([^\"]+)\"[^>]*>", html)
                    if not re.search(r'src="%s"[^>]*\b(?:defer|async)\b' % re.escape(m), html)]
        assert not blocking, f"{rel}: scripts that hold up the first paint (not deferred): {blocking}"
        counts["math" if math else "no math"] += 1
    assert all(counts.values()), counts
    print("\npages:", counts)


def test_every_diagram_is_an_accessible_svg(built_site, root):
    """hooks/diagrams.py: each ```mermaid fence of a page is an inline SVG on the built page, in the same
    number, each with role="img", its own <title> and <desc>, and no id repeated on the page."""
    import diagrams

    pages = drawn = 0
    for path in sorted((root / "docs").rglob("*.md")):
        fences = diagrams.fences_of(path.read_text(encoding="utf-8"), path.name)
        if not fences:
            continue
        lang = handbook.lang_of(path)
        rel = path.relative_to(root / "docs").as_posix().rsplit(".", 2)[0]
        url = ("" if lang == handbook.DEFAULT_LANG else f"{lang}/") + (rel[: -len("index")] if rel.endswith("index") else rel + "/")
        html = (built_site / url / "index.html").read_text(encoding="utf-8")
        svgs = re.findall(r'<div class="diagram"[^>]*>(<svg [^>]*>)<title id="([^"]+)">([^<]+)</title>'
                          r'<desc id="([^"]+)">([^<]+)</desc>', html)
        assert len(svgs) == len(fences), f"{url}: {len(fences)} diagrams in the source, {len(svgs)} drawn"
        for head, title_id, _, desc_id, _ in svgs:
            assert 'role="img"' in head and f'aria-labelledby="{title_id}"' in head and f'aria-describedby="{desc_id}"' in head
        ids = re.findall(r'\sid="([^"]+)"', html)
        assert len(ids) == len(set(ids)), f"{url}: repeated ids {[i for i in set(ids) if ids.count(i) > 1][:5]}"
        pages, drawn = pages + 1, drawn + len(fences)
    assert pages > 10 and drawn > 100, (pages, drawn)
    print(f"\n{drawn} diagrams on {pages} pages")


def test_every_page_is_built_in_both_languages(built_site, root):
    for page in handbook.iter_pages(root / "docs"):
        out = built_site / page.url() / "index.html"
        assert out.is_file(), f"{page.path.relative_to(root)} → {out.relative_to(built_site)} missing"
        html = out.read_text(encoding="utf-8")
        assert f'<html lang="{page.lang}"' in html, out
        for q in page.questions:
            if q.id:
                assert f'id="{q.id}"' in html, f"{out}: anchor #{q.id} missing"


def _switcher_links(html: str) -> dict[str, str]:
    return dict((lang, href) for href, lang in
                re.findall(r'<a href="([^"]*)" hreflang="([a-z]+)" class="md-select__link"', html))


def test_language_switcher_points_at_the_same_page(built_site, root):
    """On every page (notebooks included) each language link leads to that page in the other language."""
    docs = root / "docs"
    urls: dict[str, dict[str, str]] = {}
    for page in handbook.iter_pages(docs):
        urls.setdefault(page.rel, {})[page.lang] = page.url()
    for nb in docs.rglob("*.ipynb"):
        stem, lang = nb.name.split(".")[0], nb.name.split(".")[-2]
        rel = (nb.parent.relative_to(docs) / stem).as_posix()
        urls.setdefault(rel, {})[lang] = ("" if lang == handbook.DEFAULT_LANG else f"{lang}/") + rel + "/"
    assert len(urls) >= 10
    for rel, by_lang in urls.items():
        for lang, url in by_lang.items():
            links = _switcher_links((built_site / url / "index.html").read_text(encoding="utf-8"))
            assert set(links) == set(handbook.LANGS), (url, links)
            for other, href in links.items():
                target = urljoin(f"http://site/{url}", href)
                assert target == f"http://site/{by_lang[other]}", (url, other, href)


def test_questions_json(built_site, root):
    data = json.loads((built_site / "questions.json").read_text(encoding="utf-8"))
    pages = handbook.iter_pages(root / "docs")
    chapter_slugs = {row["slug"] for row in handbook.chapters(root)}
    expected = {q.id for p in pages if p.chapter in chapter_slugs and not p.is_index for q in p.questions}
    assert data["count"] == len(data["questions"]) == len(expected)
    assert {q["id"] for q in data["questions"]} == expected
    for q in data["questions"]:
        assert set(q["title"]) == set(q["url"]) == {"zh", "en"}, q["id"]
        assert q["difficulty"] in (1, 2, 3), q["id"]
        assert q["url"]["en"] == "en/" + q["url"]["zh"]
        page_html = (built_site / q["url"]["zh"].split("#")[0] / "index.html").read_text(encoding="utf-8")
        assert f'id="{q["id"]}"' in page_html
    _check_short_answers(built_site, data["questions"])


def _without_formulas(page_html: str) -> str:
    """``page_html`` without its typeset formulas (each ``arithmatex`` element, KaTeX markup included)."""
    from html.parser import HTMLParser

    class Strip(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=False)
            self.out, self.depth = [], 0          # depth > 0: inside a formula

        def handle_starttag(self, tag, attrs):
            if self.depth or "arithmatex" in (dict(attrs).get("class") or "").split():
                self.depth += tag not in VOID
            else:
                self.out.append(self.get_starttag_text())

        def handle_endtag(self, tag):
            if self.depth:
                self.depth -= 1
            else:
                self.out.append(f"</{tag}>")

        def handle_data(self, data):
            if not self.depth:
                self.out.append(data)

        def handle_entityref(self, name):
            self.handle_data(f"&{name};")

        def handle_charref(self, name):
            self.handle_data(f"&#{name};")

    VOID = {"br", "img", "hr", "input", "meta", "link", "wbr", "col", "source"}
    parser = Strip()
    parser.feed(page_html)
    return "".join(parser.out)


def _words(text: str, rendered: bool = False) -> str:
    """Text without math and spacing (and, for rendered HTML, without tags and entities), to compare
    a JSON short answer with the rendered one."""
    if rendered:
        text = _without_formulas(text)
        text = html.unescape(re.sub(r"<[^>]+>", "", text))
    text = re.sub(r"\$\$.+?\$\$|\$[^$]+\$|\\\(.+?\\\)|\\\[.+?\\\]", "", text, flags=re.S)
    return re.sub(r"\s+", "", text)


def _check_short_answers(built_site: Path, questions: list[dict]) -> None:
    """Every question carries its short answer in both languages, and it is the text of the
    page's own short-answer box (the first admonition after the question's heading)."""
    pages: dict[str, str] = {}
    for q in questions:
        assert set(q["short_answer"]) == {"zh", "en"}, q["id"]
        for lang, text in q["short_answer"].items():
            assert len(text) >= 40 and "\n" not in text and "**" not in text, (lang, q["id"], text)
            url = q["url"][lang].split("#")[0]
            page = pages.setdefault(url, (built_site / url / "index.html").read_text(encoding="utf-8"))
            after = page[page.index(f'id="{q["id"]}"'):]
            box = re.search(r'<div class="admonition abstract">\s*<p class="admonition-title">[^<]*</p>(.*?)</div>',
                            after, re.S)
            assert box and box.start() < after.find("<h2", 10) % len(after), (lang, q["id"])
            assert _words(box.group(1), rendered=True) == _words(text), (lang, q["id"])


def _anchored_links(html: str, page_url: str) -> dict[str, str]:
    """{anchor: absolute page URL} of every link with a #fragment on a built page."""
    return {frag: urljoin(f"http://site/{page_url}", href)
            for href, frag in re.findall(r'<a href="([^"#]*)#([^"]+)"', html)}


def test_question_index_links_every_question(built_site, root):
    data = json.loads((built_site / "questions.json").read_text(encoding="utf-8"))
    for lang in handbook.LANGS:
        index_url = ("" if lang == handbook.DEFAULT_LANG else f"{lang}/") + "questions/"
        links = _anchored_links((built_site / index_url / "index.html").read_text(encoding="utf-8"), index_url)
        for q in data["questions"]:
            assert links.get(q["id"]) == "http://site/" + q["url"][lang].split("#")[0], (lang, q["id"])


def test_chapter_index_lists_its_questions(built_site, root):
    data = json.loads((built_site / "questions.json").read_text(encoding="utf-8"))
    for q in data["questions"]:
        for lang in handbook.LANGS:
            chapter_url = ("" if lang == handbook.DEFAULT_LANG else f"{lang}/") + q["chapter"] + "/"
            html = (built_site / chapter_url / "index.html").read_text(encoding="utf-8")
            assert _anchored_links(html, chapter_url).get(q["id"]) == "http://site/" + q["url"][lang].split("#")[0]


# ------------------------------------------------------------ negative tests on hand-made sites

def test_external_script_is_reported(tmp_path):
    (tmp_path / "page").mkdir()
    (tmp_path / "page/index.html").write_text(
        '<!doctype html>\n<html><head>\n<script src="https://cdn.example.com/x.js"></script>\n'
        '<link rel="stylesheet" href="//fonts.example.com/a.css">\n<a href="https://github.com/x">ok</a>\n'
        '</head><body><img srcset="local.png 1x, https://img.example.com/b.png 2x"></body></html>',
        encoding="utf-8")
    (tmp_path / "style.css").write_text('@import "https://fonts.example.com/c.css";\n'
                                        'b { background: url(data:image/png;base64,AAAA) }\n', encoding="utf-8")
    assert external_resource_problems(tmp_path) == [
        "page/index.html:3: <script> loads https://cdn.example.com/x.js from another host",
        "page/index.html:4: <link> loads //fonts.example.com/a.css from another host",
        "page/index.html:6: <img> loads https://img.example.com/b.png from another host",
        "style.css:1: stylesheet loads https://fonts.example.com/c.css from another host",
    ]


def test_raw_json_notebook_page_is_reported(tmp_path):
    docs, site = tmp_path / "docs", tmp_path / "site"
    (docs / "labs").mkdir(parents=True)
    for lang in ("zh", "en"):
        (docs / f"labs/demo.{lang}.ipynb").write_text('{"cells": []}', encoding="utf-8")
    (site / "labs/demo").mkdir(parents=True)
    (site / "labs/demo/index.html").write_text('{\n "cells": [{"cell_type": "code"}]\n}', encoding="utf-8")
    assert notebook_page_problems(site, docs) == [
        "docs/labs/demo.en.ipynb: no built page at en/labs/demo/index.html",
        "docs/labs/demo.zh.ipynb: built page labs/demo/index.html is not HTML (starts with '{\\n \"cells\": [{\"cell_') "
        ": the notebook was copied as raw JSON".replace(") :", "):"),
    ]


def test_tags_page_per_language(built_site, root):
    """Each language's tags page lists that language's tags and links only to that language's pages."""
    for lang in handbook.LANGS:
        prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
        html = (built_site / prefix / "tags" / "index.html").read_text(encoding="utf-8")
        article = html[html.index("<article"):html.index("</article>")]
        tags = {t for p in handbook.iter_pages(root / "docs", lang) for t in p.meta.get("tags") or []}
        assert tags
        for tag in tags:
            assert f">{tag}<" in article, (lang, tag)
        targets = {urljoin(f"http://site/{prefix}tags/", h) for h in re.findall(r'<a href="([^"#]+)"', article)}
        for target in targets:
            path = target.removeprefix("http://site/")
            assert path.startswith("en/") == (lang == "en"), (lang, target)
