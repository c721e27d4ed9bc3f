"""Print the handbook as one PDF per language: ``handbook-zh.pdf`` and ``handbook-en.pdf``.

    python tools/print_pdf.py            # both languages (``make pdf``)
    python tools/print_pdf.py en         # one language

For each language it builds ``editions/pdf.<lang>.yml`` (the site's config with that language only and the
mkdocs-print-site plugin, which joins every chapter into ``print_page/``), checks that every chapter is
on the print page, serves the build on 127.0.0.1 and prints it with headless Chromium (Debian's
``/usr/bin/chromium`` driven by Playwright) once KaTeX and mermaid have rendered and every collapsible
block is open. Chromium, rather than a WeasyPrint-based plugin, because it runs the same JavaScript as
the site (KaTeX, mermaid), embeds the CJK fonts it used, keeps links inside the document, and writes a
PDF outline (bookmarks) from the headings. Nothing is fetched from the network.
"""
from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "hooks"))
import handbook  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")    # Debian's; CI on GitHub points it at Chrome


class PrintError(SystemExit):
    pass


def build(lang: str) -> Path:
    site = ROOT / "build" / "pdf" / lang
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PRINT_DATE": os.environ.get("PRINT_DATE")
           or time.strftime("%Y-%m-%d")}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", f"editions/pdf.{lang}.yml"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PrintError(f"print build for {lang} failed:\n{proc.stdout}{proc.stderr}")
    return site


def check_chapters(site: Path, lang: str) -> None:
    """Fail loudly if a chapter that exists in ``docs/`` is not on the print page."""
    html = (site / "print_page" / "index.html").read_text(encoding="utf-8")
    missing = [row["slug"] for row in handbook.chapters(ROOT)
               if (ROOT / "docs" / row["slug"] / f"index.{lang}.md").exists()
               and f'<section class="print-page" id="{row["slug"]}"' not in html]
    if missing:
        raise PrintError(f"{lang}: chapters missing from the print page: {', '.join(missing)}")


def serve(site: Path):
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


def print_pdf(url: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # Fallback fonts (text whose CSS names no installed face, e.g. mermaid's labels) from
        # tools/print-fonts.conf: TrueType only, so nothing becomes a Type 3 font in the PDF.
        env = {**os.environ, "FONTCONFIG_FILE": str(ROOT / "tools" / "print-fonts.conf")}
        browser = p.chromium.launch(executable_path=CHROMIUM, env=env,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page()
        outside: list[str] = []
        page.on("request", lambda r: outside.append(r.url) if not r.url.startswith((url, "data:", "blob:")) else None)
        page.goto(url + "print_page/", wait_until="networkidle", timeout=600_000)
        # Every diagram drawn (Material replaces pre.mermaid by a rendered div) and every formula typeset.
        page.wait_for_function("document.querySelectorAll('pre.mermaid').length === 0", timeout=600_000)
        page.wait_for_function("[...document.querySelectorAll('.arithmatex')].every(e => e.querySelector('.katex'))",
                               timeout=600_000)
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        page.emulate_media(media="print")
        # Page size, margins and page numbers come from the @page rule in assets/stylesheets/extra.css.
        page.pdf(path=str(out), print_background=True, outline=True, tagged=True, prefer_css_page_size=True)
        browser.close()
    if outside:
        raise PrintError(f"the print page requested other hosts: {sorted(set(outside))[:5]}")


def main(langs: list[str]) -> None:
    for lang in langs:
        start = time.perf_counter()
        site = build(lang)
        check_chapters(site, lang)
        httpd, url = serve(site)
        out = ROOT / f"handbook-{lang}.pdf"
        try:
            print_pdf(url, out)
        finally:
            httpd.shutdown()
        print(f"{out.name}: {out.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or list(handbook.LANGS))
