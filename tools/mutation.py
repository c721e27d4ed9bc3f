"""`make mutation`: mutation testing of the code the pages show, each mutant judged by its page's tests.

    make mutation                          # every snippet (about 15,000 mutants: 10 to 40 hours on 2 cores)
    make mutation CHAPTER=norms            # one chapter
    make mutation SNIPPET=norms/rmsnorm    # one file
    python tools/mutation.py --changed-since origin/main --budget 1800   # what CI runs on a pull request

What is mutated: only the lines between ``# --8<-- [start:name]`` and ``# --8<-- [end:name]`` of the
sections that a page includes (``--8<-- "snippets/<chapter>/<page>.py:<name>"``, read with
``hooks/handbook.py`` like the build does). Helpers a page does not show and the ``__main__`` demo are
never mutated. Each mutant of ``snippets/<chapter>/<page>.py`` is judged by
``tests/<chapter>/test_<page>.py`` alone: a test of another page that happens to call the function does not
count.

The tool is mutmut 3 (pinned in requirements.txt), run once per snippet in a scratch copy
(``build/mutation/work/<chapter>/<page>/``) that holds ``snippets/``, ``hooks/``, ``data/``,
``requirements.txt``, the shared test helpers and that one test file. Why mutmut and not cosmic-ray, after trying both on
``snippets/norms/rmsnorm.py``:

- speed: cosmic-ray starts the test command in a new process for every mutant, and each of those pays
  for an interpreter, ``import torch`` and pytest (40 s wall, 9.5 s CPU for ``tests/norms/test_rmsnorm.py``
  on the loaded 2-core machine). mutmut 3 imports torch and collects the tests once in a fork server and
  forks a process per mutant: 78 mutants in 6.5 min there (about 5 s each).
- what is mutated: cosmic-ray mutates every expression of the module, including type annotations
  (``torch.Tensor | None`` → ``torch.Tensor & None``, never evaluated under ``from __future__ import
  annotations``: 256 mutants for that file, many trivially equivalent) and the ``__main__`` demo; mutmut
  mutates only function and method bodies and signatures, and takes a set of lines to restrict itself to.
- safety: cosmic-ray edits the source file in place for each mutant, so two mutants cannot run at once in
  one tree and an interrupted run can leave a mutant in ``snippets/``; mutmut writes every mutant into a
  copy (``mutants/``) and picks one per process with an environment variable (a trampoline), so mutants
  run in parallel (``--jobs``) without touching each other or the working tree.

The one thing mutmut lacks is "mutate only these lines of this file" as an option: this script passes the
shown lines to mutmut through its covered-lines filter (the one ``mutate_only_covered_lines`` uses), by
setting ``state()._covered_lines`` in the child process before mutants are generated. That is a private
interface of the pinned version: ``tests/test_mutation.py`` checks that no mutant is generated outside a
section, so an upgrade that breaks it fails there.

Results: ``build/mutation/report.md`` and ``report.json``: per snippet and per chapter the mutants
killed, survived, timed out and equivalent, the score killed / (total - equivalent), and every survivor
with ``file:line``, the function, the operator (the change, e.g. ``-2`` → ``+2``) and the mutated line.

Equivalent mutants (a change no test could detect because the behaviour does not change) are listed in
``data/mutation_equivalent.tsv``: ``snippet, line, mutant, operator, reason``, where ``line`` and ``mutant``
are the original and the mutated source line (stripped), so a row survives edits elsewhere in the file.
The report prints each survivor as a ready row; add it with a reason a reviewer can check. A row that
matches no mutant of a snippet that was run completely is stale, a row whose mutant the tests kill is not
equivalent, and a malformed row is an error: each is reported with the TSV's file and line, and the command
exits with status 1.

The ledger ``data/mutation_scores.tsv`` keeps the last complete result of every snippet, so the score
over all shown code can be assembled from runs made on different days (the full run takes hours): one row
per snippet with its counts and three fingerprints of what was judged, each the first 12 hex digits of a
SHA-256: ``code`` (the snippet's source and the shown line numbers), ``test`` (its test file) and
``equivalents`` (its rows of the equivalent list). Every complete run of a snippet (and ``--report-only``
of a kept run) rewrites its row. ``--scores`` prints the score per chapter from the ledger and names every
snippet whose row is missing or stale (a fingerprint no longer matches the files): only fresh rows count.

A timed-out mutant (mutmut's CPU-time limit: 30 times the tests' measured time plus 10 s) is counted
separately and not as killed in the score. A mutant of a function no test calls counts as survived ("no test calls it").
"""
from __future__ import annotations

