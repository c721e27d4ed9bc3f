"""`make check`: the quick loop while writing (about a minute), before `make test` and a pull request.

    make check                 # what changed against main (committed or not, tracked or new)
    make check CHAPTER=norms   # one chapter: its pages' tests and snippet demos

Always runs the content model (tests/test_content.py), the snippet bookkeeping (every snippet included by a
page and loaded by a test, every function a page shows asserted on in a test), the source map, the search
query set's well-formedness, and the strict site build with the static checks on its output
(tests/test_site.py). Then, for every changed page, snippet or
test, that page's test file and its snippet's ``__main__`` demo; for a changed notebook, that lab. The
browser, PDF and offline checks are left to `make test`.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALWAYS = [
    "tests/test_content.py",
    "tests/test_snippets.py::test_every_snippet_is_included_and_tested",
    "tests/test_snippets.py::test_every_shown_function_is_asserted_on",
    "tests/test_source_map.py",
    "tests/test_search.py::test_query_set_is_well_formed",
    "tests/test_site.py",
]


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout


def changed_files() -> list[str]:
    """Paths changed against the merge base with main (or origin/main), incl. uncommitted and new files."""
    base = ""
    for ref in ("main", "origin/main"):
        base = git("merge-base", "HEAD", ref).strip()
        if base:
            break
    diff = git("diff", "--name-only", base or "HEAD")
    new = git("ls-files", "--others", "--exclude-standard")
    return sorted(set((diff + new).split()))


def targets_for(chapter_page: tuple[str, str]) -> list[str]:
    chapter, page = chapter_page
    out = []
    test = ROOT / "tests" / chapter / f"test_{page}.py"
    if test.exists():
        out.append(test.relative_to(ROOT).as_posix())
    if (ROOT / "snippets" / chapter / f"{page}.py").exists():
        out.append(f"tests/test_snippets.py::test_snippet_runs_as_main[{chapter}/{page}]")
    return out


def pages_of(paths: list[str]) -> tuple[set[tuple[str, str]], set[str], set[str]]:
    """(chapter, page) pairs, other test files and lab names touched by ``paths``."""
    pages, tests, labs = set(), set(), set()
    for path in paths:
        parts = Path(path).parts
        if len(parts) == 3 and parts[0] == "docs" and parts[2].endswith(".md"):
            pages.add((parts[1], parts[2].split(".")[0]))
        elif len(parts) == 3 and parts[0] == "docs" and parts[1] == "labs" and parts[2].endswith(".ipynb"):
            labs.add(parts[2].split(".")[0])
        elif len(parts) == 3 and parts[0] == "snippets" and parts[2].endswith(".py"):
            pages.add((parts[1], parts[2][:-3]))
        elif len(parts) == 3 and parts[0] == "tests" and parts[2].startswith("test_") and parts[2].endswith(".py"):
            pages.add((parts[1], parts[2][len("test_"):-3]))
            if (ROOT / path).exists():
                tests.add(path)
    return pages, tests, labs


def main(argv: list[str]) -> int:
    chapter = argv[0] if argv else os.environ.get("CHAPTER", "")
    if chapter:
        if not (ROOT / "docs" / chapter).is_dir():
            print(f"make check: no chapter {chapter!r} (docs/{chapter}/ does not exist)", file=sys.stderr)
            return 2
        pages = {(chapter, p.name.split(".")[0]) for p in (ROOT / "docs" / chapter).glob("*.md")}
        tests, labs = set(), set()
        what = f"chapter {chapter}"
    else:
        changed = changed_files()
        pages, tests, labs = pages_of(changed)
        what = f"{len(changed)} changed file(s) against main"
    selected = sorted({t for cp in pages for t in targets_for(cp)} | tests)
    selected += [f"tests/test_labs.py::test_lab_executes_and_reaches_its_result[{name}]" for name in sorted(labs)]
    print(f"make check: {what}; content model, strict build and {len(selected)} targeted test file(s)/demo(s)")
    for target in selected:
        print("  " + target)
    cmd = [sys.executable, "-m", "pytest", "-q", "-n", os.environ.get("JOBS", "auto"), "--durations=3",
           *ALWAYS, *selected]
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
