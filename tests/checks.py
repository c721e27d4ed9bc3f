"""Generic checks on snippets and on the built site (the content checks live in hooks/handbook.py,
because the build runs them too). Each returns a list of ``path[:line]: message`` strings."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

INCLUDE_RE = re.compile(r"""--8<--\s+["']snippets/([^"':]+?)\.py(?::[^"']*)?["']""")
LOAD_RE = re.compile(r"""\bload\(\s*["']([^"']+?)(?:\.py)?["']\s*\)""")
IMPORT_RE = re.compile(r"""(?:from|import)\s+snippets\.([\w.]+)""")


@contextlib.contextmanager
def fail_after(seconds: int, snippet: str):
    """A hang becomes a failure that names the test: for snippets whose loops advance an index by hand,
    where a wrong step (a mutant, a plausible bug) never returns. SIGALRM, so the main thread only."""
    def hang(signum, frame):
        raise TimeoutError(f"no result after {seconds} s: an endless loop in snippets/{snippet}.py?")
    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


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


# ---------------------------------------------------------------- shown code is asserted on

SECTION_START_RE = re.compile(r"^\s*#\s*--8<--\s*\[start:([^\]]+)\]\s*$")
SECTION_END_RE = re.compile(r"^\s*#\s*--8<--\s*\[end:([^\]]+)\]\s*$")
SECTION_INCLUDE_RE = re.compile(r"""--8<--\s+["']snippets/([^"':]+?)\.py:([^"']+)["']""")


def shown_names(root: Path) -> dict[str, list[str]]:
    """``{"norms/rmsnorm": ["qk_norm_attention", "rms_norm"], ...}``: the functions and classes defined at
    the top level of a snippet inside a section that a page includes (methods come with their class)."""
    import ast

    sections: dict[str, set[str]] = {}
    for page in (root / "docs").rglob("*.md"):
        for name, section in SECTION_INCLUDE_RE.findall(page.read_text(encoding="utf-8")):
            sections.setdefault(name, set()).add(section)
    shown: dict[str, list[str]] = {}
    for name, wanted in sorted(sections.items()):
        path = root / "snippets" / f"{name}.py"
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        lines, open_at = set(), {}
        for number, line in enumerate(text.splitlines(), start=1):
            if m := SECTION_START_RE.match(line):
                open_at[m.group(1)] = number
            elif (m := SECTION_END_RE.match(line)) and m.group(1) in open_at:
                start = open_at.pop(m.group(1))
                if m.group(1) in wanted:
                    lines.update(range(start + 1, number))
        defs = [node.name for node in ast.parse(text).body
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.lineno in lines]
        if defs:
            shown[name] = sorted(set(defs))
    return shown


def _dotted(node) -> str:
    import ast

    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