import argparse
import ast
import csv
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_TSV = "data/mutation_equivalent.tsv"
COLUMNS = ("snippet", "line", "mutant", "operator", "reason")
SCORES_TSV = "data/mutation_scores.tsv"
SCORE_COLUMNS = ("snippet", "code", "test", "equivalents", "killed", "survived", "timeout", "equivalent",
                 "total", "seconds", "date")
START_RE = re.compile(r"^\s*#\s*--8<--\s*\[start:([^\]]+)\]\s*$")
END_RE = re.compile(r"^\s*#\s*--8<--\s*\[end:([^\]]+)\]\s*$")
MANGLED_RE = re.compile(r"^x(?:ǁ(?P<cls>[^ǁ]+)ǁ|_)(?P<fn>.+?)__mutmut_(?P<n>\d+|orig)$")
DEF_RE = re.compile(r"^\s*(?:async\s+)?def\s+\S+?__mutmut_(?:\d+|orig)\b")
MANGLED_DEF_RE = re.compile(r"\bx(?:ǁ[^ǁ\s]+ǁ|_)(?P<fn>\w+?)__mutmut_(?:\d+|orig)\b")
STATUSES = ("killed", "survived", "timeout", "equivalent", "not run")


# ---------------------------------------------------------------- what is shown, and by which test judged

def _handbook():
    """The project's page parser (hooks/handbook.py), the one the build uses."""
    if str(ROOT / "hooks") not in sys.path:
        sys.path.insert(0, str(ROOT / "hooks"))
    import handbook

    return handbook


def shown_sections(root: Path) -> dict[str, set[str]]:
    """``{"norms/rmsnorm": {"rms_norm", "qk_norm"}, ...}``: the sections the pages include, per snippet."""
    handbook = _handbook()
    shown: dict[str, set[str]] = {}
    for page in handbook.iter_pages(root / "docs"):
        for target, _ in page.includes:
            path, _, section = target.partition(":")
            if path.startswith("snippets/") and path.endswith(".py") and section:
                shown.setdefault(path[len("snippets/"):-len(".py")], set()).add(section)
    return shown


def shown_lines(path: Path, sections: set[str]) -> set[int]:
    """1-based numbers of the lines strictly between the start and end markers of ``sections``."""
    lines: set[int] = set()
    open_at: dict[str, int] = {}
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if m := START_RE.match(text):
            open_at[m.group(1)] = number
        elif m := END_RE.match(text):
            start = open_at.pop(m.group(1), None)
            if start is not None and m.group(1) in sections:
                lines.update(range(start + 1, number))
    return lines


def test_file(name: str) -> str:
    """``norms/rmsnorm`` → ``tests/norms/test_rmsnorm.py``: the page's own tests."""
    chapter, page = name.split("/")
    return f"tests/{chapter}/test_{page}.py"


def changed_snippets(root: Path, since: str) -> set[str]:
    """Snippets whose file or own test file changed since ``since`` (a git ref), committed or not."""
    out = subprocess.run(["git", "diff", "--name-only", since, "--"], cwd=root, capture_output=True,
                         text=True, check=True).stdout.split()
    names = set()
    for path in out:
        if m := re.fullmatch(r"snippets/([^/]+)/([^/]+)\.py", path):
            names.add(f"{m.group(1)}/{m.group(2)}")
        elif m := re.fullmatch(r"tests/([^/]+)/test_([^/]+)\.py", path):
            names.add(f"{m.group(1)}/{m.group(2)}")
    return names


def select(root: Path, snippet: str | None = None, chapter: str | None = None,
           names: set[str] | None = None) -> list[str]:
    shown = shown_sections(root)
    chosen = sorted(n for n in shown if (root / "snippets" / f"{n}.py").is_file())
    if snippet:
        snippet = snippet.strip("/").removeprefix("snippets/").removesuffix(".py")
        if snippet not in shown:
            raise SystemExit(f"{snippet}: no page includes a section of snippets/{snippet}.py")
        chosen = [snippet]
    if chapter:
        wanted = {c.strip("/") for c in re.split(r"[\s,]+", chapter) if c.strip("/")}
        chosen = [n for n in chosen if n.split("/")[0] in wanted]
        if not chosen:
            raise SystemExit(f"{chapter}: no snippet of this chapter is shown on a page")
    if names is not None:
        chosen = [n for n in chosen if n in names]
    return chosen


# ---------------------------------------------------------------- one mutmut run per snippet

@dataclass
class Mutant:
    key: str                 # mutmut's name, e.g. snippets.norms.rmsnorm.x_rms_norm__mutmut_3 (not stable)
    function: str            # rms_norm, or Class.method
    line: int                # in snippets/<chapter>/<page>.py
    original: str            # the original source line(s), stripped
    mutated: str             # the same line(s) in the mutant
    operator: str            # the change, token by token: "`-2` → `+2`"
    status: str              # killed, survived, timeout, equivalent, not run
    note: str = ""           # e.g. "no test calls it", or the equivalence reason


