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


# ----------------------------------------------------------------------------------------- Dependabot
# Every place a dependency is pinned gets weekly update pull requests: requirements.txt (pip),
# package.json (npm) and the workflows' actions (github-actions), each at the root where its manifest is.
ECOSYSTEMS = {"pip": "requirements.txt", "npm": "package.json", "github-actions": ".github/workflows"}


def dependabot_problems(config: dict, root) -> list[str]:
    """What ``.github/dependabot.yml`` (parsed) misses: an ecosystem not covered, a schedule that is not
    weekly, a directory without the manifest, an update without groups, or torch not held at its pin."""
    problems = []
    if config.get("version") != 2:
        problems.append("version must be 2")
    updates = {u.get("package-ecosystem"): u for u in config.get("updates") or []}
    for eco, manifest in ECOSYSTEMS.items():
        u = updates.get(eco)
        if u is None:
            problems.append(f"{eco}: not covered")
            continue
        if (u.get("schedule") or {}).get("interval") != "weekly":
            problems.append(f"{eco}: schedule is not weekly")
        if not (root / (u.get("directory") or "/").strip("/") / manifest).exists():
            problems.append(f"{eco}: no {manifest} in directory {u.get('directory')!r}")
        if not u.get("groups"):
            problems.append(f"{eco}: updates are not grouped")
    pip = updates.get("pip") or {}
    if not any(i.get("dependency-name") == "torch" for i in pip.get("ignore") or []):
        problems.append("pip: torch must be ignored (it stays exactly 2.13.0)")
    return problems


def test_dependabot_covers_pip_npm_and_actions(root):
    import yaml

    config = yaml.safe_load((root / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    assert dependabot_problems(config, root) == []


def test_dependabot_gaps_are_reported(root):
    config = {"version": 2, "updates": [
        {"package-ecosystem": "pip", "directory": "/", "schedule": {"interval": "daily"}, "groups": {"a": {}}},
        {"package-ecosystem": "github-actions", "directory": "/docs", "schedule": {"interval": "weekly"}}]}
    assert dependabot_problems(config, root) == [
        "pip: schedule is not weekly", "npm: not covered",
        "github-actions: no .github/workflows in directory '/docs'", "github-actions: updates are not grouped",
        "pip: torch must be ignored (it stays exactly 2.13.0)"]
