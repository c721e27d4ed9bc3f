"""The built site in real Chromium (Debian's /usr/bin/chromium driven by Playwright), served on
127.0.0.1: no request leaves the machine, formulas are typeset by KaTeX, mermaid diagrams are drawn,
and the language switcher keeps the reader on the same question."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import handbook

pytestmark = pytest.mark.build


def _pages(root: Path) -> list[tuple[str, Path]]:
    """(site-relative URL, source) of every Markdown page and notebook, both languages."""
    docs = root / "docs"
    out = [(p.url(), p.path) for p in handbook.iter_pages(docs)]
    for nb in sorted(docs.rglob("*.ipynb")):
        stem, lang = nb.name.split(".")[0], nb.name.split(".")[-2]
        prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
        out.append((prefix + (nb.parent.relative_to(docs) / stem).as_posix() + "/", nb))
    return out


SHARDS = 8     # the pages are checked in eight interleaved parts, so pytest-xdist spreads them over workers
TABS = 4       # pages of a shard loading side by side, so their network-idle waits (500 ms each) overlap


class _LoadAhead:
    """Tabs of one browser context that load the next pages while the current one is checked:
    ``page_for(url)`` returns the tab holding ``url`` once its network has been idle for 500 ms (as
    ``goto(wait_until="networkidle")`` would), and starts loading the following page in the tab before."""

    def __init__(self, context, urls: list[str], tabs: int = TABS):
        self.urls = iter(urls)
        self.free = [context.new_page() for _ in range(tabs)]
        self.loading: list = []
        self.current = None
        self._fill()

    def _fill(self) -> None:
        while self.free:
            url = next(self.urls, None)
            if url is None:
                return
            tab = self.free.pop()
            tab.goto(url, wait_until="commit")
            self.loading.append((tab, url))

    def page_for(self, url: str):
        if self.current is not None:
            self.free.append(self.current)
            self._fill()
        tab, loading = self.loading.pop(0)
        assert loading == url, (loading, url)
        tab.wait_for_load_state("networkidle")
        self.current = tab
        return tab


def test_every_page_is_in_one_shard(root):
    pages = _pages(root)
    shards = [pages[i::SHARDS] for i in range(SHARDS)]
    assert sorted(p for shard in shards for p in shard) == sorted(pages) and len(pages) >= 10


@pytest.mark.parametrize("shard", range(SHARDS))
def test_pages_load_nothing_from_other_hosts_and_render(browser, server, root, shard):
    """Every page: zero requests to other hosts, none that fails (4xx/5xx); KaTeX output and the
    diagrams drawn at build time where the source has them. Each page is loaded until the network is idle (no request for 500 ms, so
    late requests are seen too); TABS of them load at once in tabs of one context."""
    context = browser.new_context()
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url)
               if not r.url.startswith((server, "data:", "blob:", "about:")) else None)
    missing: list[str] = []         # every request of a page must find its file (no 404 noise)
    context.on("response", lambda r: missing.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    checked = 0
    pages = _pages(root)[shard::SHARDS]
    tabs = _LoadAhead(context, [server + url for url, _ in pages])
    for url, src in pages:
        page = tabs.page_for(server + url)
        assert page.locator("article, .md-content").count() > 0, url
        source = src.read_text(encoding="utf-8")
        if src.suffix == ".md" and ("$$" in source or re.search(r"(?<![\\$])\$[^$\s][^$]*\$", source)):
            page.wait_for_selector(".katex", state="attached", timeout=10_000)
            assert page.locator(".katex-error").count() == 0, f"{url}: KaTeX could not parse a formula"
        fences = re.findall(r"^```mermaid\n(.*?)^```", source, re.M | re.S)
        if fences:
            # hooks/diagrams.py drew each diagram into an inline SVG at build time (and checked mermaid
            # parses it): every one is on the page with a size, none left as source text.
            heights = page.evaluate("[...document.querySelectorAll('div.diagram > svg')]"
                                    ".map(e => e.getBoundingClientRect().height)")
            assert len(heights) == len(fences), f"{url}: {len(fences)} diagrams, {len(heights)} drawn"
            assert all(h > 20 for h in heights), f"{url}: empty diagram {heights}"
            assert page.locator("pre.mermaid").count() == 0, f"{url}: a diagram left as source text"
        checked += 1
    context.close()
    assert outside == [], f"requests to other hosts: {sorted(set(outside))[:10]}"
    assert missing == [], f"failed requests: {sorted(set(missing))[:10]}"
    assert checked == len(pages) > 0


def test_language_switcher_keeps_the_question(browser, server, root):
    """Open a question on a Chinese page, switch to English: same page, same #anchor — and back."""
    question_page = next(p for p in handbook.iter_pages(root / "docs", "zh")
                         if p.chapter and not p.is_index and len(p.questions) >= 2)
    qid = question_page.questions[1].id
    page = browser.new_page()
    page.goto(f"{server}{question_page.url()}#{qid}", wait_until="networkidle")
    page.locator("a.md-select__link[hreflang=en]").first.dispatch_event("click")
    page.wait_for_url(f"{server}en/{question_page.url()}#{qid}")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator(f"h2#{qid}").count() == 1
    page.locator("a.md-select__link[hreflang=zh]").first.dispatch_event("click")
    page.wait_for_url(f"{server}{question_page.url()}#{qid}")
    assert page.locator("html").get_attribute("lang") == "zh"
    page.close()