@dataclass
class SnippetResult:
    name: str
    test: str
    seconds: float = 0.0
    complete: bool = True    # every mutant got a verdict (not cut short by the time budget)
    error: str = ""
    mutants: list[Mutant] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return count(self.mutants)


def count(mutants: list[Mutant]) -> dict[str, int]:
    c = {s: 0 for s in STATUSES}
    for m in mutants:
        c[m.status] += 1
    c["total"] = len(mutants)
    judged = c["total"] - c["equivalent"] - c["not run"]
    c["score"] = round(100 * c["killed"] / judged, 1) if judged else None
    return c


def prepare(root: Path, name: str, work: Path, lines: set[int], isolation: str = "forkserver") -> None:
    """The scratch tree mutmut runs in: snippets/, hooks/, data/, requirements.txt, test helpers, this page's test file."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "snippets", work / "snippets", ignore=ignore)
    for folder in ("hooks", "data"):
        if (root / folder).is_dir():
            shutil.copytree(root / folder, work / folder, ignore=ignore)
    if (root / "requirements.txt").is_file():       # tests/agents/test_frameworks.py reads the pins
        shutil.copy(root / "requirements.txt", work / "requirements.txt")
    (work / "tests").mkdir()
    for helper in (root / "tests").glob("*.py"):
        if helper.name in ("conftest.py", "checks.py") or not helper.name.startswith("test_"):
            shutil.copy(helper, work / "tests" / helper.name)
    test = test_file(name)
    (work / test).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / test, work / test)
    chapter_conftest = root / "tests" / name.split("/")[0] / "conftest.py"
    if chapter_conftest.is_file():
        shutil.copy(chapter_conftest, work / "tests" / name.split("/")[0] / "conftest.py")
    project = (root / "pyproject.toml").read_text(encoding="utf-8") if (root / "pyproject.toml").is_file() else ""
    project += (
        "\n[tool.mutmut]\n"
        'source_paths = ["snippets/"]\n'
        f'only_mutate = ["snippets/{name}.py"]\n'
        'also_copy = ["hooks/", "data/", "requirements.txt"]\n'
        f'pytest_add_cli_args_test_selection = ["{test}"]\n'
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:xdist", "-q"]\n'
        f'process_isolation = "{isolation}"\n'
        "use_git_change_detection = false\n"
        # a mutant's CPU-time limit is 30 x (its tests' measured time + this): a floor of 5 min, because a
        # forked torch process on a loaded machine can take 30 s of CPU for a test measured at 0.05 s
        "timeout_constant = 10.0\n"
    )
    (work / "pyproject.toml").write_text(project, encoding="utf-8")
    (work / "shown_lines.json").write_text(json.dumps({f"snippets/{name}.py": sorted(lines)}), encoding="utf-8")


def _child() -> None:
    """Inside the scratch tree: mutmut's ``run``, told to mutate only the shown lines (see the docstring)."""
    import mutmut.__main__ as mutmut_main
    from mutmut.state import state

    shown = json.loads(Path("shown_lines.json").read_text(encoding="utf-8"))

    def only_shown_lines() -> None:
        state()._covered_lines = {str((Path("mutants") / f).absolute()): set(v) for f, v in shown.items()}
        state()._excluded_lines = None

    mutmut_main.store_lines_covered_by_tests = only_shown_lines
    mutmut_main.cli(sys.argv[2:], prog_name="mutmut")


