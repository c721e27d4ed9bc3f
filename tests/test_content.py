"""The content model: zh/en pairs, question ids, difficulty, references, snippet includes.

The same function (hooks/handbook.py: check_docs) runs before every build, so a broken page stops
`mkdocs build` too. Each negative test copies a small good tree (tests/fixtures/good), puts one
defect in it, and asserts the check names the file and line.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import handbook

FIXTURE = Path(__file__).parent / "fixtures" / "good"


@pytest.fixture
def tree(tmp_path) -> Path:
    dst = tmp_path / "book"
    shutil.copytree(FIXTURE, dst)
    return dst


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"fixture text {old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def problems(tree: Path) -> list[str]:
    return handbook.check_docs(tree / "docs", tree)


def test_the_handbook_passes(root):
    assert handbook.check_docs(root / "docs", root) == []


def test_good_fixture_passes(tree):
    assert problems(tree) == []
    page = handbook.parse_page(tree / "docs/demo/page.en.md", tree / "docs")
    assert [(q.id, q.difficulty, q.line) for q in page.questions] == [
        ("first-question", 1, 8), ("second-question", 3, 25)]
    assert page.includes == [("snippets/demo/page.py:double", 14)]


def test_missing_translation(tree):
    (tree / "docs/demo/page.en.md").unlink()
    assert problems(tree) == ["docs/demo/page.zh.md: no en version (expected docs/demo/page.en.md)"]


def test_question_ids_differ(tree):
    edit(tree / "docs/demo/page.en.md", "#second-question", "#another-question")
    [msg] = problems(tree)
    assert msg.startswith("docs/demo/page.zh.md:25: question #2 is 'second-question' in zh but "
                          "'another-question' in en (docs/demo/page.en.md:25)")


def test_question_order_differs(tree):
    path = tree / "docs/demo/page.en.md"
    text = path.read_text(encoding="utf-8")
    first, second = text.split("## The second question?")
    path.write_text(first.replace("## The first question?", "## The second question?", 1)
                    .replace("#first-question", "#second-question", 1)
                    + "## The first question?" + second.replace("#second-question", "#first-question", 1),
                    encoding="utf-8")
    assert any("question #1 is 'first-question' in zh but 'second-question' in en" in m for m in problems(tree))


def test_missing_difficulty(tree):
    edit(tree / "docs/demo/page.zh.md", ' data-difficulty="3"', "")
    assert problems(tree) == [
        "docs/demo/page.zh.md:25: question 'second-question' needs data-difficulty=\"1|2|3\" (got none)"]


def test_invalid_difficulty(tree):
    edit(tree / "docs/demo/page.en.md", 'data-difficulty="1"', 'data-difficulty="4"')
    assert problems(tree) == [
        "docs/demo/page.en.md:8: question 'first-question' needs data-difficulty=\"1|2|3\" (got '4')"]


def test_heading_without_id(tree):
    edit(tree / "docs/demo/page.en.md", ' { #second-question data-difficulty="3" }', "")
    found = problems(tree)
    assert found[0].startswith("docs/demo/page.en.md:25: question heading has no explicit id")


def test_invalid_id(tree):
    for lang in ("zh", "en"):
        edit(tree / f"docs/demo/page.{lang}.md", "#first-question", "#First_Question")
    assert problems(tree) == [
        "docs/demo/page.zh.md:8: question id 'First_Question' must be lowercase ASCII words joined by '-'",
        "docs/demo/page.en.md:8: question id 'First_Question' must be lowercase ASCII words joined by '-'"]


def test_duplicate_id_across_pages(tree):
    for lang in ("zh", "en"):
        shutil.copy(tree / f"docs/demo/page.{lang}.md", tree / f"docs/demo/copy.{lang}.md")
    found = problems(tree)
    assert "docs/demo/page.en.md:8: question id 'first-question' already used at docs/demo/copy.en.md:8" in found


def test_missing_references(tree):
    edit(tree / "docs/demo/page.zh.md", "**参考文献**\n\n- 官方文档。", "")
    assert problems(tree) == [
        "docs/demo/page.zh.md:25: question 'second-question' has no references block "
        "('**参考文献**' followed by a list)"]


def test_missing_short_answer(tree):
    edit(tree / "docs/demo/page.en.md", '!!! abstract "Short answer"\n    Short answer.\n', "Short answer.\n")
    assert problems(tree) == [
        "docs/demo/page.en.md:8: question 'first-question' has no short answer (the answer opens "
        "with '!!! abstract \"Short answer\"' and an indented paragraph)"]


def test_short_answer_is_plain_text(tree):
    """The block's lines joined; links keep their text, emphasis and code marks go, math stays TeX."""
    questions = {q.id: q for q in handbook.parse_page(tree / "docs/demo/page.en.md", tree / "docs").questions}
    assert questions["first-question"].short_answer == "Short answer."
    assert questions["second-question"].short_answer == (
        "Use RMSNorm with gain $g_i$, see the formula and torch.nn.RMSNorm. Second line.")
    zh = {q.id: q for q in handbook.parse_page(tree / "docs/demo/page.zh.md", tree / "docs").questions}
    assert zh["second-question"].short_answer == "用 RMSNorm，增益为 $g_i$，见公式和 torch.nn.RMSNorm。 Second line."
    assert handbook.plain_text("`a*b*c` and $x*y*z$, 2 * 3 * 4, __u__") == "a*b*c and $x*y*z$, 2 * 3 * 4, u"
    assert handbook.plain_text("In practice: **$\\gamma=1$ and `lr`, then GRPO.**") == "In practice: $\\gamma=1$ and lr, then GRPO."


