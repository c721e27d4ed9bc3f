"""tools/mutation.py (`make mutation`) on a tiny handbook in tests/fixtures/mutation.

``snippets/demo/calc.py`` there has one section a page shows (``clip``), one section no page shows
(``triple``) and a helper outside every section; ``tests/demo/test_calc.py`` is weak on purpose (the upper
bound of ``clip`` is never reached). mutmut runs twice, at the same time: with the weak test and with a
strong one.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT

FIXTURE = Path(__file__).parent / "fixtures" / "mutation"
spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
M = sys.modules.setdefault("mutation_tool", importlib.util.module_from_spec(spec))
spec.loader.exec_module(M)

STRONG = '''from snippets import load

calc = load("demo/calc")


def test_clip():
    assert calc.clip(-1, 0, 10) == 0
    assert calc.clip(0, 0, 10) == 0
    assert calc.clip(5, 0, 10) == 5
    assert calc.clip(20, 0, 10) == 10
'''
HEADER = "snippet\tline\tmutant\toperator\treason\n"
EQUIVALENT = "demo/calc\tif x < low:\tif x <= low:\t`<` → `<=`\tat x == low both branches return low\n"


def _tree(tmp: Path, name: str, test: str | None = None, equivalents: str = HEADER) -> Path:
    root = tmp / name
    shutil.copytree(FIXTURE, root)
    if test is not None:
        (root / "tests/demo/test_calc.py").write_text(test, encoding="utf-8")
    (root / "data").mkdir(exist_ok=True)
    (root / "data/mutation_equivalent.tsv").write_text(equivalents, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{"weak": ..., "strong": ...}: (results, problems, report data, out folder) of one run each."""
    tmp = tmp_path_factory.mktemp("mutation")
    trees = {"weak": _tree(tmp, "weak"), "strong": _tree(tmp, "strong", STRONG, HEADER + EQUIVALENT)}

    def one(kind):
        out = tmp / f"out-{kind}"
        return (*M.run(trees[kind], ["demo/calc"], out, jobs=2, budget=300, log=lambda *_: None,
                       isolation="fork"), out)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(trees, pool.map(one, trees)))


def _by_change(result):
    return {(m.original, m.mutated): m for m in result.mutants}


def test_shown_lines_are_those_of_included_sections():
    path = FIXTURE / "snippets/demo/calc.py"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert M.shown_sections(FIXTURE) == {"demo/calc": {"clip"}}
    shown = M.shown_lines(path, {"clip"})
    assert [lines[n - 1] for n in sorted(shown)][0] == "def clip(x: int, low: int, high: int) -> int:"
    assert lines[max(shown)] == "# --8<-- [end:clip]"
    assert len(shown) == 5


def test_weak_test_lets_the_upper_bound_mutants_survive(runs):
    results, problems, data, out = runs["weak"]
    (result,) = results
    assert problems == [] and result.complete and result.error == ""
    # Nothing outside the shown section is mutated: not the helper, not the section no page includes.
    assert {m.function for m in result.mutants} == {"clip"}
    assert all(12 <= m.line <= 15 for m in result.mutants)
    mutant = _by_change(result)[("return min(x, high)", "return min(x, None)")]
    assert (mutant.status, mutant.line, mutant.operator) == ("survived", 15, "`high` → `None`")
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "`snippets/demo/calc.py:15` in `clip`, survived: `high` → `None`" in report
    assert "demo/calc\treturn min(x, high)\treturn min(x, None)\t`high` → `None`\tREASON" in report
    assert (out / "report.json").is_file() and data["total"]["survived"] >= 1


def test_strong_test_kills_it_and_the_listed_equivalent_is_not_counted(runs):
    results, problems, data, _ = runs["strong"]
    (result,) = results
    assert problems == []
    changes = _by_change(result)
    assert changes[("return min(x, high)", "return min(x, None)")].status == "killed"
    equivalent = changes[("if x < low:", "if x <= low:")]
    assert (equivalent.status, equivalent.note) == ("equivalent", "at x == low both branches return low")
    assert all(m.status == "killed" for m in result.mutants if m is not equivalent)
    assert data["total"]["equivalent"] == 1 and data["total"]["score"] == 100.0