def run_mutmut(work: Path, jobs: int, timeout: float | None, log: Path) -> tuple[bool, str]:
    """Run mutmut in ``work``; (finished, message). Killed with its process group past ``timeout`` s."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--mutmut-child", "run", "--max-children", str(jobs)]
    # one thread per mutant: `jobs` mutants already share the cores
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return False, "stopped: the time budget ran out"
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-1500:]
        return False, f"mutmut exited with status {code}:\n{tail}"
    return True, ""


def _status(exit_code: int | None) -> tuple[str, str]:
    from mutmut.stats import status_by_exit_code

    status = status_by_exit_code[exit_code]
    if status == "killed":
        return "killed", ""
    if status == "survived":
        return "survived", ""
    if status == "no tests":
        return "survived", "no test calls it"
    if status == "timeout":
        return "timeout", ""
    if status == "not checked":
        return "not run", ""
    if status == "segfault" and exit_code == -9:
        return "timeout", "killed at the CPU-time limit"
    return "killed", f"the test run ended with {status} (exit {exit_code})"


def operator_of(original: str, mutated: str) -> str:
    """The change token by token, e.g. ``"`-2` → `+2`"`` or ``"delete `, keepdim=True`"``."""
    tok = re.compile(r"\s+|(?<![\w.])(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?j?|\w+|\*\*=?|//=?|<<=?|>>=?|[<>=!+\-*/%&|^@]=|->|[^\w\s]")
    a, b = tok.findall(original), tok.findall(mutated)
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = "".join(a[i1:i2]).strip(), "".join(b[j1:j2]).strip()
        if op == "replace":
            parts.append(f"`{old}` → `{new}`")
        elif op == "delete":
            parts.append(f"delete `{old}`")
        elif op == "insert":
            parts.append(f"insert `{new}`")
    return "; ".join(parts) or "(no textual change)"


def _def_lines(source: str) -> dict[tuple[str | None, str], int]:
    """``{(class or None, function): line of its def}`` for module-level functions and methods."""
    found: dict[tuple[str | None, str], int] = {}
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.setdefault((None, node.name), node.lineno)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    found.setdefault((node.name, item.name), item.lineno)
    return found


def read_results(root: Path, name: str, work: Path) -> list[Mutant]:
    """The mutants of ``snippets/<name>.py`` and their verdicts, from mutmut's files in ``work/mutants``."""
    rel = f"snippets/{name}.py"
    meta_path, spans_path = work / "mutants" / f"{rel}.meta", work / "mutants" / f"{rel}.spans"
    if not meta_path.is_file() or not spans_path.is_file():
        return []
    exit_codes = json.loads(meta_path.read_text(encoding="utf-8"))["exit_code_by_key"]
    spans = json.loads(spans_path.read_text(encoding="utf-8"))["spans"]
    mutated_lines = (work / "mutants" / rel).read_text(encoding="utf-8").splitlines()
    original_source = (root / rel).read_text(encoding="utf-8")
    def_lines = _def_lines(original_source)

    def block(key: str) -> tuple[list[str], int]:
        """The lines of one copy of the function, named as in the source, and the index of its def line."""
        first, last = spans[key]
        lines = mutated_lines[first - 1:last]
        def_at = next((i for i, t in enumerate(lines) if DEF_RE.match(t)), 0)
        return [MANGLED_DEF_RE.sub(r"\g<fn>", t) for t in lines], def_at

    mutants = []
    for key, code in exit_codes.items():
        short = key.rsplit(".", 1)[-1]
        m = MANGLED_RE.match(short)
        if not m or short not in spans:
            continue
        orig_key = short.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
        (orig, def_at), (mut, _) = block(orig_key), block(short)
        ops = [o for o in difflib.SequenceMatcher(None, orig, mut, autojunk=False).get_opcodes() if o[0] != "equal"]
        if not ops:
            i1 = i2 = j1 = j2 = def_at
        else:
            i1, i2, j1, j2 = ops[0][1], ops[-1][2], ops[0][3], ops[-1][4]
        original = " ⏎ ".join(t.strip() for t in orig[i1:i2])
        mutated = " ⏎ ".join(t.strip() for t in mut[j1:j2])
        cls, fn = m.group("cls"), m.group("fn")
        line = def_lines.get((cls, fn), 0) + (i1 - def_at)
        status, note = _status(code)
        mutants.append(Mutant(key=key, function=f"{cls}.{fn}" if cls else fn, line=line, original=original,
                              mutated=mutated, operator=operator_of(original, mutated), status=status, note=note))
    mutants.sort(key=lambda x: (x.line, x.key))
    return mutants


# ---------------------------------------------------------------- equivalent mutants

@dataclass
class Equivalent:
    lineno: int
    snippet: str
    line: str
    mutant: str
    operator: str
    reason: str
    used: bool = False


