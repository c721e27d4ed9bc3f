"""Moved pages keep their old addresses in both languages (mkdocs-redirects + hooks/redirects.py,
map in data/redirects.tsv): the old URL is a small page that forwards to the new page of the same
language, and the #anchor of a question survives the jump."""
from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest

import handbook
import redirects


def _rows(root):
    return handbook.read_tsv(root / "data" / "redirects.tsv")


def _url(path: str, lang: str) -> str:
    """Site-relative URL of a suffix-less source path (``multimodal/vlm.md`` → ``en/multimodal/vlm/``)."""
    prefix = "" if lang == handbook.DEFAULT_LANG else f"{lang}/"
    stem = path.removesuffix(".md")
    return prefix + ("" if stem == "index" else stem.removesuffix("/index") + "/")


def test_map_is_localised_per_language():
    rows = [{"old": "architectures/multimodal.md", "new": "multimodal/vlm.md"},
            {"old": "a/b.md", "new": "c/d.md#some-question"}]
    assert redirects.redirect_map(rows, "zh") == {"architectures/multimodal.md": "multimodal/vlm.zh.md",
                                                  "a/b.md": "c/d.zh.md#some-question"}
    assert redirects.redirect_map(rows, "en") == {"en/architectures/multimodal.md": "multimodal/vlm.en.md",
                                                  "en/a/b.md": "c/d.en.md#some-question"}


def test_the_multimodal_page_move_is_listed(root):
    assert {"old": "architectures/multimodal.md", "new": "multimodal/vlm.md"} in _rows(root)
    for row in _rows(root):
        assert not (root / "docs" / row["old"].replace(".md", ".zh.md")).exists(), f"{row['old']} still exists"


@pytest.mark.build
def test_old_urls_forward_to_the_new_page_in_each_language(built_site, root):
    for row in _rows(root):
        for lang in handbook.LANGS:
            old, new = _url(row["old"], lang), _url(row["new"], lang)
            html = (built_site / old / "index.html").read_text(encoding="utf-8")
            targets = {m for m in re.findall(r'(?:href="|content="0; url=|location\.href=")([^"]+)"', html)}
            assert len(targets) == 1, (old, targets)
            target = urljoin(f"http://site/{old}", targets.pop())
            assert target == f"http://site/{new}", (old, target)
            assert (built_site / new / "index.html").is_file()
            assert "window.location.hash" in html, "the redirect must carry the #anchor along"
    assert _url("architectures/multimodal.md", "en") == "en/architectures/multimodal/"


@pytest.mark.build
def test_redirect_keeps_the_question_anchor_in_chromium(browser, server, root):
    """Open an old URL with a question anchor in each language: same language, new page, same question."""
    for lang in handbook.LANGS:
        old, new = _url("architectures/multimodal.md", lang), _url("multimodal/vlm.md", lang)
        page = browser.new_page()
        page.goto(f"{server}{old}#llava-style-vlm")
        page.wait_for_url(f"{server}{new}#llava-style-vlm")
        page.wait_for_load_state("networkidle")
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("h2#llava-style-vlm").count() == 1
        page.close()
