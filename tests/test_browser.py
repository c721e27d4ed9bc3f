"""The built site in real Chromium (Debian's /usr/bin/chromium driven by Playwright), served on
127.0.0.1: no request leaves the machine, formulas are typeset by KaTeX, mermaid diagrams are drawn,
and the language switcher keeps the reader on the same question."""
from __future__ import annotations

import functools
import http.server
import re
import threading
from pathlib import Path

import pytest

import handbook

pytestmark = pytest.mark.build
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def server(built_site):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is required (apt-get install chromium; .ci/run does it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _pages(root: Path) -> list[tuple[str, Path]]:
    """(site-relative URL, source) of every Markdown page and notebook, both languages."""
    docs = root / "docs"
    out = [(p.url(), p.path) for p in handbook.iter_pages(docs)]
    for nb in sorted(docs.rglob("*.ipynb")):
        stem, lang = nb.name.split(".")[0], nb.name.split(".")[-2]
        prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
        out.append((prefix + (nb.parent.relative_to(docs) / stem).as_posix() + "/", nb))
    return out


def test_pages_load_nothing_from_other_hosts_and_render(browser, server, root):
    """Every page: zero requests to other hosts; KaTeX and mermaid output where the source has them."""
    context = browser.new_context()
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url)
               if not r.url.startswith((server, "data:", "blob:", "about:")) else None)
    page = context.new_page()
    checked = 0
    for url, src in _pages(root):
        page.goto(server + url, wait_until="networkidle")
        assert page.locator("article, .md-content").count() > 0, url
        source = src.read_text(encoding="utf-8")
        if src.suffix == ".md" and ("$$" in source or re.search(r"(?<![\\$])\$[^$\s][^$]*\$", source)):
            page.wait_for_selector(".katex", timeout=10_000)
            assert page.locator(".katex-error").count() == 0, f"{url}: KaTeX could not parse a formula"
        fences = re.findall(r"^```mermaid\n(.*?)^```", source, re.M | re.S)
        if fences:
            # Material draws each diagram into a closed shadow root of a div.mermaid that replaces
            # the pre.mermaid holding the source: wait for all of them, then check each has a size
            # and that mermaid itself accepts every diagram's source.
            page.wait_for_function(f"document.querySelectorAll('div.mermaid').length >= {len(fences)}",
                                   timeout=15_000)
            heights = page.evaluate("[...document.querySelectorAll('div.mermaid')]"
                                    ".map(e => e.getBoundingClientRect().height)")
            assert all(h > 20 for h in heights), f"{url}: empty diagram {heights}"
            assert page.locator("pre.mermaid").count() == 0, f"{url}: a diagram left as source text"
            for code in fences:
                error = page.evaluate("async (code) => { try { await mermaid.parse(code); return null }"
                                      " catch (e) { return String(e) } }", code)
                assert error is None, f"{url}: mermaid cannot parse a diagram: {error}"
        checked += 1
    context.close()
    assert outside == [], f"requests to other hosts: {sorted(set(outside))[:10]}"
    assert checked >= 10


def test_language_switcher_keeps_the_question(browser, server, root):
    """Open a question on a Chinese page, switch to English: same page, same #anchor — and back."""
    question_page = next(p for p in handbook.iter_pages(root / "docs", "zh")
                         if p.chapter and not p.is_index and len(p.questions) >= 2)
    qid = question_page.questions[1].id
    page = browser.new_page()
    page.goto(f"{server}{question_page.url()}#{qid}", wait_until="networkidle")
    page.locator("a.md-select__link[hreflang=en]").first.dispatch_event("click")
    page.wait_for_url(re.compile(re.escape(f"en/{question_page.url()}#{qid}") + "$"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.locator(f"h2#{qid}").count() == 1
    page.locator("a.md-select__link[hreflang=zh]").first.dispatch_event("click")
    page.wait_for_url(re.compile(re.escape(f"/{question_page.url()}#{qid}") + "$"))
    assert page.locator("html").get_attribute("lang") == "zh"
    page.close()


@pytest.mark.parametrize("query, expected", [
    ("均方根归一化", "norms/rmsnorm/"),
    ("激活函数", "activations/"),
    ("attention", "norms/"),          # English word on a Chinese-default site: must not be stemmed away
    ("RMSNorm", "norms/rmsnorm/"),
    ("SwiGLU", "activations/glu/"),
    ("DeepNorm", "norms/deepnorm/"),
])
def test_search_finds_chinese_and_english_terms(browser, server, query, expected):
    """Chinese is segmented (jieba) and English words are found whole (search pipeline: stopWordFilter).
    The page that answers the query must be among the first five results."""
    page = browser.new_page()
    page.goto(server, wait_until="networkidle")
    page.keyboard.press("s")                       # Material's shortcut: focus the search box
    box = page.locator("input.md-search__input")
    box.fill(query)
    box.press("End")                               # a key event: Material searches on keyboard input
    page.wait_for_selector(".md-search-result__item", timeout=15_000)
    hrefs = page.eval_on_selector_all(".md-search-result__item > a.md-search-result__link",
                                      "links => links.slice(0, 5).map(a => a.href)")
    assert any(expected in h for h in hrefs), (query, hrefs)
    page.close()