def read_equivalents(root: Path, path: str = EQUIVALENT_TSV) -> tuple[list[Equivalent], list[str]]:
    """The rows of the equivalent-mutant list and the problems of malformed ones (``file:line: message``)."""
    file = root / path
    if not file.is_file():
        return [], []
    rows, problems, seen = [], [], set()
    with file.open(encoding="utf-8", newline="") as fh:
        lines = fh.read().splitlines()
    header_seen = False
    for lineno, text in enumerate(lines, start=1):
        if not text.strip() or text.startswith("#"):
            continue
        cells = next(csv.reader([text], delimiter="\t", quoting=csv.QUOTE_NONE))
        if not header_seen:
            header_seen = True
            if tuple(cells) != COLUMNS:
                problems.append(f"{path}:{lineno}: the header must be the columns {', '.join(COLUMNS)} "
                                "separated by tabs")
                return [], problems
            continue
        if len(cells) != len(COLUMNS):
            problems.append(f"{path}:{lineno}: expected {len(COLUMNS)} tab-separated columns "
                            f"({', '.join(COLUMNS)}), found {len(cells)}")
            continue
        row = dict(zip(COLUMNS, (c.strip() for c in cells)))
        empty = [c for c in COLUMNS if not row[c]]
        if empty:
            problems.append(f"{path}:{lineno}: empty column {', '.join(empty)} (every row needs all of "
                            f"{', '.join(COLUMNS)}, and a reason a reviewer can check)")
            continue
        snippet = row["snippet"].removeprefix("snippets/").removesuffix(".py")
        if not (root / "snippets" / f"{snippet}.py").is_file():
            problems.append(f"{path}:{lineno}: no snippet snippets/{snippet}.py")
            continue
        key = (snippet, row["line"], row["mutant"])
        if key in seen:
            problems.append(f"{path}:{lineno}: duplicate of an earlier row")
            continue
        seen.add(key)
        rows.append(Equivalent(lineno, snippet, row["line"], row["mutant"], row["operator"], row["reason"]))
    return rows, problems


def apply_equivalents(results: list[SnippetResult], rows: list[Equivalent], path: str = EQUIVALENT_TSV) -> list[str]:
    """Mark listed survivors as equivalent; report rows that are stale, wrong or that the tests kill."""
    problems = []
    by_name = {r.name: r for r in results}
    for row in rows:
        result = by_name.get(row.snippet)
        if result is None:
            continue                                     # not run this time: nothing to check it against
        matches = [m for m in result.mutants if (m.original, m.mutated) == (row.line, row.mutant)]
        if not matches:
            if result.complete and not result.error:
                problems.append(f"{path}:{row.lineno}: stale: no mutant of snippets/{row.snippet}.py changes "
                                f"`{row.line}` into `{row.mutant}` (the code changed? update or remove the row)")
            continue
        row.used = True
        for m in matches:
            if m.operator != row.operator:
                problems.append(f"{path}:{row.lineno}: the operator column says {row.operator} but the mutant's "
                                f"is {m.operator}")
            if m.status == "killed":
                problems.append(f"{path}:{row.lineno}: listed as equivalent, but {test_file(row.snippet)} kills "
                                f"this mutant (snippets/{row.snippet}.py:{m.line}): remove the row")
            elif m.status in ("survived", "timeout"):
                m.status, m.note = "equivalent", row.reason
    return problems


# ---------------------------------------------------------------- report

def tsv_row(name: str, m: Mutant) -> str:
    return "\t".join((name, m.original, m.mutated, m.operator, "REASON"))


def write_report(results: list[SnippetResult], problems: list[str], out: Path, seconds: float) -> dict:
    import importlib.metadata

    out.mkdir(parents=True, exist_ok=True)
    chapters: dict[str, list[Mutant]] = {}
    for r in results:
        chapters.setdefault(r.name.split("/")[0], []).extend(r.mutants)
    all_mutants = [m for r in results for m in r.mutants]
    tested = sum(1 for m in all_mutants if m.status != "not run")
    data = {
        "tool": f"mutmut {importlib.metadata.version('mutmut')}",
        "seconds": round(seconds, 1),
        "seconds_per_mutant": round(seconds / tested, 2) if tested else None,
        "total": count(all_mutants),
        "chapters": {c: count(ms) for c, ms in sorted(chapters.items())},
        "snippets": [{"snippet": r.name, "test": r.test, "seconds": round(r.seconds, 1), "complete": r.complete,
                      "error": r.error, **r.counts(), "mutants": [asdict(m) for m in r.mutants]}
                     for r in results],
        "problems": problems,
    }
    (out / "report.json").write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")

    def fmt(c: dict) -> str:
        score = "–" if c["score"] is None else f"{c['score']:.1f} %"
        return (f"{c['killed']} | {c['survived']} | {c['timeout']} | {c['equivalent']} | {c['not run']} | "
                f"{c['total']} | {score}")

    head = "| killed | survived | timeout | equivalent | not run | total | score |"
    md = ["# Mutation testing of the code shown on pages", "",
          f"{data['tool']}; {len(results)} snippet(s) in {seconds / 60:.1f} min"
          + (f", {data['seconds_per_mutant']} s per mutant" if tested else "") + ". "
          "Score = killed / (total − equivalent − not run); a timeout is not counted as killed. "
          "Only the lines of the sections pages include are mutated, and each snippet is judged by its "
          "own page's test file.", ""]
    if problems:
        md += ["## Problems", ""] + [f"- {p}" for p in problems] + [""]
    md += ["## Per chapter", "", "| chapter " + head, "|---" * 8 + "|"]
    md += [f"| {c} | {fmt(count(ms))} |" for c, ms in sorted(chapters.items())]
    md += [f"| **all** | {fmt(count(all_mutants))} |", "", "## Per snippet", "",
           "| snippet " + head + " time |", "|---" * 9 + "|"]
    for r in results:
        flag = "" if r.complete and not r.error else " (incomplete)"
        md.append(f"| `{r.name}`{flag} | {fmt(r.counts())} | {r.seconds:.0f} s |")
    md += ["", "## Survivors", "",
           "Kill each with a test that would fail on the mutated line, or, if no behaviour changes, add the "
           f"row under it to `{EQUIVALENT_TSV}` with a reason a reviewer can check.", ""]
    for r in results:
        if r.error:
            md += [f"### `snippets/{r.name}.py`", "", "```text", r.error, "```", ""]
        alive = [m for m in r.mutants if m.status in ("survived", "timeout")]
        if not alive:
            continue
        md += [f"### `snippets/{r.name}.py` (judged by `{r.test}`)", ""]
        for m in alive:
            note = f" ({m.note})" if m.note else ""
            md += [f"- `snippets/{r.name}.py:{m.line}` in `{m.function}`, {m.status}{note}: {m.operator}",
                   f"    - was: `` {m.original} ``", f"    - now: `` {m.mutated} ``"]
        md += ["", f"Rows for `{EQUIVALENT_TSV}` (only for mutants that change no behaviour; replace REASON):",
               "", "```tsv"] + [tsv_row(r.name, m) for m in alive] + ["```", ""]
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    return data


