"""Generic checks on snippets and on the built site (the content checks live in hooks/handbook.py,
because the build runs them too). Each returns a list of ``path[:line]: message`` strings."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

INCLUDE_RE = re.compile(r"""--8<--\s+["']snippets/([^"':]+?)\.py(?::[^"']*)?["']""")
LOAD_RE = re.compile(r"""\bload\(\s*["']([^"']+?)(?:\.py)?["']\s*\)""")
IMPORT_RE = re.compile(r"""(?:from|import)\s+snippets\.([\w.]+)""")


def snippet_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "snippets").rglob("*.py") if p.name != "__init__.py")


def snippet_name(path: Path, root: Path) -> str:
    """``snippets/norms/rmsnorm.py`` → ``norms/rmsnorm``."""
    return path.relative_to(root / "snippets").with_suffix("").as_posix()


def snippet_problems(root: Path) -> list[str]:
    """Every snippet is included by at least one page and loaded by at least one test."""
    included = set()
    for page in (root / "docs").rglob("*.md"):
        included.update(INCLUDE_RE.findall(page.read_text(encoding="utf-8")))
    loaded = set()
    for test in (root / "tests").rglob("*.py"):
        if "fixtures" in test.relative_to(root / "tests").parts[:-1]:
            continue
        text = test.read_text(encoding="utf-8")
        loaded.update(LOAD_RE.findall(text))
        loaded.update(m.replace(".", "/") for m in IMPORT_RE.findall(text))
    problems = []
    for path in snippet_files(root):
        name, rel = snippet_name(path, root), path.relative_to(root)
        if name not in included:
            problems.append(f"{rel}: not included by any page (add --8<-- \"{rel}:<section>\" to a page)")
        if name not in loaded:
            problems.append(f"{rel}: not loaded by any test (add load(\"{name}\") to tests/{Path(name).parent}/test_{path.stem}.py)")
    return problems


# Imported once by the fork server, so a snippet's process starts with them loaded (an interpreter plus
# `import torch` costs ~2 s; ~100 snippets paid it each).
PRELOAD = ["torch", "numpy", "langchain_core"]
_forkserver = None


def _context():
    """A multiprocessing fork server with PRELOAD imported and PYTHONHASHSEED=0, started on first use.

    Each snippet still runs in its own new process (forked from that server, which has run nothing but
    the imports), so no state passes from one snippet, or from the tests, to another."""
    global _forkserver
    if _forkserver is None:
        import multiprocessing

        os.environ["PYTHONHASHSEED"] = "0"          # the server is a new interpreter and inherits this
        _forkserver = multiprocessing.get_context("forkserver")
        _forkserver.set_forkserver_preload(PRELOAD)
    return _forkserver


