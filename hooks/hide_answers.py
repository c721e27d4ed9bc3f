"""The "Hide answers" button of question pages, written into the page at build time.

``docs/assets/javascripts/hide-answers.js`` makes the button work (and adds one "Show answer" button per
question). Were the script to create the toggle itself, everything under the page title would move down by
one button's height after the first paint (Lighthouse measured CLS 0.023 on ``norms/rmsnorm``). So this
hook puts the button, disabled, after the ``<h1>`` of every page that has questions
(``<h2 … data-difficulty=…>``), and the script enables it. A disabled toggle is invisible but keeps its
place (``hide-answers.css``), so a reader without JavaScript sees no dead button and nothing moves. It runs
after search has indexed the page, so the button's words are not in the search index.
"""
from __future__ import annotations

import html
import re

import handbook

LABELS = {"zh": ("隐藏答案", "答案已隐藏：点击题目下方的“显示答案”查看"),
          "en": ("Hide answers", "Answers are hidden: use “Show answer” under a question")}
ARTICLE = re.compile(r'<article class="md-content__inner[^"]*">')
QUESTION = re.compile(r'<h2 [^>]*\bdata-difficulty=')


def toggle(lang: str) -> str:
    text, hint = LABELS[lang]
    return (f'<button type="button" class="hb-toggle md-button" aria-pressed="false" disabled '
            f'title="{html.escape(hint)}"><span class="hb-toggle__icon" aria-hidden="true"></span>{text}</button>')


def on_post_page(output: str, page, config) -> str:
    article = ARTICLE.search(output)
    if not article or 'id="print-site-page"' in output or not QUESTION.search(output, article.end()):
        return output
    h1_end = output.find("</h1>", article.end())
    if h1_end == -1:
        return output
    at = h1_end + len("</h1>")
    return output[:at] + toggle(handbook.build_language(config)) + output[at:]