class _AssertedUses:
    """Which shown names of which snippets a test module calls in a way that reaches an assertion.

    The rule (documented in CONTRIBUTING): a shown function or class ``f`` of snippet ``s`` is asserted on
    when, in some function of a test module that loads ``s`` (``x = load("s")``, ``load("s").f`` or
    ``from snippets.s import f``), a *call involving* ``f`` (``x.f(...)``, or ``f`` passed as an argument,
    as in ``gradcheck(x.f, ...)``) has a value that reaches an assertion:

    - it is inside an ``assert`` statement, or in the arguments of an assertion function (any call whose
      name starts with ``assert``: ``torch.testing.assert_close``, ``np.testing.assert_allclose``, ...);
    - or it is inside a ``with pytest.raises(...)`` / ``pytest.warns(...)`` block, or is the exception or
      warning class such a block expects;
    - or it is assigned (``=``, ``+=``, ``for ... in``, ``with ... as``, ``:=``) to a variable that reaches an
      assertion in the same way, directly or through further variables (``m = x.Model(cfg)``,
      ``out = m(inp)``, ``assert_close(out, ref)``);
    - or its result is dropped (a call as a statement, for in-place functions such as ``init_(model)`` or
      ``opt.step()``) and a variable passed to it, or the object it is a method of, reaches an assertion;
    - or it is an argument of a helper function of the same module that itself asserts;
    - or it comes from a fixture of the same module (its ``return``/``yield``) or from a
      ``pytest.mark.parametrize`` list, and the test's parameter of that name reaches an assertion.

    A bare call whose result is thrown away, or only printed, does not count.
    """

    def __init__(self, text: str):
        import ast

        self.ast = ast
        self.tree = ast.parse(text)
        self.aliases: dict[str, str] = {}           # module alias -> snippet name
        self.imported: dict[str, tuple[str, str]] = {}   # bare name -> (snippet, shown name)
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and self._load_arg(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.aliases[target.id] = self._load_arg(node.value)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("snippets."):
                snippet = node.module[len("snippets."):].replace(".", "/")
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (snippet, alias.name)
        # names bound to a shown object itself (``T = ev.FailureTrace``, ``f = rn.rms_norm``): calls of them count
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                ref = self.refs(node.value) if isinstance(node.value, (ast.Attribute, ast.Name)) else set()
                if len(ref) == 1:
                    self.imported.setdefault(node.targets[0].id, next(iter(ref)))
        self.functions = [n for n in ast.walk(self.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        self.asserting_helpers = {f.name for f in self.functions if any(self._is_assertion(n) for n in ast.walk(f))}

    def _load_arg(self, call) -> str | None:
        ast = self.ast
        if _dotted(call.func).split(".")[-1] == "load" and call.args and isinstance(call.args[0], ast.Constant) \
                and isinstance(call.args[0].value, str):
            return call.args[0].value.strip("/").removesuffix(".py")
        return None

    def _is_assertion(self, node) -> bool:
        ast = self.ast
        return isinstance(node, ast.Assert) or (
            isinstance(node, ast.Call) and _dotted(node.func).split(".")[-1].lower().startswith("assert"))

    def refs(self, node) -> set[tuple[str, str]]:
        """(snippet, name) referred to in ``node``: ``alias.name``, ``load("s").name`` or an imported name."""
        ast = self.ast
        found = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute):
                if isinstance(n.value, ast.Name) and n.value.id in self.aliases:
                    found.add((self.aliases[n.value.id], n.attr))
                elif isinstance(n.value, ast.Call) and self._load_arg(n.value):
                    found.add((self._load_arg(n.value), n.attr))
            elif isinstance(n, ast.Name) and n.id in self.imported:
                found.add(self.imported[n.id])
        return found

    def called(self, node) -> set[tuple[str, str]]:
        """References that sit inside a call (as the callee or among its arguments)."""
        ast = self.ast
        found = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Call):
                found |= self.refs(n)
        return found

    def _carried(self, node, taint: dict[str, set]) -> set:
        ast = self.ast
        carried = self.called(node)
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in taint:
                carried |= taint[n.id]
        return carried

    def _targets(self, node) -> list[str]:
        ast = self.ast
        return [n.id for n in ast.walk(node) if isinstance(n, ast.Name)]

    def _bindings(self, body_nodes):
        """(target names, value) pairs of the assignments in ``body_nodes``."""
        ast = self.ast
        for n in body_nodes:
            if isinstance(n, ast.Assign):
                yield [t for target in n.targets for t in self._targets(target)], n.value
            elif isinstance(n, (ast.AnnAssign, ast.AugAssign)) and n.value is not None:
                yield self._targets(n.target), n.value
            elif isinstance(n, (ast.For, ast.AsyncFor, ast.comprehension)):
                yield self._targets(n.target), n.iter
            elif isinstance(n, ast.withitem) and n.optional_vars is not None:
                yield self._targets(n.optional_vars), n.context_expr
            elif isinstance(n, ast.NamedExpr):
                yield self._targets(n.target), n.value
            elif isinstance(n, ast.Expr) and isinstance(n.value, ast.Call):
                # a call whose result is dropped acts through its arguments (``deepnorm_init_(model)``):
                # the variables passed to it carry it
                call = n.value
                yield [t for arg in [call.func, *call.args, *(k.value for k in call.keywords)]
                       for t in self._targets(arg)], call

    def asserted(self) -> set[tuple[str, str]]:
        ast = self.ast
        module_nodes = [n for stmt in self.tree.body if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                                 ast.ClassDef))
                        for n in ast.walk(stmt)]
        fixtures: dict[str, set] = {}
        for f in self.functions:
            if any("fixture" in _dotted(d) for d in f.decorator_list):
                values = [n.value for n in ast.walk(f) if isinstance(n, (ast.Return, ast.Yield)) and n.value]
                local = self._taint(list(ast.walk(f)), {})
                fixtures[f.name] = set().union(*(self._carried(v, local) for v in values)) if values else set()
        global_taint = self._taint(module_nodes, {})
        found = set()
        for f in self.functions:
            taint = dict(global_taint)
            for arg in f.args.args:
                if fixtures.get(arg.arg):
                    taint[arg.arg] = taint.get(arg.arg, set()) | fixtures[arg.arg]
            for d in f.decorator_list:
                if isinstance(d, ast.Call) and _dotted(d.func).endswith("parametrize") and len(d.args) >= 2 \
                        and isinstance(d.args[0], ast.Constant) and isinstance(d.args[0].value, str):
                    for name in d.args[0].value.replace(" ", "").split(","):
                        taint[name] = taint.get(name, set()) | self.refs(d.args[1])
            nodes = list(ast.walk(f))
            taint = self._taint(nodes, taint)
            for n in nodes:
                if isinstance(n, ast.Assert):
                    found |= self._carried(n.test, taint)
                elif isinstance(n, ast.Call) and self._is_assertion(n):
                    for arg in [*n.args, *(k.value for k in n.keywords)]:
                        found |= self._carried(arg, taint)
                elif isinstance(n, (ast.With, ast.AsyncWith)) and any(
                        _dotted(item.context_expr).split(".")[-1] in ("raises", "warns") for item in n.items):
                    for stmt in n.body:
                        found |= self._carried(stmt, taint)
                    for item in n.items:                     # pytest.raises(x.ToolCallError): the type asserted
                        if _dotted(item.context_expr).split(".")[-1] in ("raises", "warns"):
                            found |= self.refs(item.context_expr)
                elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in self.asserting_helpers:
                    for arg in [*n.args, *(k.value for k in n.keywords)]:
                        found |= self._carried(arg, taint) | self.refs(arg)
        return found

    def _taint(self, nodes, taint: dict[str, set]) -> dict[str, set]:
        taint = {k: set(v) for k, v in taint.items()}
        bindings = list(self._bindings(nodes))
        changed = True
        while changed:
            changed = False
            for targets, value in bindings:
                carried = self._carried(value, taint)
                if not carried:
                    continue
                for t in targets:
                    if not carried <= taint.get(t, set()):
                        taint[t] = taint.get(t, set()) | carried
                        changed = True
        return taint


def unasserted_names(root: Path) -> list[str]:
    """``chapter/page:name`` for every function or class a page shows that no test module calls in a way
    that reaches an assertion (see :class:`_AssertedUses` for the rule)."""
    asserted: set[tuple[str, str]] = set()
    for test in sorted((root / "tests").rglob("test_*.py")):
        if "fixtures" in test.relative_to(root / "tests").parts[:-1]:
            continue
        text = test.read_text(encoding="utf-8")
        if "snippets" not in text:
            continue
        asserted |= _AssertedUses(text).asserted()
    return [f"{snippet}:{name}" for snippet, names in shown_names(root).items() for name in names
            if (snippet, name) not in asserted]