def test_raw_token_tag_outside_code(tree):
    """A chat-template token written bare (``</think>``) vanishes from the rendered page: an error at its
    line. The same token in a code span or a code block, and the HTML a page may write, pass."""
    edit(tree / "docs/demo/page.en.md", "Body.", "Body: the model writes `</think>` and <kbd>Enter</kbd>,\n"
         "then a bare </think> or <eos>.\n\n```text\n<think>fine in code</think>\n```")
    assert problems(tree) == [
        "docs/demo/page.en.md:32: raw tag </think> is not shown on the page; put it in backticks (`</think>`)",
        "docs/demo/page.en.md:32: raw tag <eos> is not shown on the page; put it in backticks (`<eos>`)"]


def test_references_marker_without_items(tree):
    edit(tree / "docs/demo/page.en.md", "- Official docs.", "Official docs, no list.")
    assert problems(tree) == [
        "docs/demo/page.en.md:25: question 'second-question' has no references block "
        "('**References**' followed by a list)"]


def test_heading_in_code_block_is_not_a_question(tree):
    page = handbook.parse_page(tree / "docs/demo/page.zh.md", tree / "docs")
    assert len(page.questions) == 2


def test_snippet_includes_differ(tree):
    snippet = tree / "snippets/demo/page.py"
    snippet.write_text(snippet.read_text(encoding="utf-8") + "# --8<-- [start:triple]\n# --8<-- [end:triple]\n",
                       encoding="utf-8")
    edit(tree / "docs/demo/page.en.md", "page.py:double", "page.py:triple")
    assert problems(tree) == [
        "docs/demo/page.zh.md:14: snippet include #1 is 'snippets/demo/page.py:double' in zh but "
        "'snippets/demo/page.py:triple' in en (docs/demo/page.en.md:14); both languages must include the same code"]


def test_missing_tags(tree):
    edit(tree / "docs/demo/page.en.md", "tags:\n  - Demo\n", "")
    assert problems(tree) == ["docs/demo/page.en.md:1: front matter has no 'tags'"]


@pytest.mark.build
def test_broken_page_stops_the_build(tree, root):
    """The build runs the same checks: a missing difficulty fails `mkdocs build` naming file and line."""
    shutil.copy(root / "mkdocs.yml", tree / "mkdocs.yml")
    for folder in ("hooks", "overrides"):
        shutil.copytree(root / folder, tree / folder, ignore=shutil.ignore_patterns("__pycache__"))
    edit(tree / "docs/demo/page.en.md", ' data-difficulty="3"', "")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "-d", str(tree / "site")],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "docs/demo/page.en.md:25: question 'second-question' needs data-difficulty" in proc.stdout + proc.stderr


def test_include_of_missing_section(tree):
    for lang in ("zh", "en"):
        edit(tree / f"docs/demo/page.{lang}.md", "page.py:double", "page.py:triple")
    assert problems(tree) == [
        "docs/demo/page.zh.md:14: include 'snippets/demo/page.py:triple': snippets/demo/page.py has no "
        "section '# --8<-- [start:triple]'",
        "docs/demo/page.en.md:14: include 'snippets/demo/page.py:triple': snippets/demo/page.py has no "
        "section '# --8<-- [start:triple]'"]


def test_include_of_missing_file_and_line_numbers(tree):
    edit(tree / "docs/demo/page.zh.md", "snippets/demo/page.py:double", "snippets/demo/other.py:double")
    edit(tree / "docs/demo/page.en.md", "snippets/demo/page.py:double", "snippets/demo/page.py:3:5")
    found = problems(tree)
    assert found[:2] == [
        "docs/demo/page.zh.md:14: include 'snippets/demo/other.py:double': snippets/demo/other.py does not exist",
        "docs/demo/page.en.md:14: include 'snippets/demo/page.py:3:5': name a section "
        "('snippets/demo/page.py:<section>'), not the whole file or line numbers"]
