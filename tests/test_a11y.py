"""Accessibility of the built site (issue 19).

- axe-core (vendored from npm in tests/vendor/axe-core, no CDN) runs in Chromium on one page of each
  kind, in both languages and both colour schemes, and fails on any serious or critical violation,
  listing the rule, the selector of each offending element and the page.
- Every ``<img>`` of every built page has a real text alternative: not empty, not a file name, not
  nbconvert's placeholder (plots in the labs get theirs from cell metadata: hooks/notebook_alt.py).

Lighthouse (accessibility, best practices, SEO, performance) is an audit run by hand: tools/lighthouse.py.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import handbook

pytestmark = pytest.mark.build

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"

# One page of each kind: home, a chapter page with formulas, one with a diagram, the question index, a
# notebook (lab), the tag index, the glossary and the practice page.
PAGES = ["", "norms/rmsnorm/", "transformer/architecture/", "questions/", "labs/tiny_gpt/", "tags/",
         "glossary/", "practice/"]
SCHEMES = {"light": "default", "dark": "slate"}      # prefers-color-scheme → Material's data-md-color-scheme
BLOCKING = ("serious", "critical")


def axe_violations(page) -> list[dict]:
    """Inject axe-core into ``page`` and return its violations (WCAG 2.x A/AA and best-practice rules)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return page.evaluate("""async () => {
      const r = await axe.run(document, {resultTypes: ['violations']});
      return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
        targets: v.nodes.map(n => ({target: n.target.join(' '), impact: n.impact}))}));
    }""")


def describe(violations: list[dict], where: str, impacts=BLOCKING) -> list[str]:
    """``where: rule (impact) at selector`` for every node of the given impacts (one line each)."""
    return [f"{where}: {v['id']} ({n['impact']}: {v['help']}) at {n['target']}"
            for v in violations for n in v["targets"] if n["impact"] in impacts]


def open_page(browser, server: str, path: str, scheme: str, viewport=(1280, 900)):
    """A fresh context in ``scheme`` (light/dark) with ``path`` loaded, formulas and diagrams drawn."""
    context = browser.new_context(color_scheme=scheme, viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.goto(server + path, wait_until="networkidle")
    # Material's bundle applies the palette that matches prefers-color-scheme; wait for it under load
    page.wait_for_function("(s) => document.body.dataset.mdColorScheme === s",
                           arg="slate" if scheme == "dark" else "default", timeout=10_000)
    page.wait_for_timeout(300)                    # KaTeX / mermaid / the page's own scripts settle
    return context, page


@pytest.fixture(scope="module")
def scheme_tabs(browser):
    """One tab per colour scheme, kept for the axe checks of this module (per pytest-xdist worker): a
    fresh context per page would cost about a CPU-second more per load (cold caches, scripts compiled
    again) than what is checked. Each tab's first page still gets its scheme from prefers-color-scheme."""
    contexts = {scheme: browser.new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900})
                for scheme in SCHEMES}
    yield {scheme: context.new_page() for scheme, context in contexts.items()}
    for context in contexts.values():
        context.close()


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("lang", handbook.LANGS)
@pytest.mark.parametrize("path", PAGES)
def test_axe_no_serious_violations(scheme_tabs, server, path, lang, scheme):
    prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
    page = scheme_tabs[scheme]
    page.goto(server + prefix + path, wait_until="networkidle")
    page.wait_for_function("(s) => document.body.dataset.mdColorScheme === s",
                           arg=SCHEMES[scheme], timeout=10_000)
    page.wait_for_timeout(300)                    # the page's own scripts settle
    assert page.get_attribute("html", "lang") == lang
    problems = describe(axe_violations(page), f"/{prefix}{path} [{scheme}]")
    assert problems == [], "axe-core found serious/critical violations:\n" + "\n".join(problems)


def test_axe_check_reports_a_seeded_violation(browser, server):
    """The check can fail: an unnamed button and low-contrast text, added to a page, are reported."""
    context, page = open_page(browser, server, "norms/rmsnorm/", "light")
    try:
        page.evaluate("""() => {
          const b = document.createElement('button'); b.id = 'seeded-button';
          document.querySelector('article').append(b);
          const p = document.createElement('p'); p.id = 'seeded-text'; p.textContent = 'faint text';
          p.style.color = '#bbb'; document.querySelector('article').append(p);
        }""")
        problems = describe(axe_violations(page), "/norms/rmsnorm/")
    finally:
        context.close()
    assert any("button-name" in p and "#seeded-button" in p for p in problems), problems
    assert any("color-contrast" in p and "#seeded-text" in p for p in problems), problems


# ----------------------------------------------------------------------------------- text alternatives
FILENAME = re.compile(r"^\S+\.(?:png|jpe?g|gif|svg|webp|avif)$|^(?:image|img|figure|plot|output)\s*\d*$", re.I)
PLACEHOLDER = "No description has been provided for this image"   # nbconvert's, when a plot has no alt


class _Images(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str | None, str]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            a = dict(attrs)
            self.found.append((self.getpos()[0], a.get("alt"), (a.get("src") or "")[:60]))


def bad_images(html: str, name: str) -> list[str]:
    """``file:line: reason`` for every <img> without a real text alternative."""
    parser = _Images()
    parser.feed(html)
    problems = []
    for line, alt, src in parser.found:
        text = (alt or "").strip()
        if not text:
            problems.append(f"{name}:{line}: <img src={src!r}> has no alt text")
        elif text == PLACEHOLDER or FILENAME.match(text) or text == Path(src).name:
            problems.append(f"{name}:{line}: <img src={src!r}> alt {text!r} is not a description")
    return problems


