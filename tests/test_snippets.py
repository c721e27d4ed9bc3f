"""Every snippet runs as __main__, is included by a page and is loaded by a test, and every function or
class a page shows is called in a test that asserts on its result (the rule: tests/checks.py,
``_AssertedUses``; CONTRIBUTING, "Tests").

Negative tests use the small tree in tests/fixtures/good with one defect each.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from checks import run_as_main, snippet_files, snippet_name, snippet_problems, unasserted_names
from conftest import ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "good"


@pytest.fixture
def tree(tmp_path) -> Path:
    dst = tmp_path / "book"
    shutil.copytree(FIXTURE, dst)
    return dst


def test_every_snippet_is_included_and_tested(root):
    assert snippet_problems(root) == []


# issue 18: being fixed. Shown functions and classes that no test calls in a way that reaches an assertion
# (``chapter/page:name``), as found when the check was introduced. This list may only shrink: a new
# offender fails the test below, and so does a name here that is now asserted on (remove it).
KNOWN_UNASSERTED: set[str] = set()


def test_every_shown_function_is_asserted_on(root):
    offenders = set(unasserted_names(root))
    new = sorted(offenders - KNOWN_UNASSERTED)
    fixed = sorted(KNOWN_UNASSERTED - offenders)
    assert new == [], ("shown on a page but never called in a test that asserts on its result "
                       "(see tests/checks.py, _AssertedUses): " + ", ".join(new))
    assert fixed == [], "now asserted on: remove from KNOWN_UNASSERTED in tests/test_snippets.py: " + ", ".join(fixed)


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


ASSERTED_WAYS = {
    "direct": "def test_double():\n    assert page.double(21) == 42\n",
    "variable": "def test_double():\n    y = page.double(21)\n    z = y + 1\n    assert z == 43\n",
    "assert_close": ("import torch\n\ndef test_double():\n    torch.testing.assert_close("
                     "torch.tensor(page.double(2)), torch.tensor(4))\n"),
    "raises": "import pytest\n\ndef test_double():\n    with pytest.raises(TypeError):\n        page.double(None)\n",
    "fixture": ("import pytest\n\n@pytest.fixture\ndef value():\n    return page.double(2)\n\n"
                "def test_double(value):\n    assert value == 4\n"),
    "parametrize": ("import pytest\n\n@pytest.mark.parametrize('fn', [page.double])\n"
                    "def test_double(fn):\n    assert fn(2) == 4\n"),
    "helper": "def check(f):\n    assert f(2) == 4\n\ndef test_double():\n    check(page.double)\n",
    "alias": "def test_double():\n    f = page.double\n    assert f(2) == 4\n",
}
NOT_ASSERTED_WAYS = {
    "bare call": "def test_double():\n    page.double(21)\n",
    "only printed": "def test_double():\n    print(page.double(21))\n",
    "unrelated assert": "def test_double():\n    y = page.double(21)\n    assert 2 * 21 == 42\n",
    "not called": "def test_double():\n    assert page.double is not None\n",
}


@pytest.mark.parametrize("way", ASSERTED_WAYS)
def test_asserted_call_is_recognised(tree, way):
    (tree / "tests/demo/test_page.py").write_text(
        'from snippets import load\n\npage = load("demo/page")\n\n\n' + ASSERTED_WAYS[way], encoding="utf-8")
    assert unasserted_names(tree) == []


@pytest.mark.parametrize("way", NOT_ASSERTED_WAYS)
def test_unasserted_call_is_reported(tree, way):
    (tree / "tests/demo/test_page.py").write_text(
        'from snippets import load\n\npage = load("demo/page")\n\n\n' + NOT_ASSERTED_WAYS[way], encoding="utf-8")
    assert unasserted_names(tree) == ["demo/page:double"]
