"""Shared fixtures: the repository root and the site built once per test session."""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# One PyTorch/OpenMP thread per test process. `make test` already runs one xdist worker per core, and
# the tests' tensors are tiny: a pool of a thread per core in every worker only makes them spin against
# each other (measured: chapter tests 31 → 22 CPU-s). Snippet demos and labs inherit it as children.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")    # Debian's; CI on GitHub points it at Chrome
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def shared_once(tmp_path_factory, name: str, make) -> Path:
    """Run ``make(folder)`` once per test run, even with pytest-xdist's several worker processes.

    Every worker calls this; the first to take the lock makes ``folder`` (in the base temporary folder
    the workers share), the others wait and reuse it. A failure is recorded and reported to each caller,
    so an expensive step that failed is not run again by the next worker."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent                     # shared by all workers of this run
    folder, failed = base / name, base / f"{name}.failed"
    with FileLock(str(base / f"{name}.lock")):
        if not folder.exists() and not failed.exists():
            tmp = base / f"{name}.partial"
            try:
                make(tmp)
            except BaseException as exc:       # noqa: BLE001 - recorded, then re-raised below
                failed.write_text(str(exc) or repr(exc), encoding="utf-8")
                raise
            tmp.rename(folder)
    if failed.exists():
        pytest.fail(f"{name}: {failed.read_text(encoding='utf-8')}", pytrace=False)
    return folder


def build_site(site: Path) -> None:
    """``mkdocs build --strict`` into ``site``; fails on any warning."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{log[-6000:]}"
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "the build printed warnings:\n" + "\n".join(warnings)
    print(f"\nmkdocs build --strict: {seconds:.1f} s")


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The site, built once per run with ``mkdocs build --strict`` (shared by the xdist workers)."""
    return shared_once(tmp_path_factory, "site", build_site)


@pytest.fixture(scope="session")
def server(built_site):
    """The built site served on 127.0.0.1 (a free port) for the session; stopped afterwards."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download here)."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian chromium is required (apt-get install chromium; .ci/run does it)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def pytest_collection_modifyitems(session, config, items):
    """Run the PDF tests first. Their fixture prints both languages (the longest steps of the suite, about
    80 CPU-s each); started early, the prints overlap the rest of the suite instead of keeping one
    pytest-xdist worker busy at the end while the other has nothing left to do."""
    items[:] = sorted(items, key=lambda item: item.path.name != "test_pdf.py")      # stable: order kept


# tests/fixtures/ holds small handbook trees used by the negative tests; they are data, not tests.
collect_ignore_glob = ["fixtures/*"]
