"""The "Hide answers" button of question pages, written into the page at build time.

``docs/assets/javascripts/hide-answers.js`` makes the button work (and adds one "Show answer" button per
question). Were the script to create the toggle itself, everything under the page title would move down by
one button's height after the first paint (Lighthouse measured CLS 0.023 on ``norms/rmsnorm``). So this
hook puts the button, disabled, after the ``<h1>`` of every page that has questions
(``<h2 … data-difficulty=…>``), and the script enables it. A disabled toggle is invisible but keeps its
place (``hide-answers.css``), so a reader without JavaScript sees no dead button and nothing moves. It runs
after search has indexed the page, so the button's words are not in the search index.

It also wraps each question's answer (everything after its ``<h2>`` up to the next ``<h1>``/``<h2>`` or
the end of the article) in ``div.hb-answer`` and puts the question's "Show answer" button, hidden, before
it: the structure the script used to build in the browser after the first paint, moving nearly every
element of the page (one more style recalculation and layout of the whole page, ~90 ms of a phone's
main thread on a chapter page). With it in the HTML, the script only wires the buttons up, and
``hide-answers.css`` can let the browser skip rendering the answers below the screen
(``content-visibility: auto``).
"""
from __future__ import annotations

import html
import re

import handbook

LABELS = {"zh": ("隐藏答案", "答案已隐藏：点击题目下方的“显示答案”查看"),
          "en": ("Hide answers", "Answers are hidden: use “Show answer” under a question")}
REVEAL = {"zh": "显示答案", "en": "Show answer"}       # the same words as hide-answers.js
ARTICLE = re.compile(r'<article class="md-content__inner[^"]*">')
QUESTION = re.compile(r'<h2 [^>]*\bdata-difficulty=')
# A tag (or a comment) of the article's HTML; script and style bodies are skipped whole.
TAG = re.compile(r'<!--.*?-->|<(script|style)\b.*?</\1\s*>|<(/?)([a-zA-Z][\w:-]*)((?:"[^"]*"|\'[^\']*\'|[^\'">])*)>',
                 re.S | re.I)
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
        "track", "wbr"}
ID = re.compile(r'\bid="([^"]+)"')


def toggle(lang: str) -> str:
    text, hint = LABELS[lang]
    return (f'<button type="button" class="hb-toggle md-button" aria-pressed="false" disabled '
            f'title="{html.escape(hint)}"><span class="hb-toggle__icon" aria-hidden="true"></span>{text}</button>')


def reveal_button(lang: str, answer_id: str) -> str:
    """A question's own "Show answer" button: hidden until the reader hides the answers (hide-answers.js)."""
    return (f'<button type="button" class="hb-reveal md-button" aria-controls="{answer_id}" '
            f'aria-expanded="true" hidden>{REVEAL[lang]}</button>')


def wrap_answers(html_text: str, start: int, end: int, lang: str, where: str = "") -> str:
    """Wrap the answer of every question heading (``<h2 … data-difficulty=…>``) that is a child of the
    article body ``html_text[start:end]`` in ``<div class="hb-answer" id="hb-answer-ID">``, after that
    question's hidden "Show answer" button. An answer runs up to the next ``<h1>``/``<h2>`` child of the
    article (or ``<aside>``/``<form>``: Material's page feedback) or the article's end. A question heading without an id is an error naming ``where``."""
    stack: list[str] = []                     # the open elements, as the browser's parser sees them
    cuts: list[tuple[int, str]] = []          # (offset, text to insert there), in order
    open_answer = False
    for m in TAG.finditer(html_text, start, end):
        if m.group(3) is None:               # a comment, script or style
            continue
        closing, name, attrs = m.group(2) == "/", m.group(3).lower(), m.group(4)
        if closing:                          # like the browser: closes up to its element; a stray one is ignored
            if name in stack:
                del stack[len(stack) - 1 - stack[::-1].index(name):]
            continue
        if not stack and name in ("h1", "h2", "aside", "form"):
            if open_answer:
                cuts.append((m.start(), "</div>\n"))
                open_answer = False
            if name == "h2" and "data-difficulty=" in attrs:
                qid = ID.search(attrs)
                if not qid:
                    raise ValueError(f"{where}: a question heading without an id: {m.group(0)[:120]}")
                answer_id = f"hb-answer-{qid.group(1)}"
                close = html_text.index("</h2>", m.end()) + len("</h2>")
                cuts.append((close, reveal_button(lang, answer_id) + f'<div class="hb-answer" id="{answer_id}">'))
                open_answer = True
        if name not in VOID and not attrs.rstrip().endswith("/"):
            stack.append(name)
    if stack:
        raise ValueError(f"{where}: unclosed <{stack[-1]}> in the article")
    if open_answer:
        cuts.append((end, "</div>\n"))
    out, last = [], 0
    for at, text in cuts:
        out += [html_text[last:at], text]
        last = at
    return "".join(out) + html_text[last:]


def on_post_page(output: str, page, config) -> str:
    article = ARTICLE.search(output)
    if not article or 'id="print-site-page"' in output or not QUESTION.search(output, article.end()):
        return output
    if output.find("</h1>", article.end()) == -1:
        return output
    lang = handbook.build_language(config)
    where = page.file.src_uri if page else "?"
    body_end = output.find("</article>", article.end())
    if body_end == -1:
        raise ValueError(f"{where}: <article> is not closed")
    output = wrap_answers(output, article.end(), body_end, lang, where)
    at = output.find("</h1>", article.end()) + len("</h1>")
    return output[:at] + toggle(lang) + output[at:]