# ---------------------------------------------------------------- the ledger of results

def _digest(*parts: str) -> str:
    import hashlib

    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:12]


def fingerprints(tree: Path, name: str, lines: set[int], rows: list[Equivalent]) -> dict[str, str]:
    """What a result depends on, read from ``tree`` (the project, or the scratch copy a run judged)."""
    code = (tree / "snippets" / f"{name}.py").read_text(encoding="utf-8")
    test = (tree / test_file(name)).read_text(encoding="utf-8")
    keys = sorted(f"{r.line}\t{r.mutant}" for r in rows if r.snippet == name)
    return {"code": _digest(code, ",".join(map(str, sorted(lines)))), "test": _digest(test),
            "equivalents": _digest(*keys)}


def read_scores(root: Path, path: str = SCORES_TSV) -> tuple[dict[str, dict], list[str]]:
    """The ledger's rows by snippet, and the problems of malformed ones (``file:line: message``)."""
    file = root / path
    if not file.is_file():
        return {}, []
    rows, problems = {}, []
    lines = file.read_text(encoding="utf-8").splitlines()
    for lineno, text in enumerate(lines, start=1):
        if not text.strip() or text.startswith("#"):
            continue
        cells = text.split("\t")
        if tuple(cells) == SCORE_COLUMNS:
            continue
        if len(cells) != len(SCORE_COLUMNS):
            problems.append(f"{path}:{lineno}: expected {len(SCORE_COLUMNS)} tab-separated columns "
                            f"({', '.join(SCORE_COLUMNS)}), found {len(cells)}")
            continue
        row: dict = dict(zip(SCORE_COLUMNS, cells))
        try:
            for c in ("killed", "survived", "timeout", "equivalent", "total"):
                row[c] = int(row[c])
            row["seconds"] = float(row["seconds"])
        except ValueError as err:
            problems.append(f"{path}:{lineno}: {err}")
            continue
        if row["killed"] + row["survived"] + row["timeout"] + row["equivalent"] != row["total"]:
            problems.append(f"{path}:{lineno}: killed + survived + timeout + equivalent is not total")
        elif row["snippet"] in rows:
            problems.append(f"{path}:{lineno}: a second row for {row['snippet']}")
        else:
            rows[row["snippet"]] = row
    return rows, problems


def record_scores(root: Path, results: list[SnippetResult], rows: list[Equivalent], work_root: Path,
                  path: str = SCORES_TSV) -> None:
    """Rewrite the ledger rows of the snippets that were judged completely, fingerprinted from the copies
    the run judged (``work_root/<name>``), so an edit made while mutmut ran is not credited."""
    ledger, _ = read_scores(root, path)
    for r in results:
        if not r.complete or r.error or not r.mutants:
            continue
        work = work_root / r.name
        lines = json.loads((work / "shown_lines.json").read_text(encoding="utf-8"))[f"snippets/{r.name}.py"]
        c = r.counts()
        ledger[r.name] = {"snippet": r.name, **fingerprints(work, r.name, set(lines), rows),
                          **{k: c[k] for k in ("killed", "survived", "timeout", "equivalent", "total")},
                          "seconds": round(r.seconds, 1), "date": time.strftime("%Y-%m-%d")}
    out = ["\t".join(SCORE_COLUMNS)]
    out += ["\t".join(str(ledger[n][c]) for c in SCORE_COLUMNS) for n in sorted(ledger)]
    (root / path).write_text("\n".join(out) + "\n", encoding="utf-8")