def test_stale_wrong_and_killed_equivalent_rows_are_errors(runs, tmp_path):
    results, _, _, _ = runs["strong"]
    root = _tree(tmp_path, "t", equivalents=HEADER + EQUIVALENT
                 + "demo/calc\treturn min(x, high)\treturn max(x, high)\t`min` → `max`\tgone\n"
                 + "demo/calc\treturn min(x, high)\treturn min(x, None)\t`high` → `None`\tkilled\n"
                 + "demo/calc\tif x < low:\tif x <= low:\t`<` → `>`\tdup\n")
    rows, problems = M.read_equivalents(root)
    assert problems == ["data/mutation_equivalent.tsv:5: duplicate of an earlier row"]
    for m in results[0].mutants:
        m.status = "killed" if m.status == "killed" else "survived"
    assert M.apply_equivalents(results, rows) == [
        "data/mutation_equivalent.tsv:3: stale: no mutant of snippets/demo/calc.py changes "
        "`return min(x, high)` into `return max(x, high)` (the code changed? update or remove the row)",
        "data/mutation_equivalent.tsv:4: listed as equivalent, but tests/demo/test_calc.py kills this mutant "
        "(snippets/demo/calc.py:15): remove the row"]
    wrong_operator = [M.Equivalent(9, "demo/calc", "if x < low:", "if x <= low:", "`<` → `>`", "r")]
    assert M.apply_equivalents(results, wrong_operator) == [
        "data/mutation_equivalent.tsv:9: the operator column says `<` → `>` but the mutant's is `<` → `<=`"]


def test_malformed_rows_name_file_and_line(tmp_path):
    root = _tree(tmp_path, "t", equivalents="# comment\n" + HEADER
                 + "demo/calc\tif x < low:\tif x <= low:\t`<` → `<=`\n"
                 + "demo/calc\tif x < low:\tif x <= low:\t`<` → `<=`\t \n"
                 + "demo/nope\ta\tb\tc\td\n")
    rows, problems = M.read_equivalents(root)
    assert rows == []
    assert problems == [
        "data/mutation_equivalent.tsv:3: expected 5 tab-separated columns (snippet, line, mutant, operator, "
        "reason), found 4",
        "data/mutation_equivalent.tsv:4: empty column reason (every row needs all of snippet, line, mutant, "
        "operator, reason, and a reason a reviewer can check)",
        "data/mutation_equivalent.tsv:5: no snippet snippets/demo/nope.py"]
    (root / "data/mutation_equivalent.tsv").write_text("snippet\tline\n", encoding="utf-8")
    assert M.read_equivalents(root) == ([], [
        "data/mutation_equivalent.tsv:1: the header must be the columns snippet, line, mutant, operator, "
        "reason separated by tabs"])


def test_project_equivalent_list_is_well_formed(root):
    rows, problems = M.read_equivalents(root)
    assert problems == []
    shown = M.shown_sections(root)
    assert all(r.snippet in shown for r in rows)


def test_reports_of_several_runs_merge_into_one(runs, tmp_path):
    parts = [runs[kind][3] / "report.json" for kind in ("weak", "strong")]
    _, problems, data = M.merge(parts, tmp_path)
    weak, strong = (runs[kind][2]["total"] for kind in ("weak", "strong"))
    assert problems == []
    assert data["total"]["total"] == weak["total"] + strong["total"]
    assert data["total"]["killed"] == weak["killed"] + strong["killed"]
    assert "| demo |" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_report_can_be_rebuilt_from_the_kept_runs(runs):
    results, _, data, out = runs["weak"]
    root = out.parent / "weak"
    again, problems, data_again = M.report_only(root, ["demo/calc"], out)
    assert problems == []
    assert data_again["total"] == data["total"]
    assert [(m.line, m.original, m.mutated, m.status) for m in again[0].mutants] == \
        [(m.line, m.original, m.mutated, m.status) for m in results[0].mutants]


def test_operator_names_the_change():
    assert M.operator_of("if x < low:", "if x <= low:") == "`<` → `<=`"
    assert M.operator_of("return 0.5 * x", "return 1.5 * x") == "`0.5` → `1.5`"
    assert M.operator_of("eps: float = 1e-6", "eps: float = 1.000001") == "`1e-6` → `1.000001`"
    assert M.operator_of("f(x, keepdim=True)", "f(x, )") == "delete `keepdim=True`"