def test_question_index_filters(browser, server, built_site):
    """The question index filters by chapter, difficulty and tag in the browser (no server)."""
    import json

    questions = json.loads((built_site / "questions.json").read_text(encoding="utf-8"))["questions"]
    page = browser.new_page()
    for lang in handbook.LANGS:
        prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
        page.goto(f"{server}{prefix}questions/", wait_until="networkidle")
        visible = "document.querySelectorAll('.hb-qindex tbody tr:not([hidden])').length"
        assert page.evaluate(visible) == len(questions)
        chapter = questions[0]["chapter"]
        page.select_option("select[data-filter=chapter]", chapter)
        assert page.evaluate(visible) == sum(q["chapter"] == chapter for q in questions)
        page.select_option("select[data-filter=difficulty]", "2")
        expected = sum(q["chapter"] == chapter and q["difficulty"] == 2 for q in questions)
        assert page.evaluate(visible) == expected
        assert str(expected) in page.locator(".hb-qindex__count").inner_text()
        tag = questions[-1]["tags"][lang][0]
        page.goto(f"{server}{prefix}questions/?tag={tag}", wait_until="networkidle")   # preset from the URL
        expected = sum(tag in q["tags"][lang] for q in questions)
        try:                                    # the preset is applied by the page's script: give it time
            page.wait_for_function(f"{visible} === {expected}", timeout=10_000)
        except Exception:
            pass
        assert page.evaluate(visible) == expected
    page.close()


STYLE_OF_EVERY_ELEMENT = """() => [...document.querySelectorAll('body *')].map((e) => {
  const s = getComputedStyle(e);
  return [e.tagName, ...Array.from(s).filter((p) => !p.startsWith('--')).map((p) => s.getPropertyValue(p))].join('|');
})"""


def test_notebook_css_pruning_changes_no_style(browser, root):
    """hooks/notebook_css.py drops most of JupyterLab's inline CSS from notebook pages. Oracle: Chromium's
    cascade. A notebook converted by mkdocs-jupyter with its full stylesheet and the same HTML pruned give
    every element the same computed style, in the light and the dark scheme."""
    from mkdocs_jupyter.nbconvert2 import nb2html

    import notebook_css

    notebook = sorted((root / "docs").rglob("*.en.ipynb"))[0]
    full = nb2html(str(notebook))
    pruned = notebook_css.prune_page(full)
    assert len(pruned) < len(full) - 300_000, (len(full), len(pruned))
    page = browser.new_page()
    for scheme in ("default", "slate"):
        styles = []
        for fragment in (full, pruned):
            page.set_content(f'<!doctype html><html><body data-md-color-scheme="{scheme}">{fragment}</body></html>')
            styles.append(page.evaluate(STYLE_OF_EVERY_ELEMENT))
        assert len(styles[0]) > 200
        diff = [(i, a, b) for i, (a, b) in enumerate(zip(*styles)) if a != b]
        assert len(styles[0]) == len(styles[1]) and not diff, (scheme, diff[:3])
    page.close()


