"""Every snippet runs as __main__, is included by a page and is loaded by a test.

Negative tests use the small tree in tests/fixtures/good with one defect each.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checks import run_as_main, snippet_files, snippet_name, snippet_problems
from conftest import ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "good"


@pytest.fixture
def tree(tmp_path) -> Path:
    dst = tmp_path / "book"
    shutil.copytree(FIXTURE, dst)
    return dst


def test_every_snippet_is_included_and_tested(root):
    assert snippet_problems(root) == []


@pytest.mark.parametrize("path", snippet_files(ROOT), ids=lambda p: snippet_name(p, ROOT))
def test_snippet_runs_as_main(path, root):
    ok, output = run_as_main(path, root)
    assert ok, output


def test_fixture_is_clean(tree):
    assert snippet_problems(tree) == []
    assert run_as_main(tree / "snippets/demo/page.py", tree) == (True, "42\n")


def test_snippet_not_included(tree):
    for lang in ("zh", "en"):
        page = tree / f"docs/demo/page.{lang}.md"
        page.write_text(page.read_text(encoding="utf-8").replace('--8<-- "snippets/demo/page.py:double"', ""),
                        encoding="utf-8")
    assert snippet_problems(tree) == [
        'snippets/demo/page.py: not included by any page (add --8<-- "snippets/demo/page.py:<section>" to a page)']


def test_snippet_not_tested(tree):
    (tree / "tests/demo/test_page.py").unlink()
    assert snippet_problems(tree) == [
        'snippets/demo/page.py: not loaded by any test (add load("demo/page") to tests/demo/test_page.py)']


def test_snippet_that_fails(tree):
    path = tree / "snippets/demo/page.py"
    path.write_text(path.read_text(encoding="utf-8").replace("print(double(21))", "print(double(undefined))"),
                    encoding="utf-8")
    ok, output = run_as_main(path, tree)
    assert not ok
    assert output.startswith("snippets/demo/page.py: exit status 1") and "NameError" in output


def test_snippet_that_prints_nothing(tree):
    path = tree / "snippets/demo/page.py"
    path.write_text(path.read_text(encoding="utf-8").replace("print(double(21))", "double(21)"), encoding="utf-8")
    assert run_as_main(path, tree) == (False, "snippets/demo/page.py: the __main__ demo printed nothing")