def scores(root: Path, out: Path | None = None, path: str = SCORES_TSV) -> tuple[dict, list[str]]:
    """The score per chapter over the fresh rows of the ledger, and what is missing, stale or malformed."""
    ledger, problems = read_scores(root, path)
    rows, problems_eq = read_equivalents(root)
    shown = shown_sections(root)
    names = select(root)
    chapters: dict[str, dict] = {}
    missing, stale = [], []
    for name in names:
        ch = chapters.setdefault(name.split("/")[0], {"snippets": 0, "fresh": 0, "killed": 0, "judged": 0})
        ch["snippets"] += 1
        row = ledger.get(name)
        if row is None:
            missing.append(name)
            continue
        now = fingerprints(root, name, shown_lines(root / "snippets" / f"{name}.py", shown[name]), rows)
        changed = [k for k, v in now.items() if row[k] != v]
        if changed:
            stale.append(f"{name} ({', '.join(changed)} changed since {row['date']})")
            continue
        ch["fresh"] += 1
        ch["killed"] += row["killed"]
        ch["judged"] += row["total"] - row["equivalent"]
    problems += problems_eq + [f"{path}: a row for {n}, which no page shows" for n in ledger if n not in names]
    total = {k: sum(c[k] for c in chapters.values()) for k in ("snippets", "fresh", "killed", "judged")}
    for c in (*chapters.values(), total):
        c["score"] = round(100 * c["killed"] / c["judged"], 1) if c["judged"] else None
    data = {"chapters": chapters, "total": total, "missing": missing, "stale": stale}
    md = ["# Mutation score per chapter, from the ledger", "",
          f"From `{path}`: only rows whose code, test and equivalent rows still match the files count. "
          "Score = killed / (total − equivalent); a timeout counts as not killed.", "",
          "| chapter | snippets judged / shown | killed | non-equivalent | score |", "|---|---|---|---|---|"]
    for name, c in sorted(chapters.items()) + [("**all**", total)]:
        score = "–" if c["score"] is None else f"{c['score']:.1f} %"
        md.append(f"| {name} | {c['fresh']} / {c['snippets']} | {c['killed']} | {c['judged']} | {score} |")
    if stale:
        md += ["", "Stale (run again: `make mutation SNIPPET=...`):", ""] + [f"- {s}" for s in stale]
    if missing:
        md += ["", "Never run completely:", ""] + [f"- {s}" for s in missing]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "scores.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    data["markdown"] = "\n".join(md)
    return data, problems


# ---------------------------------------------------------------- main

def run(root: Path, names: list[str], out: Path, jobs: int, budget: float | None,
        equivalents: str = EQUIVALENT_TSV, log=print, isolation: str = "forkserver") -> tuple[list[SnippetResult], list[str], dict]:
    rows, problems = read_equivalents(root, equivalents)
    shown = shown_sections(root)
    results: list[SnippetResult] = []
    start = time.monotonic()
    for name in names:
        result = SnippetResult(name=name, test=test_file(name))
        results.append(result)
        left = None if budget is None else budget - (time.monotonic() - start)
        if left is not None and left <= 0:
            result.complete, result.error = False, "not run: the time budget ran out"
            continue
        lines = shown_lines(root / "snippets" / f"{name}.py", shown.get(name, set()))
        work = out / "work" / name
        prepare(root, name, work, lines, isolation)
        t0 = time.monotonic()
        log(f"mutation: snippets/{name}.py ({len(lines)} shown lines) judged by {result.test} ...")
        finished, message = run_mutmut(work, jobs, left, out / "work" / f"{name}.log")
        result.seconds = time.monotonic() - t0
        (work / "seconds.txt").write_text(f"{result.seconds:.1f}\n", encoding="utf-8")
        result.mutants = read_results(root, name, work)
        result.complete = finished and all(m.status != "not run" for m in result.mutants)
        result.error = message
        c = result.counts()
        log(f"  {c['total']} mutants: {c['killed']} killed, {c['survived']} survived, {c['timeout']} timeout, "
            f"{c['not run']} not run, in {result.seconds:.0f} s")
    problems += apply_equivalents(results, rows, equivalents)
    record_scores(root, results, rows, out / "work")
    data = write_report(results, problems, out, time.monotonic() - start)
    return results, problems, data


