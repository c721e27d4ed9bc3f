"""`make test` brings its own system packages (tools/sysdeps.sh), and where it cannot install them it stops
before any test runs with one message that names the packages and the CHROMIUM variable."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT

# What the Makefile and the script need to get as far as the message; apt-get, sudo, chromium,
# fc-list and pdftotext are deliberately absent.
TOOLS = ["bash", "make", "grep", "id", "cat", "env", "sh"]


@pytest.fixture
def no_apt_path(tmp_path) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed to run this test"
        (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


def _make(target: str, path: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": path, "HOME": str(tmp_path), "CHROMIUM": str(tmp_path / "no-such-browser")}
    venv = tmp_path / "venv"
    return subprocess.run(["make", "--no-print-directory", target, f"VENV={venv}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def test_without_apt_make_test_stops_before_pytest_with_one_message(no_apt_path, tmp_path):
    proc = _make("test", no_apt_path, tmp_path)
    assert proc.returncode != 0
    err = proc.stderr
    for package in ("chromium", "fonts-noto-cjk", "fonts-wqy-microhei", "poppler-utils"):
        assert package in err, f"the message does not name {package}:\n{err}"
    assert "apt-get is not available" in err and "CHROMIUM=" in err and "No test has been run" in err, err
    assert "Traceback" not in proc.stdout + err
    assert "pytest" not in proc.stdout, "pytest was started:\n" + proc.stdout
    assert not (tmp_path / "venv").exists(), "the virtual environment was set up before the check"


@pytest.mark.parametrize("target", ["pdf", "offline"])
def test_pdf_and_offline_check_first_too(no_apt_path, tmp_path, target):
    proc = _make(target, no_apt_path, tmp_path)
    assert proc.returncode != 0 and "No test has been run" in proc.stderr, proc.stderr
    assert not (tmp_path / "venv").exists()


def test_nothing_missing_means_nothing_installed(tmp_path):
    """On a machine that has everything (this one, once `make test` ran), the step is silent and succeeds."""
    browser = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(browser).exists():
        pytest.skip("the browser is not installed here")
    proc = subprocess.run(["bash", "tools/sysdeps.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
