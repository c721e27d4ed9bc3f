"""The offline edition (`make offline`): the whole site, both languages, in a zip that works when
opened from file:// in Chromium with no server: navigation, search in both languages, formulas,
diagrams and notebooks, and no request to any other host."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import shared_once

pytestmark = pytest.mark.build
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def offline_site(tmp_path_factory) -> Path:
    """Run what `make offline` runs, then unzip the archive somewhere else and use that copy (once per
    test run, shared by the pytest-xdist workers)."""
    def make(out: Path) -> None:
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
        proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", "editions/offline.yml"],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        archive = tmp_path_factory.mktemp("zip") / "handbook-offline.zip"
        subprocess.run([sys.executable, "-m", "zipfile", "-c", str(archive), "handbook"],
                       cwd=ROOT / "build" / "offline", check=True)
        with zipfile.ZipFile(archive) as z:
            z.extractall(out)
        print(f"\nhandbook-offline.zip: {archive.stat().st_size / 1e6:.1f} MB")
    return shared_once(tmp_path_factory, "offline", make) / "handbook"


@pytest.fixture
def page(browser):
    context = browser.new_context()
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:", "blob:", "about:"))
               else None)
    p = context.new_page()
    yield p
    context.close()
    assert outside == [], f"requests to other hosts: {outside[:5]}"


def _search(page, query: str) -> list[str]:
    page.keyboard.press("s")
    box = page.locator("input.md-search__input")
    box.fill(query)
    box.press("End")
    page.wait_for_selector(".md-search-result__item", timeout=20_000)
    return page.eval_on_selector_all(".md-search-result__item a.md-search-result__link", "ls => ls.map(a => a.href)")


def test_navigation_formulas_and_diagrams(offline_site, page):
    page.goto((offline_site / "index.html").as_uri())
    page.locator("article a[href$='norms/index.html']").first.click()          # follow a link between pages
    page.wait_for_url("**/norms/index.html")
    page.locator(".md-nav--primary a.md-nav__link[href$='rmsnorm.html']").first.click()   # and the navigation
    page.wait_for_url("**/norms/rmsnorm.html")
    page.wait_for_selector(".katex", timeout=15_000)
    assert page.locator(".katex-error").count() == 0
    page.goto((offline_site / "norms" / "placement.html").as_uri())
    # diagrams are inline SVG (hooks/diagrams.py), none left for mermaid
    assert page.locator("div.diagram > svg").count() > 0 and page.locator("pre.mermaid").count() == 0
    page.goto((offline_site / "en" / "labs" / "demo.html").as_uri())
    assert page.locator(".jp-Cell, .jupyter-wrapper").count() > 0, "the notebook page is not rendered"


@pytest.mark.parametrize("lang, query, expected", [
    ("zh", "均方根归一化", ("/handbook/norms/rmsnorm.html", "rmsnorm-formula")),
    ("en", "RMSNorm formula", ("/handbook/en/norms/rmsnorm.html", "rmsnorm-formula")),
])
def test_search_works_from_file(offline_site, page, lang, query, expected):
    start = offline_site / ("en" if lang == "en" else "") / "norms" / "index.html"
    page.goto(start.as_uri())
    links = _search(page, query)
    found = [(urlsplit(h).path, urlsplit(h).fragment) for h in links]
    assert any(path.endswith(expected[0]) and frag == expected[1] for path, frag in found), found[:6]
    assert all(("/handbook/en/" in h) == (lang == "en") for h in links), links[:6]