def report_only(root: Path, names: list[str], out: Path,
                equivalents: str = EQUIVALENT_TSV) -> tuple[list[SnippetResult], list[str], dict]:
    """The report again from the scratch trees of earlier runs in ``out/work`` (after editing the
    equivalent list, say), without running anything."""
    rows, problems = read_equivalents(root, equivalents)
    results = []
    for name in names:
        work = out / "work" / name
        result = SnippetResult(name=name, test=test_file(name), mutants=read_results(root, name, work))
        seconds = work / "seconds.txt"
        result.seconds = float(seconds.read_text(encoding="utf-8")) if seconds.is_file() else 0.0
        result.complete = bool(result.mutants) and all(m.status != "not run" for m in result.mutants)
        if not result.mutants:
            result.error = "not run: no earlier run in " + str(work)
        results.append(result)
    problems += apply_equivalents(results, rows, equivalents)
    record_scores(root, [r for r in results if r.complete], rows, out / "work")
    return results, problems, write_report(results, problems, out, sum(r.seconds for r in results))


def merge(parts: list[Path], out: Path) -> tuple[list[SnippetResult], list[str], dict]:
    """One report from the ``report.json`` of several runs (the weekly CI run shards by chapter)."""
    results, problems, seconds = [], [], 0.0
    for part in parts:
        data = json.loads(part.read_text(encoding="utf-8"))
        seconds += data["seconds"]
        problems += data["problems"]
        for s in data["snippets"]:
            results.append(SnippetResult(name=s["snippet"], test=s["test"], seconds=s["seconds"],
                                         complete=s["complete"], error=s["error"],
                                         mutants=[Mutant(**m) for m in s["mutants"]]))
    results.sort(key=lambda r: r.name)
    return results, problems, write_report(results, problems, out, seconds)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--mutmut-child"]:
        _child()
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--snippet", help="one snippet, e.g. norms/rmsnorm")
    p.add_argument("--chapter", help="one chapter, e.g. norms (or several: \"norms activations\")")
    p.add_argument("--changed-since", metavar="REF", help="only snippets whose file or test changed since REF")
    p.add_argument("--jobs", type=int, default=0, help="mutants run at once (default: the CPU count)")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="stop starting work after this long; what is left is reported as not run")
    p.add_argument("--fail-under", type=float, default=0.0, metavar="PERCENT",
                   help="exit 1 if a snippet's score is below this")
    p.add_argument("--out", type=Path, default=ROOT / "build" / "mutation")
    p.add_argument("--merge", type=Path, nargs="+", metavar="REPORT_JSON",
                   help="write one report from the report.json of several runs, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="write the report from the earlier runs kept in OUT/work, run nothing")
    p.add_argument("--scores", action="store_true",
                   help=f"print the score per chapter from the ledger {SCORES_TSV}, run nothing")
    p.add_argument("--list-chapters", action="store_true",
                   help="print the chapters that have shown snippets, as a JSON list (for a CI matrix)")
    args = p.parse_args(argv)
    if args.list_chapters:
        print(json.dumps(sorted({n.split("/")[0] for n in select(ROOT)})))
        return 0
    if args.scores:
        data, problems = scores(ROOT, args.out)
        print(data["markdown"])
        for problem in problems:
            print(problem, file=sys.stderr)
        return 1 if problems else 0
    if args.merge:
        results, problems, data = merge(args.merge, args.out)
        print(f"mutation: score {data['total']['score']} % over {data['total']['total']} mutants; "
              f"report in {args.out / 'report.md'}")
        return 1 if problems else 0
    names_filter = changed_snippets(ROOT, args.changed_since) if args.changed_since else None
    names = select(ROOT, args.snippet, args.chapter, names_filter)
    if not names:
        print("mutation: no shown snippet to test")
        write_report([], [], args.out, 0.0)
        return 0
    jobs = args.jobs or os.cpu_count() or 1
    if args.report_only:
        results, problems, data = report_only(ROOT, names, args.out)
    else:
        results, problems, data = run(ROOT, names, args.out, jobs, args.budget)
    print(f"mutation: score {data['total']['score']} % over {data['total']['total']} mutants; "
          f"report in {args.out / 'report.md'}")
    for problem in problems:
        print(problem, file=sys.stderr)
    low = [r.name for r in results if r.counts()["score"] is not None and r.counts()["score"] < args.fail_under]
    for name in low:
        print(f"snippets/{name}.py: score {results[[r.name for r in results].index(name)].counts()['score']} % "
              f"is below {args.fail_under} %", file=sys.stderr)
    broken = [r for r in results if r.error and "budget" not in r.error]
    for r in broken:
        print(f"snippets/{r.name}.py: {r.error}", file=sys.stderr)
    return 1 if problems or low or broken else 0


if __name__ == "__main__":
    sys.exit(main())
