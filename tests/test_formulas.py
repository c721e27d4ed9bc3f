"""Formulas typeset at build time (hooks/formulas.py, issue 19): KaTeX's HTML in the page, no KaTeX script.

The oracle for the HTML is KaTeX itself in the browser: every distinct formula of the built site is
rendered again by ``katex.renderToString`` (the same vendored katex.min.js, the options the site used
in the browser before) in Chromium and must be the same string. The rest checks what readers and tools
see: no raw TeX left in any page, no page loading KaTeX's JavaScript, formulas that do not move while
the page loads, display formulas that scroll inside a focusable region at phone width, search entries
without TeX, and a TeX error that stops the build naming the file and line.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import formulas

FIXTURE = Path(__file__).parent / "fixtures" / "good"
KATEX_START = re.compile(r'<span class="katex(-display)?">')
SPAN_TAG = re.compile(r"<span\b|</span>")
PAGES = ("norms/rmsnorm/", "en/norms/rmsnorm/")


def typeset_formulas(page_html: str) -> list[tuple[str, bool, str]]:
    """(TeX, display, KaTeX's HTML) of every typeset formula of a page, outermost elements only."""
    out, pos = [], 0
    for start in KATEX_START.finditer(page_html):
        if start.start() < pos:
            continue
        depth = 0
        for tag in SPAN_TAG.finditer(page_html, start.start()):
            depth += 1 if tag.group(0) == "<span" else -1
            if depth == 0:
                break
        pos = tag.end()
        fragment = page_html[start.start():pos]
        tex = re.search(r'<annotation encoding="application/x-tex">(.*?)</annotation>', fragment, re.S)
        out.append((html.unescape(tex.group(1)), bool(start.group(1)), fragment))
    return out


def prose(page_html: str) -> str:
    """The page's body without code, scripts, styles and KaTeX's TeX annotations."""
    body = page_html.split("<body", 1)[-1]
    body = re.sub(r"<(pre|code|script|style|textarea)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r'<annotation encoding="application/x-tex">.*?</annotation>', " ", body, flags=re.S)


# ------------------------------------------------------------------------------------- no build needed
def test_readable_text_for_search():
    """What the search index and its snippets show instead of TeX."""
    assert formulas.readable("g") == "g"
    assert formulas.readable(r"\mathrm{KL}(p_T^{(T)}\|p_S^{(T)})") == "KL(p_T^(T)|p_S^(T))"
    assert formulas.readable(r"\operatorname{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V") == \
        "softmax ((QK^⊤)/(√d_k) )V"
    assert formulas.readable(r"\hat{y}_i = \frac{x_i}{\mathrm{RMS}(x)} \odot g") == "y_i = (x_i)/(RMS(x)) ⊙ g"
    assert formulas.readable(r"\begin{aligned} a &= b \\ c &= d \end{aligned}") == "a = b c = d"


def test_search_text_replaces_every_typeset_formula():
    content = formulas.render_html('<p>gain <span class="arithmatex">\\(g_i\\)</span> and</p>'
                                   '<div class="arithmatex">\\[\\frac{a}{b} &lt; 1\\]</div><p>end</p>', "en")
    assert content.count('class="katex"') == 2 and 'role="group" aria-label="Formula"' in content
    assert formulas.search_text(content) == ('<p>gain <span class="arithmatex">g_i</span> and</p>'
                                             '<div class="arithmatex hb-math" tabindex="0" role="group" '
                                             'aria-label="Formula">a/b &lt; 1</div><p>end</p>')


def test_tex_error_names_the_line(tmp_path):
    source = "# Page\n\nText.\n\nA broken $\\frac{1$ formula.\n"
    with pytest.raises(Exception) as info:
        formulas.render_html('<p>A broken <span class="arithmatex">\\(\\frac{1\\)</span> formula.</p>', "zh",
                             "docs/x/page.zh.md", source, formulas.KaTeX(cache_dir=tmp_path))
    assert str(info.value).startswith("docs/x/page.zh.md:5: TeX error in $\\frac{1$: KaTeX parse error")


def test_cache_in_memory_and_on_disk(tmp_path):
    """A formula is rendered once: the second time it comes from memory, and a new process (a rebuild)
    reads it from .cache/ without running KaTeX; the file is per KaTeX version and script hash."""
    first = formulas.KaTeX(cache_dir=tmp_path)
    inline, display = first.render("x^2", False), first.render("x^2", True)
    assert 'class="katex-display"' in display and 'class="katex-display"' not in inline
    assert first.render("x^2", False) == inline and first.rendered == 2
    first.save()
    assert first.cache_file.parent == tmp_path and first.cache_file.name.startswith(f"katex-{first.version}-")
    second = formulas.KaTeX(cache_dir=tmp_path)
    assert second.render("x^2", False) == inline and second.render("x^2", True) == display
    assert second.rendered == 0 and second._ctx is None          # KaTeX was not even loaded
    assert first.version == json.loads((Path(formulas.ROOT) / "package.json").read_text())["dependencies"]["katex"]


def test_formulas_in_plain_text_and_toc():
    """Generated HTML that Markdown does not see (question index, practice data) and the TOC."""
    out = formulas.typeset_text("为什么要乘 $T^2$？ costs $9.00 and $1.41 <b>", "x")
    assert out.startswith('为什么要乘 <span class="arithmatex"><span class="katex">')
    assert out.endswith("？ costs $9.00 and $1.41 &lt;b&gt;")
    toc = ('<a href="#q" class="md-nav__link">\n    <span class="md-ellipsis">\n      Why \\(T^2\\)?\n'
           '    </span>')
    assert '<span class="katex">' in formulas.typeset_toc(toc, "en") and "\\(" not in formulas.typeset_toc(toc, "en")


@pytest.mark.build
def test_tex_error_stops_the_build(tmp_path, root):
    """A formula KaTeX cannot parse fails `mkdocs build` with the source file and line."""
    tree = tmp_path / "book"
    shutil.copytree(FIXTURE, tree)
    shutil.copy(root / "mkdocs.yml", tree / "mkdocs.yml")
    for folder in ("hooks", "overrides", "docs/assets/vendor/katex"):
        shutil.copytree(root / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    page = tree / "docs/demo/page.en.md"
    text = page.read_text(encoding="utf-8")
    [line] = [n for n, row in enumerate(text.splitlines(), 1) if "$g_i$" in row]
    page.write_text(text.replace("$g_i$", "$g_{i$", 1), encoding="utf-8")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-d", str(tree / "site")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert line == 28 and f"docs/demo/page.en.md:{line}: TeX error in $g_{{i$: KaTeX parse error" in log, log[-3000:]


# ------------------------------------------------------------------------------------------ built site
@pytest.mark.build
def test_no_raw_tex_and_no_katex_script(built_site):
    """No \\( \\[ $$ left in any page's prose (outside code), no page loads KaTeX's JavaScript, KaTeX's
    CSS (and its font preloads) only on pages with a formula; the practice data is typeset too."""
    counts = {"with math": 0, "without": 0}
    for path in sorted(built_site.rglob("*.html")):
        rel = path.relative_to(built_site).as_posix()
        page = path.read_text(encoding="utf-8")
        text = prose(page)
        for raw in ("\\(", "\\[", "$$"):
            at = text.find(raw)
            assert at < 0, f"{rel}: raw TeX {text[max(0, at - 60):at + 60]!r}"
        assert not re.search(r"<script[^>]+(katex|auto-render)", page), f"{rel}: loads KaTeX's script"
        math = 'class="katex"' in page
        assert ("katex.min.css" in page) == math, f"{rel}: KaTeX CSS {'missing' if math else 'without a formula'}"
        preload = re.search(r'<link rel="preload" href="[^"]*/KaTeX_Main-Regular\.woff2" as="font"', page)
        assert bool(preload) == math, f"{rel}: KaTeX's main font preloaded {'without' if not math else 'not'}"
        counts["with math" if math else "without"] += 1
    assert counts["with math"] > 50 and counts["without"] > 10, counts
    for lang in ("zh", "en"):
        script = (built_site / f"assets/practice/questions.{lang}.js").read_text(encoding="utf-8")
        deck = json.loads(script.split("=", 1)[1].rstrip().rstrip(";"))
        typeset = [q for q in deck["questions"] if "$" in q["answer"] and 'class="katex"' in q["answer_html"]]
        assert typeset, "no short answer with a typeset formula"
        for q in deck["questions"]:
            for field in ("title_html", "answer_html"):
                assert "\\(" not in q[field] and not re.search(r"\$[^$\s\d][^$]*\$", prose(q[field])), (q["id"], field)


@pytest.mark.build
def test_search_index_holds_readable_formulas(built_site):
    """The search index holds formulas as text (``T^2``), never TeX delimiters or KaTeX's markup."""
    for lang in ("zh", "en"):
        data = json.loads((built_site / f"search/search_index.{lang}.json").read_text(encoding="utf-8"))
        for d in data["docs"]:
            for field in ("title", "text", "lead"):
                value = d.get(field, "")
                assert "\\(" not in value and "\\[" not in value and "katex" not in value, (d["location"], field)
        entry = next(d for d in data["docs"] if d["location"].endswith("#kd-temperature-t-squared"))
        assert "T^2" in entry["title"] and "KL(p_T^(T)|p_S^(T))" in entry["lead"], entry


@pytest.fixture(scope="module")
def katex_page(browser):
    """A blank page with the vendored KaTeX loaded (the oracle)."""
    page = browser.new_page()
    page.add_script_tag(path=str(formulas.KATEX_JS))
    yield page
    page.close()


@pytest.mark.build
def test_html_matches_katex_in_the_browser(built_site, katex_page):
    """Every distinct formula of every built page (and the practice data) is exactly what KaTeX in
    Chromium makes of the same TeX with the options the site used in the browser (throwOnError false)."""
    found: dict[tuple[str, bool], str] = {}
    for path in built_site.rglob("*.html"):
        for tex, display, fragment in typeset_formulas(path.read_text(encoding="utf-8")):
            assert found.setdefault((tex, display), fragment) == fragment, (path, tex)
    assert len(found) > 500, len(found)
    items = sorted(found)
    browser_html = katex_page.evaluate(
        "items => items.map(([tex, display]) => katex.renderToString(tex, {displayMode: display, throwOnError: false}))",
        [list(i) for i in items])
    differ = [(tex, display) for (tex, display), theirs in zip(items, browser_html) if found[(tex, display)] != theirs]
    assert not differ, f"{len(differ)} of {len(items)} differ, e.g. {differ[:3]}"
    assert not [t for t in browser_html if "katex-error" in t]
    print(f"\n{len(items)} distinct formulas identical to KaTeX in Chromium")


CLS = """() => new Promise(resolve => {
  let cls = 0; const moved = [];
  new PerformanceObserver(list => { for (const e of list.getEntries()) {
    if (e.hadRecentInput) continue;
    for (const s of e.sources) if (s.node && s.node.closest && s.node.closest('.arithmatex, .katex')) {
      cls += e.value; moved.push(s.node.outerHTML.slice(0, 80)); break; }
  } }).observe({type: 'layout-shift', buffered: true});
  setTimeout(() => resolve({cls, moved}), 2500);
})"""


SIZES = """document.fonts.ready.then(() => [...document.querySelectorAll('.arithmatex')].map(e => {
  const r = e.getBoundingClientRect(); return [Math.round(r.width * 10), Math.round(r.height * 10)]; }))"""


@pytest.mark.build
@pytest.mark.parametrize("path", PAGES)
def test_formulas_are_typeset_without_javascript_and_do_not_move(browser, server, path):
    """With JavaScript off the formulas are typeset already (KaTeX's boxes, no TeX text), and with it
    on every formula has the same size as without (no script touches them); while the page loads, no
    layout shift of note involves a formula (the fonts its formulas use are preloaded: hooks/assets.py)."""
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 800})
    page = context.new_page()
    page.goto(server + path, wait_until="networkidle")
    assert page.locator(".arithmatex .katex-html").count() >= 10
    assert "\\(" not in page.inner_text("article")
    static = page.evaluate(SIZES)
    assert all(w > 0 and h > 0 for w, h in static)
    context.close()
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    page.goto(server + path, wait_until="load")
    result = page.evaluate(CLS)
    # Typeset in the browser, formulas moved the page by CLS 0.10 (issue 19). Typeset at build time
    # with their fonts preloaded they do not move at all on an idle machine; on a loaded CI runner a
    # preloaded font can still arrive after the first paint and nudge a formula (0.0009 seen once), so
    # the bound is a tenth of Lighthouse's "good" threshold rather than exactly 0.
    assert result["cls"] < 0.01, result
    assert page.evaluate(SIZES) == static
    context.close()


@pytest.mark.build
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_display_formulas_are_focusable_scroll_regions(browser, server, lang):
    """At 360 px the page itself never scrolls sideways; a long display formula scrolls inside its own
    region, which has a name, is reached with Tab and shows a focus ring; the scroll cue is drawn."""
    context = browser.new_context(viewport={"width": 360, "height": 800})
    page = context.new_page()
    page.goto(server + ("" if lang == "zh" else "en/") + "norms/rmsnorm/", wait_until="networkidle")
    page.evaluate("document.fonts.ready.then(() => new Promise(r => requestAnimationFrame(() => r())))")
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => !e.closest('.katex-mathml')
        && e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5).map(e => e.className + ': ' + e.textContent.slice(0, 40))""")
    assert widths[0] <= widths[1], f"the page scrolls sideways at 360 px: {widths}, {wide}"
    regions = page.locator(".hb-math")
    assert regions.count() >= 2
    label = "公式" if lang == "zh" else "Formula"
    for i in range(regions.count()):
        region = regions.nth(i)
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "group"
        assert region.get_attribute("aria-label") == label
    wide = page.evaluate("[...document.querySelectorAll('.hb-math')].findIndex(e => e.scrollWidth > e.clientWidth + 4)")
    assert wide >= 0, "expected a display formula wider than a 360 px screen on this page"
    region = regions.nth(wide)
    assert "radial-gradient" in region.evaluate("e => getComputedStyle(e).backgroundImage")     # the cue
    region.evaluate("e => e.previousElementSibling ? e.previousElementSibling.scrollIntoView() : 0")
    page.evaluate("el => el.focus()", region.element_handle())       # as Tab would: it is focusable
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('hb-math')")
    style = page.evaluate("(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]; })()")
    assert style[0] != "none" and style[1] != "0px", style
    page.keyboard.press("ArrowRight")
    page.wait_for_function("document.activeElement.scrollLeft > 0")
    context.close()
