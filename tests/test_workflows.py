"""GitHub Actions workflows pin every third-party action to a full commit SHA (a tag can be moved to
other code after review); the tag it stands for is kept in a comment for readers and for updates."""
from __future__ import annotations

import re
from pathlib import Path

USES = re.compile(r"^\s*(?:-\s*)?uses:\s*(?P<ref>\S+)(?P<comment>.*)$")
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def unpinned(text: str, name: str) -> list[str]:
    """``file:line: message`` for every ``uses:`` not pinned to a 40-hex SHA with a ``# vX`` comment."""
    problems = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        m = USES.match(line)
        if not m or m.group("ref").startswith("./"):          # local actions live in this repository
            continue
        if not PINNED.match(m.group("ref")):
            problems.append(f"{name}:{lineno}: {m.group('ref')} is not pinned to a commit SHA")
        elif not re.search(r"#\s*v\d", m.group("comment")):
            problems.append(f"{name}:{lineno}: {m.group('ref')} needs a '# vX.Y.Z' comment naming the tag")
    return problems


def test_actions_are_pinned_by_sha(root):
    workflows = sorted((root / ".github" / "workflows").glob("*.y*ml"))
    assert workflows
    problems = [p for wf in workflows for p in unpinned(wf.read_text(encoding="utf-8"), wf.relative_to(root).as_posix())]
    assert problems == []


def test_unpinned_action_is_reported():
    text = ("steps:\n  - uses: actions/checkout@v4\n"
            "  - uses: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065\n"
            "  - uses: ./local-action\n"
            "  - uses: actions/deploy-pages@d6db90164ac5ed86f2b6aed7e0febac5b3c0c03e  # v4.0.5\n")
    assert unpinned(text, "ci.yml") == [
        "ci.yml:2: actions/checkout@v4 is not pinned to a commit SHA",
        "ci.yml:3: actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065 needs a '# vX.Y.Z' comment naming the tag"]