def _child(path: str, root: str, out: str, err: str) -> None:
    """Run ``path`` as ``__main__`` in this (forked) process, like ``PYTHONPATH=root python path``."""
    import runpy
    import traceback

    os.chdir(root)
    sys.path[:0] = [str(Path(path).parent), root]
    sys.argv = [path]
    for fd, name in ((1, out), (2, err)):
        f = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(f, fd)
        os.close(f)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    code = 0
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
    except BaseException:                           # noqa: BLE001 - reported like an uncaught exception
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_as_main(path: Path, root: Path, timeout: float = 120) -> tuple[bool, str]:
    """Run a snippet as ``__main__`` the way a reader would, in a process of its own; return (ok, output)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, "stdout"), os.path.join(tmp, "stderr")
        proc = _context().Process(target=_child, args=(str(path), str(root), out, err))
        proc.start()
        proc.join(timeout)
        if proc.is_alive():
            proc.kill()
            proc.join()
            return False, f"{path.relative_to(root)}: did not finish in {timeout:.0f} s"
        stdout = Path(out).read_text(encoding="utf-8", errors="replace") if os.path.exists(out) else ""
        stderr = Path(err).read_text(encoding="utf-8", errors="replace") if os.path.exists(err) else ""
    output = stdout + stderr
    if proc.exitcode != 0:
        return False, f"{path.relative_to(root)}: exit status {proc.exitcode}\n{output[-2000:]}"
    if not stdout.strip():
        return False, f"{path.relative_to(root)}: the __main__ demo printed nothing"
    return True, output


# ---------------------------------------------------------------- built site

RESOURCE_ATTRS = {
    "script": ("src",), "img": ("src", "srcset"), "source": ("src", "srcset"), "iframe": ("src",),
    "video": ("src", "poster"), "audio": ("src",), "embed": ("src",), "object": ("data",),
    "track": ("src",), "input": ("src",),
}
LOADED_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "prefetch",
                    "manifest", "apple-touch-icon", "mask-icon", "preconnect", "dns-prefetch"}
CSS_URL_RE = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def _external(url: str) -> bool:
    url = url.strip()
    return url.startswith("//") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url) is not None


class _ResourceParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str, str]] = []      # (line, tag, url)
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        line = self.getpos()[0]
        urls = []
        for name in RESOURCE_ATTRS.get(tag, ()):
            if attrs.get(name):
                urls += [part.split()[0] for part in attrs[name].split(",") if part.strip()] if name == "srcset" else [attrs[name]]
        if tag == "link" and attrs.get("href"):
            rels = set((attrs.get("rel") or "").lower().split())
            if rels & LOADED_LINK_RELS:
                urls.append(attrs["href"])
        if attrs.get("style"):
            urls += [a or b for a, b in CSS_URL_RE.findall(attrs["style"])]
        self.found += [(line, tag, u) for u in urls]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            line = self.getpos()[0]
            self.found += [(line, "style", a or b) for a, b in CSS_URL_RE.findall(data)]


def external_resource_problems(site: Path) -> list[str]:
    """Scripts, stylesheets, fonts and images that a built page would load from another host."""
    problems = []
    for page in sorted(site.rglob("*.html")):
        parser = _ResourceParser()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        for line, tag, url in parser.found:
            if _external(url):
                problems.append(f"{page.relative_to(site)}:{line}: <{tag}> loads {url} from another host")
    for css in sorted(site.rglob("*.css")):
        for lineno, text in enumerate(css.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for a, b in CSS_URL_RE.findall(text):
                url = a or b
                if _external(url) and "w3.org/2000/svg" not in url:
                    problems.append(f"{css.relative_to(site)}:{lineno}: stylesheet loads {url} from another host")
    return problems


def notebook_page_problems(site: Path, docs: Path) -> list[str]:
    """Every ``docs/**/<name>.<lang>.ipynb`` is built as an HTML page, not served as raw JSON."""
    problems = []
    for nb in sorted(docs.rglob("*.ipynb")):
        parts = nb.name.split(".")
        lang = parts[-2] if len(parts) >= 3 else None
        stem = ".".join(parts[:-2]) if lang else ".".join(parts[:-1])
        rel_dir = nb.parent.relative_to(docs)
        prefix = Path(lang) if lang and lang != "zh" else Path()
        built = site / prefix / rel_dir / stem / "index.html"
        where = nb.relative_to(docs.parent)
        if not built.is_file():
            problems.append(f"{where}: no built page at {built.relative_to(site)}")
            continue
        html = built.read_text(encoding="utf-8", errors="replace")
        if not html.lstrip().lower().startswith("<!doctype html"):
            problems.append(f"{where}: built page {built.relative_to(site)} is not HTML "
                            f"(starts with {html.lstrip()[:20]!r}): the notebook was copied as raw JSON")
        elif '"cell_type"' in html or '"nbformat"' in html:
            problems.append(f"{where}: built page {built.relative_to(site)} shows the notebook's raw JSON")
    return problems


# ---------------------------------------------------------------- seed coverage

def source_map_problems(root: Path) -> list[str]:
    """``data/source_map.tsv`` (source_file, ref, question_id) against the pages and the seed refs.

    - every question_id exists in both languages;
    - every (source_file, ref) is a row of ``data/seed_refs.tsv``;
    - every seed row of a chapter that has questions is mapped to at least one question.
    """
    import handbook

    problems = []
    docs = root / "docs"
    ids: dict[str, set[str]] = {lang: set() for lang in handbook.LANGS}
    chapters_with_questions = set()
    for page in handbook.iter_pages(docs):
        for q in page.questions:
            if q.id:
                ids[page.lang].add(q.id)
                chapters_with_questions.add(page.chapter)
    seeds = {(r["source_file"], r["ref"]): r["chapter"] for r in handbook.read_tsv(root / "data/seed_refs.tsv")}
    mapped = set()
    path = root / "data/source_map.tsv"
    rows = handbook.read_tsv(path)
    for lineno, row in enumerate(rows, start=2):
        if set(row) != {"source_file", "ref", "question_id"} or None in row.values():
            problems.append(f"data/source_map.tsv:{lineno}: expected 3 tab-separated columns "
                            "source_file, ref, question_id")
            continue
        key = (row["source_file"], row["ref"])
        if key not in seeds:
            problems.append(f"data/source_map.tsv:{lineno}: {key[0]} {key[1]} is not a seed row "
                            "(see data/seed_refs.tsv)")
        for lang in handbook.LANGS:
            if row["question_id"] not in ids[lang]:
                problems.append(f"data/source_map.tsv:{lineno}: question id '{row['question_id']}' "
                                f"does not exist in the {lang} pages")
        mapped.add(key)
    for key, chapter in seeds.items():
        if chapter in chapters_with_questions and key not in mapped:
            problems.append(f"data/seed_refs.tsv: {key[0]} {key[1]} (chapter {chapter}) is not answered "
                            "by any question in data/source_map.tsv")
    return problems