# First-load weight (issue 19): what a page downloads when opened with an empty cache, counted as the gzip
# size of each file it requests (a gzip-serving host sends about that). Pages stay under 300 KB, those with
# diagrams too (home: 1,052 KB before hooks/diagrams.py drew them at build time, 105 KB after;
# transformer/architecture: 1,144 → 193 KB); the practice page carries its question deck (about 140 KB; with
# its formulas typeset at build time, KaTeX HTML instead of TeX, it measured 401 KB) and gets 420 KB.
# The search index and its vocabulary are fetched only when the reader goes for search (search-lazy.js),
# never on load. No page requests mermaid.
PAGE_BUDGETS_KB = {"": 300, "transformer/architecture/": 300, "norms/rmsnorm/": 300, "questions/": 300,
                   "labs/tiny_gpt/": 300, "practice/": 420}


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_first_load_weight_within_budget(browser, server, built_site, lang):
    import gzip

    prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
    report = {}
    for path, budget in PAGE_BUDGETS_KB.items():
        context = browser.new_context()                          # empty cache
        page = context.new_page()
        requested: list[str] = []
        page.on("request", lambda r: requested.append(r.url))
        page.goto(server + prefix + path, wait_until="networkidle")
        page.wait_for_timeout(500)                               # late font and script requests
        total = 0
        for url in dict.fromkeys(requested):
            rel = url[len(server):].split("#")[0].split("?")[0] if url.startswith(server) else None
            if rel is None:
                continue
            file = built_site / rel
            file = file / "index.html" if file.is_dir() else file
            data = file.read_bytes()
            total += len(data) if file.suffix in (".woff2", ".woff", ".png", ".jpg") else len(gzip.compress(data, 6))
        context.close()
        assert not any("search/search_index" in u or "search/vocab" in u for u in requested), (path, requested)
        assert not any("mermaid" in u for u in requested), f"{prefix}{path}: loads mermaid"
        report[prefix + path] = round(total / 1024, 1)
        assert total <= budget * 1024, f"{prefix}{path}: {total / 1024:.0f} KB on first load (budget {budget} KB)"
    print("\nfirst-load gzip KB:", report)


LABEL_PX = """() => [...document.querySelectorAll('.diagram svg')].map(svg =>
    Math.min(...[...svg.querySelectorAll('foreignObject, text')].map(el => {
        const inner = el.tagName === 'text' ? el : (el.querySelector('span, p, div') || el);
        return parseFloat(getComputedStyle(inner).fontSize) * el.getScreenCTM().a; })))"""


def test_diagram_labels_readable_on_a_phone(browser, server, built_site):
    """Issue 19: on a 360 px screen the labels of the widest diagrams (found in the built pages, both
    languages) render at >= 12 px, and each diagram wider than the screen scrolls in a focusable, named
    box rather than spilling over the page."""
    widths = {}
    for path in built_site.rglob("index.html"):
        found = re.findall(r'<div class="diagram"[^>]*><svg [^>]*max-width: ([\d.]+)px', path.read_text(encoding="utf-8"))
        if found:
            widths[path.parent.relative_to(built_site).as_posix() + "/"] = max(map(float, found))
    widest = sorted(widths, key=widths.get, reverse=True)[:6]
    assert len(widest) == 6 and widths[widest[-1]] > 600, widths
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    for url in widest:
        page.goto(server + url, wait_until="networkidle")
        smallest = min(page.evaluate(LABEL_PX))
        assert smallest >= 12, f"{url}: a diagram label is {smallest:.1f} px on a 360 px screen"
        boxes = page.evaluate("""() => [...document.querySelectorAll('.diagram')].map(d => [
            d.scrollWidth > d.clientWidth + 1, d.getAttribute('tabindex'), d.getAttribute('aria-label'),
            d.getBoundingClientRect().right])""")
        assert any(scrolls for scrolls, _, _, _ in boxes), url
        for scrolls, tabindex, name, right in boxes:
            assert not scrolls or (tabindex == "0" and name), f"{url}: a scrolling diagram box without tabindex/name"
            assert right <= 361, f"{url}: a diagram box spills {right - 360:.0f} px over the screen's edge"
    context.close()


# ---------------------------------------------------------------- tables wrapped at build time (issue 19)

def test_wrap_tables_unit():
    """hooks/material_dom.py: a bare <table> goes into Material's wrapper, marked hb-table; a table with a class
    (a notebook's dataframe) and a table inside a table are left alone; an unclosed table is an error."""
    import material_dom as tables

    html = ('<p>a</p><table><tr><td><table><tr><td>in</td></tr></table></td></tr></table>'
            '<table class="dataframe"><tr><td>df</td></tr></table><table>\n<tr><td>b</td></tr></table>')
    assert tables.wrap_tables(html, where="x.md") == (
        '<p>a</p>' + tables.WRAP_OPEN + '<tr><td><table><tr><td>in</td></tr></table></td></tr>' + tables.WRAP_CLOSE +
        '<table class="dataframe"><tr><td>df</td></tr></table>' + tables.WRAP_OPEN + '\n<tr><td>b</td></tr>' +
        tables.WRAP_CLOSE)
    assert tables.WRAP_OPEN == ('<div class="md-typeset__scrollwrap"><div class="md-typeset__table">'
                                '<table class="hb-table">')
    assert tables.wrap_tables("<p>x</p><table>", 0, 8) == "<p>x</p><table>"      # outside the range
    with pytest.raises(ValueError, match=r"x\.md: a <table> is not closed"):
        tables.wrap_tables("<table><tr><td>a", where="x.md")


