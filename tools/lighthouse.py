"""Lighthouse audit of the built site (issue 19): mobile, median of N runs per page and language.

    make audit                              # builds site/ first, then audits it
    .venv/bin/python tools/lighthouse.py --site /tmp/site --runs 3 [--pages norms/rmsnorm/,questions/]

The site is served on 127.0.0.1 the way GitHub Pages serves it: text files gzip-compressed when the
browser accepts it, ``Cache-Control: max-age=600``, and ``404.html`` for missing paths. Lighthouse comes
from npm (package.json devDependencies; ``npm ci``) and drives Debian's Chromium ($CHROMIUM). Reports are
written to build/lighthouse/ (one JSON per run) and the table of medians is printed as Markdown.
This is an audit, not a test: one run takes tens of seconds of CPU.
"""
from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import json
import os
import statistics
import subprocess
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["", "norms/rmsnorm/", "transformer/architecture/", "questions/", "labs/tiny_gpt/", "tags/",
         "glossary/", "practice/"]
CATEGORIES = ["performance", "accessibility", "best-practices", "seo"]
COMPRESSIBLE = (".html", ".css", ".js", ".json", ".xml", ".svg", ".txt", ".tsv", ".map", ".ipynb")


class PagesLikeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files as GitHub Pages sends them: gzip for text, a 10-minute cache, 404.html."""

    def log_message(self, *args):
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?")[0].endswith("/"):
                return super().send_head()                    # the redirect to the slash URL
            path = path / "index.html"
        status = 200
        if not path.is_file():
            path, status = Path(self.directory) / "404.html", 404
        data = path.read_bytes()
        gz = path.suffix in COMPRESSIBLE and "gzip" in self.headers.get("Accept-Encoding", "")
        if gz:
            data = gzip.compress(data, 6)
        self.send_response(status)
        self.send_header("Content-Type", self.guess_type(str(path)))
        if gz:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "max-age=600")
        self.end_headers()
        return io.BytesIO(data)


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):     # Chromium drops connections it no longer needs
            super().handle_error(request, client_address)


def serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    httpd = QuietServer(("127.0.0.1", 0), functools.partial(PagesLikeHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def run_lighthouse(url: str, out: Path, chromium: str) -> dict[str, float]:
    """One mobile Lighthouse run of ``url``: the category scores (0-100) and the report at ``out``."""
    cli = ROOT / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        sys.exit("Lighthouse is not installed: run `npm ci` (package.json devDependencies)")
    cmd = ["node", str(cli), url, "--quiet", "--output=json", f"--output-path={out}",
           f"--only-categories={','.join(CATEGORIES)}",
           "--chrome-flags=--headless=new --no-sandbox --disable-gpu"]
    proc = subprocess.run(cmd, env={**os.environ, "CHROME_PATH": chromium}, capture_output=True, text=True)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse failed on {url}:\n{proc.stderr[-2000:]}")
    report = json.loads(out.read_text(encoding="utf-8"))
    return {c: round(100 * (report["categories"][c]["score"] or 0)) for c in CATEGORIES}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--site", type=Path, default=ROOT / "site")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pages", default=",".join(PAGES), help="comma-separated paths ('' = home)")
    ap.add_argument("--langs", default="zh,en")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "lighthouse")
    args = ap.parse_args(argv)
    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    httpd, base = serve(args.site)
    rows = []
    try:
        for path in args.pages.split(","):
            for lang in args.langs.split(","):
                url = base + ("" if lang == "zh" else f"{lang}/") + path
                runs = []
                for i in range(args.runs):
                    name = (f"{lang}-{path.strip('/').replace('/', '_') or 'home'}-{i + 1}.json")
                    runs.append(run_lighthouse(url, args.out / name, chromium))
                    print(f"{lang} /{path} run {i + 1}: {runs[-1]}", file=sys.stderr, flush=True)
                rows.append((f"/{path}", lang, {c: statistics.median(r[c] for r in runs) for c in CATEGORIES}))
    finally:
        httpd.shutdown()
    print(f"\n| page | lang | {' | '.join(CATEGORIES)} |\n|---|---|{'---|' * len(CATEGORIES)}")
    for page, lang, med in rows:
        print(f"| {page} | {lang} | {' | '.join(f'{med[c]:g}' for c in CATEGORIES)} |")
    (args.out / "medians.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