def test_every_image_has_a_real_alt(built_site):
    pages = sorted(built_site.rglob("*.html"))
    problems = [p for f in pages for p in bad_images(f.read_text(encoding="utf-8"), f.relative_to(built_site).as_posix())]
    assert problems == []
    images = sum(f.read_text(encoding="utf-8").count("<img") for f in pages)
    assert images >= 8, f"only {images} images found: the check saw too little"    # the labs' plots


def test_bad_alt_is_reported():
    html = ('<p>\n<img src="a.png">\n<img alt="" src="b.png"><img alt="plot.png" src="x">\n'
            f'<img alt="{PLACEHOLDER}" src="data:image/png;base64,AAAA">\n'
            '<img alt="Training loss falls from 4.2 to 1.6 nats" src="data:image/png;base64,AAAA"></p>')
    assert [p.split(": <img")[0] for p in bad_images(html, "x.html")] == ["x.html:2", "x.html:3", "x.html:3", "x.html:4"]


def test_notebook_plot_without_alt_stops_the_build(tmp_path):
    """hooks/a11y.py: a plot with no "alt" in its cell metadata is an error naming the notebook and line."""
    import json

    from mkdocs.exceptions import PluginError

    import a11y

    png = {"output_type": "display_data", "metadata": {}, "data": {"image/png": "AAAA", "text/plain": "<Figure>"}}
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# t"},
             {"cell_type": "code", "metadata": {"alt": "Loss falls from 4 to 0.6"}, "outputs": [png], "source": ""},
             {"cell_type": "code", "metadata": {}, "outputs": [png, png], "source": ""}]
    nb = tmp_path / "lab.en.ipynb"
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1))
    line = [n for n, text in enumerate(nb.read_text().splitlines(), 1) if '"cell_type"' in text][2]  # 3rd cell
    with pytest.raises(PluginError, match=rf"lab\.en\.ipynb:{line}: cell 2 outputs 2 image\(s\)"):
        a11y.notebook_alts(nb)
    cells[2]["metadata"]["alt"] = ["Heatmap of head 0", "Heatmap of head 1"]
    nb.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1))
    alts = a11y.notebook_alts(nb)
    assert alts == ["Loss falls from 4 to 0.6", "Heatmap of head 0", "Heatmap of head 1"]
    page = "".join(f'<img {a11y.PLACEHOLDER} src="data:image/png;base64,AAAA">' for _ in alts)
    assert bad_images(a11y.with_alts(page, alts, "lab"), "lab") == []
    with pytest.raises(PluginError, match="3 image"):
        a11y.with_alts(page, alts[:2], "lab")


def test_nav_toggles_get_the_section_title():
    import a11y

    html = ('<label class="md-nav__link " for="__nav_5" id="__nav_5_label" tabindex="0">\n'
            '  <span class="md-nav__icon md-icon"></span>\n</label>\n'
            '<nav class="md-nav" aria-labelledby="__nav_5_label"><label class="md-nav__title" for="__nav_5">'
            '<span class="md-nav__icon md-icon"></span> 位置编码 &amp; RoPE </label></nav>')
    assert ('<span class="md-nav__icon md-icon"></span><span class="hb-visually-hidden">位置编码 &amp; RoPE</span>\n'
            '</label>') in a11y.name_nav_toggles(html)


WRAPS = """() => [...document.querySelectorAll('.md-typeset__scrollwrap')].map(w => [
    w.scrollWidth > w.clientWidth + 1, w.getAttribute('tabindex'), w.getAttribute('role'), w.getAttribute('aria-label')])"""


def _wraps_consistent(page) -> bool:
    """Every table wrapper that scrolls is a focusable, named region; no other one is."""
    return all((tab, role, bool(name)) == (("0", "region", True) if scrolls else (None, None, False))
               for scrolls, tab, role, name in page.evaluate(WRAPS))


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_scrolling_tables_are_keyboard_regions(browser, server, lang):
    """assets/javascripts/a11y.js: a table wrapper whose table is wider than it gets tabindex, role and a
    name, and loses them when it no longer scrolls, whether the table grows or shrinks with no window
    resize (a web font arriving, a cell filled in: the wrappers are watched with a ResizeObserver, not
    measured once after load) or the window is resized (a phone turned sideways)."""
    prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
    context, page = open_page(browser, server, prefix + "norms/rmsnorm/", "light", viewport=(1600, 900))
    grow = ("(on) => { const td = document.querySelector('.md-typeset__scrollwrap td');"
            " td.style.whiteSpace = on ? 'nowrap' : ''; td.dataset.text ??= td.textContent;"
            " td.textContent = on ? td.dataset.text + ' x'.repeat(300) : td.dataset.text; }")
    first = f"({WRAPS})()[0]"
    try:
        page.wait_for_function(f"({WRAPS})().length > 0 && ({WRAPS})().every(w => !w[0] && w[1] === null)",
                               timeout=10_000)
        page.evaluate(grow, True)                                  # wider than a 1600 px window
        page.wait_for_function(f"{first}[1] === '0'", timeout=10_000)
        assert _wraps_consistent(page)
        page.evaluate(grow, False)
        page.wait_for_function(f"{first}[1] === null", timeout=10_000)
        assert _wraps_consistent(page)
        page.evaluate("() => { const t = document.querySelector('.md-typeset__scrollwrap table');"
                      " t.style.minWidth = '600px'; }")                       # fits 1600 px, not 360 px
        page.wait_for_timeout(300)
        assert page.evaluate(first)[1] is None
        page.set_viewport_size({"width": 360, "height": 800})
        page.wait_for_function(f"{first}[1] === '0'", timeout=10_000)
        assert _wraps_consistent(page)
        page.set_viewport_size({"width": 1600, "height": 900})
        page.wait_for_function(f"{first}[1] === null", timeout=10_000)
        assert _wraps_consistent(page)
    finally:
        context.close()