STYLES = """() => [...document.querySelectorAll('article table.hb-table')].slice(0, 3).flatMap(t => {
    const els = [t.parentElement.parentElement, t.parentElement, t, t.querySelector('thead tr'),
                 t.querySelector('th'), t.querySelector('tbody tr'), t.querySelector('td'), t.querySelector('td a')];
    return els.filter(Boolean).map(el => { const cs = getComputedStyle(el), r = el.getBoundingClientRect();
      return [el.tagName, Math.round(r.width), Math.round(r.height),
              ...[...cs].filter(p => !p.startsWith('--')).map(p => p + ':' + cs.getPropertyValue(p))].join(';'); });
})"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", ["questions/", "en/norms/rmsnorm/", "glossary/"])
def test_tables_wrapped_at_build_time_look_like_materials(browser, server, path, scheme):
    """The tables of hooks/material_dom.py arrive in Material's wrapper, so its script adds no wrapper after the
    page has loaded (it moved the whole question index table: the longest task of that page's load), and
    they look exactly as Material's own: every computed style of the wrappers, the table, a row, a header
    and a cell, and their sizes, are the same as with the hb-table class removed (then Material's CSS for
    table:not([class]) styles them), on a phone, in both colour schemes."""
    context = browser.new_context(viewport={"width": 360, "height": 800}, color_scheme=scheme)
    context.add_init_script("window.__wraps = null; document.addEventListener('readystatechange', () => {"
                            " window.__wraps = 0; new MutationObserver(rs => { for (const r of rs) for (const n of r.addedNodes)"
                            " if (n.classList && n.classList.contains('md-typeset__scrollwrap')) window.__wraps++;"
                            " }).observe(document.body, {childList: true, subtree: true}); }, {once: true});")
    page = context.new_page()
    try:
        page.goto(server + path, wait_until="networkidle")
        page.wait_for_function("(s) => document.body.dataset.mdColorScheme === s",
                               arg="slate" if scheme == "dark" else "default", timeout=10_000)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__wraps") == 0, "Material wrapped a table after load"
        assert page.locator("article table:not([class])").count() == 0
        ours = page.evaluate(STYLES)
        assert len(ours) >= 7
        page.evaluate("document.querySelectorAll('article table.hb-table').forEach(t => t.removeAttribute('class'))")
        page.wait_for_timeout(200)                                # transitions are 125 ms at most
        materials = page.evaluate(STYLES.replace("table.hb-table", "table:not([class])"))
        diff = [(a, b) for a, b in zip(ours, materials) if a != b]
        assert len(ours) == len(materials) and not diff, [
            sorted(set(a.split(";")) ^ set(b.split(";")))[:6] for a, b in diff[:2]]
    finally:
        context.close()


def test_mark_code_unit():
    import material_dom

    html = ('<pre><span></span><code><span id="__span-0-1"><a id="__codelineno-0-1"></a>x\n</span></code></pre>'
            '<pre><code>plain\n</code></pre><p><code>inline</code></p>')
    assert material_dom.mark_code(html) == html.replace(
        '<code><span id="__span-0-1">', '<code class="md-code__content"><span id="__span-0-1">', 1)


@pytest.mark.parametrize("path", ["transformer/architecture/", "en/norms/rmsnorm/"])
def test_code_blocks_marked_at_build_time(browser, server, built_site, path):
    """Every code block with line anchors arrives with Material's md-code__content class (hooks/material_dom.py),
    so Material's script changes no <code> element's class after load (it did: every line span of every block
    restyled, most of a chapter page's longest task; setting the same value again costs nothing); the copy
    button still works its way in."""
    html = (built_site / path / "index.html").read_text(encoding="utf-8")
    blocks = re.findall(r'<pre\b[^>]*>(?:<span></span>)?<code([^>]*)><span id="__span-', html)
    assert blocks and all(attrs == ' class="md-code__content"' for attrs in blocks), blocks[:3]
    context = browser.new_context(viewport={"width": 360, "height": 800})
    context.add_init_script("window.__classes = null; document.addEventListener('readystatechange', () => {"
                            " window.__classes = []; new MutationObserver(rs => { for (const r of rs)"
                            " if (r.target.tagName === 'CODE' && r.oldValue !== r.target.className) window.__classes.push(r.oldValue + ' -> ' + r.target.className);"
                            " }).observe(document.body, {attributes: true, attributeFilter: ['class'], attributeOldValue: true,"
                            " subtree: true}); }, {once: true});")
    page = context.new_page()
    try:
        page.goto(server + path, wait_until="networkidle")
        page.wait_for_selector("article pre .md-clipboard, article pre .md-code__nav", state="attached", timeout=10_000)
        assert page.evaluate("window.__classes") == []
        assert page.locator("article pre > code.md-code__content").count() == len(blocks)
    finally:
        context.close()