def test_complete_runs_are_kept_in_the_ledger_and_go_stale_when_their_inputs_change(runs):
    for kind in ("weak", "strong"):
        _, _, data, out = runs[kind]
        root = out.parent / kind
        ledger, problems = M.read_scores(root)
        assert problems == [] and list(ledger) == ["demo/calc"]
        row, total = ledger["demo/calc"], data["total"]
        assert [row[k] for k in ("killed", "survived", "timeout", "equivalent", "total")] == \
            [total[k] for k in ("killed", "survived", "timeout", "equivalent", "total")]
        summary, problems = M.scores(root)
        assert problems == [] and summary["missing"] == [] and summary["stale"] == []
        assert summary["chapters"]["demo"]["score"] == total["score"]
    assert M.scores(runs["strong"][3].parent / "strong")[0]["total"]["score"] == 100.0
    # Each fingerprint goes stale on its own: the test, the code, the equivalent rows.
    root = runs["weak"][3].parent / "weak"
    for path, changed in (("tests/demo/test_calc.py", "test"), ("snippets/demo/calc.py", "code"),
                          ("data/mutation_equivalent.tsv", "equivalents")):
        before = (root / path).read_text(encoding="utf-8")
        (root / path).write_text(before + (EQUIVALENT if changed == "equivalents" else "\n# edited\n"),
                                 encoding="utf-8")
        summary, _ = M.scores(root)
        assert summary["chapters"]["demo"]["fresh"] == 0 and summary["total"]["score"] is None
        assert summary["stale"][0].startswith(f"demo/calc ({changed} changed since ")
        (root / path).write_text(before, encoding="utf-8")
    assert M.scores(root)[0]["stale"] == []


def test_report_only_rewrites_the_row_with_the_fingerprints_of_the_run_it_reads(runs, tmp_path):
    """After an equivalent row is added, --report-only credits it; a code edit made since the run is not."""
    root, out = tmp_path / "strong", tmp_path / "out"
    shutil.copytree(runs["strong"][3].parent / "strong", root)
    shutil.copytree(runs["strong"][3], out)
    (root / "snippets/demo/calc.py").write_text(
        (root / "snippets/demo/calc.py").read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    (root / M.EQUIVALENT_TSV).write_text(HEADER, encoding="utf-8")   # the equivalent row taken away
    M.report_only(root, ["demo/calc"], out)
    row = M.read_scores(root)[0]["demo/calc"]
    assert (row["equivalent"], row["survived"]) == (0, 1)
    assert M.scores(root)[0]["stale"] == [f"demo/calc (code changed since {row['date']})"]


def test_a_snippet_never_run_is_named_missing_and_a_broken_ledger_row_by_file_and_line(tmp_path):
    root = _tree(tmp_path, "t")
    summary, problems = M.scores(root)
    assert problems == [] and summary["missing"] == ["demo/calc"] and summary["total"]["score"] is None
    (root / M.SCORES_TSV).write_text("\t".join(M.SCORE_COLUMNS) + "\n"
                                     "demo/calc\ta\tb\tc\t3\t1\t0\t0\t5\t1.0\t2026-12-04\n"
                                     "demo/calc\ta\tb\tc\tx\t1\t0\t0\t1\t1.0\t2026-12-04\n"
                                     "demo/calc\ta\tb\n", encoding="utf-8")
    assert M.scores(root)[1] == [
        "data/mutation_scores.tsv:2: killed + survived + timeout + equivalent is not total",
        "data/mutation_scores.tsv:3: invalid literal for int() with base 10: 'x'",
        "data/mutation_scores.tsv:4: expected 11 tab-separated columns (snippet, code, test, equivalents, "
        "killed, survived, timeout, equivalent, total, seconds, date), found 3"]


def test_project_ledger_is_well_formed(root):
    ledger, problems = M.read_scores(root)
    assert problems == []
    assert set(ledger) <= set(M.shown_sections(root))


def test_scratch_tree_holds_requirements_txt_for_tests_that_read_the_pins(tmp_path):
    # tests/agents/test_frameworks.py compares installed versions with requirements.txt: the scratch tree
    # and mutmut's mutants/ copy must hold it, or every mutant "fails" before any is judged
    root = _tree(tmp_path, "pins")
    (root / "requirements.txt").write_text("mutmut==3.8.1\n", encoding="utf-8")
    work = tmp_path / "work"
    M.prepare(root, "demo/calc", work, {1})
    assert (work / "requirements.txt").read_text(encoding="utf-8") == "mutmut==3.8.1\n"
    assert 'also_copy = ["hooks/", "data/", "requirements.txt"]' in (work / "pyproject.toml").read_text(encoding="utf-8")
