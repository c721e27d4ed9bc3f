"""Measure `make serve`'s save-to-reload time for a one-page edit, and check the served site afterwards.

    .venv/bin/python tools/reload_time.py [mkdocs serve options...]     # default: what `make serve` uses

Copies the repository's tracked files to a temporary folder, starts ``mkdocs serve`` there, waits for the
first build, appends a sentence to one Chinese page and polls the served page until the sentence appears
(that is what the browser's live reload waits for). It then checks that the edit did not break the served
site: both search indexes still hold every page, the chapter index still lists every question, and the
English page's language switcher still points at the Chinese page.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGE = "docs/norms/rmsnorm.zh.md"
URL_PATH = "norms/rmsnorm/"


def fetch(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode("utf-8")
    except OSError:
        return None


def wait_for(predicate, timeout: float, step: float = 0.2) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if predicate():
            return time.perf_counter() - start
        time.sleep(step)
    raise TimeoutError(f"not reached in {timeout:.0f} s")


def index_counts(base: str) -> dict[str, int]:
    out = {}
    for lang in ("zh", "en"):
        data = json.loads(fetch(f"{base}search/search_index.{lang}.json") or "{}")
        out[lang] = len({d["location"].split("#")[0] for d in data.get("docs", [])})
    return out


def main(options: list[str]) -> int:
    options = options or ["--dirty", "--no-strict"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "book"
        files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        for rel in files:
            if (ROOT / rel).is_file():
                (work / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / rel, work / rel)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        base = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
        log = open(Path(tmp) / "serve.log", "w")
        proc = subprocess.Popen([sys.executable, "-m", "mkdocs", "serve", *options, "--dev-addr", f"127.0.0.1:{port}"],
                                cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            first = wait_for(lambda: (fetch(base + "search/search_index.en.json") or "").startswith("{"), 600, 1.0)
            before = index_counts(base)
            print(f"first build served after {first:.1f} s; search index pages {before}")
            marker = f"重载计时标记{int(time.time())}"
            page = work / PAGE
            page.write_text(page.read_text(encoding="utf-8") + f"\n{marker}\n", encoding="utf-8")
            seconds = wait_for(lambda: marker in (fetch(base + URL_PATH) or ""), 300)
            print(f"save-to-reload for {PAGE}: {seconds:.1f} s")
            time.sleep(2)
            after = index_counts(base)
            problems = []
            if after != before:
                problems.append(f"search index pages changed: {before} -> {after}")
            index = fetch(base + "norms/") or ""
            if "rmsnorm-formula" not in index:
                problems.append("the chapter index no longer lists the page's questions")
            en = fetch(base + "en/" + URL_PATH) or ""
            if 'hreflang="zh"' not in en:
                problems.append("the English page lost its language switcher")
            zh = fetch(base + URL_PATH) or ""
            if "RMSNorm" not in zh.split("<nav", 1)[-1][:200000]:
                problems.append("navigation titles missing")
            print("served site after the reload:", "OK" if not problems else "; ".join(problems))
            return 1 if problems else 0
        finally:
            proc.terminate()
            proc.wait(30)
            log.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
