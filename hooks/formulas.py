"""Formulas typeset at build time with KaTeX: pages carry HTML, not TeX, and no KaTeX script.

``pymdownx.arithmatex`` (generic mode) wraps every formula of a page as
``<span class="arithmatex">\\(…\\)</span>`` (inline) or ``<div class="arithmatex">\\[…\\]</div>``
(display). This hook replaces the TeX inside with KaTeX's HTML (``katex.renderToString``), run from
Python in V8 (PyPI ``mini-racer``, no Node) on the vendored ``assets/vendor/katex/katex.min.js``, so
the HTML matches the vendored CSS and fonts exactly, with the options the browser used before
(``katex-init.js``, now removed: KaTeX's defaults, no macros). Then:

- the reader sees typeset math at once: no flash of raw TeX, no layout shift, no KaTeX JavaScript
  (``hooks/assets.py`` keeps KaTeX's CSS, and the fonts it names, on pages with a formula only);
- a TeX error fails the build with the source file and line (KaTeX's message; ``throwOnError``);
- a display formula is a scroll region of its own (``tabindex="0"``, ``role="group"`` named "公式" /
  "Formula"), so a long one scrolls inside it, by keyboard too, and never the page; the scroll cue at
  the edges is CSS (``.hb-math`` in ``assets/stylesheets/extra.css``);
- formulas in the table of contents (a heading with math) are typeset in the page's HTML too;
- search indexes each formula as readable text (``readable``: ``\\(g\\)`` → ``g``,
  ``\\frac{a}{b}`` → ``a/b``): Material's search plugin reads ``page.content`` in its
  ``on_page_context``; for that one event the content holds the readable text (``on_page_context``
  below, around the plugin's).

KaTeX costs about 1–2 ms of CPU per formula, so every (TeX, display) pair is rendered once: results
are kept in memory and in ``.cache/katex-<version>-<hash of katex.min.js>.json`` (git-ignored), so
``make serve`` reloads and later builds render only new formulas.
"""
from __future__ import annotations

import atexit
import hashlib
import html
import json
import logging
import os
import re
import threading
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import CombinedEvent, event_priority

import handbook

ROOT = Path(__file__).resolve().parent.parent
KATEX_JS = ROOT / "docs" / "assets" / "vendor" / "katex" / "katex.min.js"
CACHE_DIR = ROOT / ".cache"
LABEL = {"zh": "公式", "en": "Formula"}
log = logging.getLogger("mkdocs.hooks.formulas")

# arithmatex's generic output (the TeX HTML-escaped inside its delimiters)
INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
DISPLAY = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)
# a formula Python-Markdown's toc extension put, as text, into a table-of-contents link
TOC_MATH = re.compile(r'(<a href="#[^"]*" class="md-nav__link">\s*<span class="md-ellipsis">)(.*?)(</span>)', re.S)
TOC_TEX = re.compile(r"\\\((.+?)\\\)", re.S)

_JS_RENDER = """
function hbRender(tex, display) {
  try { return {html: katex.renderToString(tex, {displayMode: display, throwOnError: true})}; }
  catch (e) { return {error: String(e && e.message || e)}; }
}
"""


class TeXError(ValueError):
    """KaTeX could not parse a formula."""


class KaTeX:
    """``katex.renderToString`` of the vendored KaTeX, in one V8 isolate, with a memory + disk cache."""

    def __init__(self, script: Path = KATEX_JS, cache_dir: Path | None = CACHE_DIR):
        self.script = script
        source = script.read_bytes()
        self.version = re.search(rb'version:"([0-9.]+)"', source)
        self.version = self.version.group(1).decode() if self.version else "unknown"
        digest = hashlib.sha256(source).hexdigest()[:12]
        self.cache_file = cache_dir / f"katex-{self.version}-{digest}.json" if cache_dir else None
        self.memory: dict[str, str] = {}
        if self.cache_file and self.cache_file.is_file():
            try:
                self.memory = json.loads(self.cache_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.memory = {}
        self.saved = len(self.memory)
        self.rendered = 0                  # formulas KaTeX actually ran on (cache misses)
        self._ctx = None
        self._lock = threading.Lock()

    def _context(self):
        if self._ctx is None:
            from py_mini_racer import MiniRacer

            ctx = MiniRacer()
            atexit.register(self.close)
            ctx.eval(self.script.read_text(encoding="utf-8"))
            ctx.eval(_JS_RENDER)
            self._ctx = ctx
        return self._ctx

    def render(self, tex: str, display: bool) -> str:
        """KaTeX's HTML for ``tex``; raises ``TeXError`` with KaTeX's message if it does not parse."""
        key = ("D" if display else "I") + tex
        out = self.memory.get(key)
        if out is None:
            with self._lock:
                result = self._context().call("hbRender", tex, display)
            if "error" in result:
                raise TeXError(result["error"])
            out = self.memory[key] = result["html"]
            self.rendered += 1
        return out

    def close(self) -> None:
        """Stop the V8 isolate. Left to interpreter shutdown, it kept a failed build's process alive."""
        if self._ctx is not None:
            self._ctx.close()
            self._ctx = None

    def save(self) -> None:
        """Write the cache if it grew (atomically: a reload may read it while another build writes)."""
        if not self.cache_file or len(self.memory) == self.saved:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.memory, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, self.cache_file)
        self.saved = len(self.memory)


_katex: KaTeX | None = None


def katex() -> KaTeX:
    global _katex
    if _katex is None:
        _katex = KaTeX()
    return _katex


def source_line(source: str | None, tex: str) -> int | None:
    """1-based line of ``tex``'s first occurrence in the page's Markdown source (None if not found)."""
    if not source:
        return None
    at = source.find(tex)
    if at < 0:                                  # spread over lines in the source: match its first line
        first = tex.strip().splitlines()[0].strip() if tex.strip() else ""
        at = source.find(first) if first else -1
    return source.count("\n", 0, at) + 1 if at >= 0 else None


def render_html(content: str, lang: str, where: str = "", source: str | None = None,
                engine: KaTeX | None = None) -> str:
    """``content`` with every arithmatex formula replaced by KaTeX's HTML.

    ``where`` names the page for errors and ``source`` is its Markdown, to find the line."""
    engine = engine or katex()

    def typeset(tex: str, display: bool) -> str:
        try:
            return engine.render(tex, display)
        except TeXError as exc:
            line = source_line(source, tex)
            raise PluginError(f"{where}{f':{line}' if line else ''}: TeX error in "
                              f"{'$$' if display else '$'}{tex}{'$$' if display else '$'}: {exc}") from None

    def inline(m: re.Match) -> str:
        return f'<span class="arithmatex">{typeset(html.unescape(m.group(1)), False)}</span>'

    def display(m: re.Match) -> str:
        return (f'<div class="arithmatex hb-math" tabindex="0" role="group" aria-label="{LABEL.get(lang, LABEL["en"])}">'
                f'{typeset(html.unescape(m.group(1)), True)}</div>')

    return INLINE.sub(inline, DISPLAY.sub(display, content))


# Inline math in plain text (titles and short answers as hooks/handbook.py reads them): $…$ with no
# space just inside either dollar and no digit right after the closing one (Pandoc's rule, as
# arithmatex's smart dollars), so "$9.00 … $1.41" stays text.
TEXT_MATH = re.compile(r"\$(?=\S)((?:\\.|[^$\\])+?)(?<=\S)\$(?!\d)")


def typeset_text(text: str, where: str = "", wrap: str = "arithmatex", source_file: Path | None = None) -> str:
    """Plain text with ``$...$`` math → HTML: the text escaped, each formula KaTeX's inline HTML.

    For generated HTML that Markdown does not see: the question index, the practice page's data.
    ``where`` names it in errors, with the line of the formula in ``source_file`` when given."""
    out, last = [], 0
    for m in TEXT_MATH.finditer(text):
        out.append(html.escape(text[last:m.start()], quote=False))
        try:
            out.append(f'<span class="{wrap}">{katex().render(m.group(1), False)}</span>')
        except TeXError as exc:
            line = source_line(source_file.read_text(encoding="utf-8"), m.group(1)) if source_file else None
            raise PluginError(f"{where}{f':{line}' if line else ''}: TeX error in {m.group(0)}: {exc}") from None
        last = m.end()
    return "".join(out) + html.escape(text[last:], quote=False)


# --- readable text for the search index --------------------------------------------------------------
_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε", "eta": "η",
    "theta": "θ", "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ",
    "varphi": "φ", "psi": "ψ", "omega": "ω", "Delta": "Δ", "Sigma": "Σ", "Omega": "Ω", "nabla": "∇",
    "sum": "∑", "prod": "∏", "int": "∫", "infty": "∞", "partial": "∂", "cdot": "·", "times": "×",
    "cdots": "⋯", "ldots": "…", "dots": "…", "approx": "≈", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "ne": "≠", "neq": "≠", "to": "→", "rightarrow": "→", "leftarrow": "←", "in": "∈", "top": "⊤",
    "sqrt": "√", "log": "log", "exp": "exp", "max": "max", "min": "min", "sim": "~", "propto": "∝",
    "odot": "⊙", "otimes": "⊗", "oplus": "⊕", "mid": "|", "lVert": "‖", "rVert": "‖", "Vert": "‖",
}
_DROP = re.compile(r"\\(?:left|right|[bB]ig{1,2}[lr]?|displaystyle|textstyle|limits|nolimits)(?![A-Za-z])|\\[,;:! ]"
                   r"|\\q?quad(?![A-Za-z])|\\(?:begin|end)\{[^{}]*\}|\\\\")
# commands whose argument is what a reader reads: \mathrm{RMS} → RMS, \hat{y} → y
_UNWRAP = re.compile(r"\\(?:math[a-z]*|text[a-z]*|operatorname\*?|boldsymbol|bm|hat|bar|tilde|vec|dot|ddot|"
                     r"overline|underline|widehat|widetilde|mbox|rm|bf|it)\s*\{([^{}]*)\}")
_FRAC = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_SQRT = re.compile(r"\\sqrt\s*(?:\[([^\]]*)\])?\s*\{([^{}]*)\}")
_COMMAND = re.compile(r"\\([A-Za-z]+)")


def readable(tex: str) -> str:
    """A formula as plain words and symbols for the search index and its result snippets:
    ``\\mathrm{RMS}(x)=\\sqrt{\\frac{1}{d}\\sum_i x_i^2}`` → ``RMS(x)=√(1/d ∑_i x_i^2)``."""
    text = _DROP.sub(" ", tex)
    for _ in range(6):                                   # innermost groups first, then the ones around them
        before = text
        text = _UNWRAP.sub(r"\1", text)
        text = _FRAC.sub(lambda m: f"{m.group(1)}/{m.group(2)}" if len(m.group(1) + m.group(2)) <= 6
                         else f"({m.group(1)})/({m.group(2)})", text)
        text = _SQRT.sub(lambda m: "√" + (m.group(2) if len(m.group(2)) <= 3 else f"({m.group(2)})"), text)
        if text == before:
            break
    text = _COMMAND.sub(lambda m: _SYMBOLS.get(m.group(1), m.group(1) if len(m.group(1)) > 1 else ""), text)
    text = re.sub(r"\\(.)", r"\1", text)                 # \{ \% \_ \| …
    text = re.sub(r"[{}]", "", text).replace("&", " ")
    return re.sub(r"\s+", " ", text).strip()


KATEX_START = re.compile(r'<span class="katex(?:-display)?">')
ANNOTATION = re.compile(r'<annotation encoding="application/x-tex">(.*?)</annotation>', re.S)
SPAN_TAG = re.compile(r"<span\b|</span>")


def search_text(content: str) -> str:
    """``content`` with each typeset formula (KaTeX's HTML, MathML and TeX annotation) replaced by
    readable text, as the search index should hold it."""
    out, pos = [], 0
    for start in KATEX_START.finditer(content):
        if start.start() < pos:
            continue                                   # inside the formula just replaced
        depth, end = 0, len(content)
        for tag in SPAN_TAG.finditer(content, start.start()):
            depth += 1 if tag.group(0) == "<span" else -1
            if depth == 0:
                end = tag.end()
                break
        tex = ANNOTATION.search(content, start.start(), end)
        out.append(content[pos:start.start()])
        out.append(html.escape(readable(html.unescape(tex.group(1))), quote=False) if tex else " ")
        pos = end
    return "".join(out) + content[pos:]


# --- MkDocs events -----------------------------------------------------------------------------------
_typeset: dict[int, str] = {}                      # id(page) → its typeset content, while search reads


def _where(page, config) -> str:
    """The page's source file, relative to the repository (``docs/norms/rmsnorm.zh.md``)."""
    path = getattr(page.file, "abs_src_path", None)
    if not path:
        return str(page.file.src_uri if page.file else page)
    try:
        return Path(path).resolve().relative_to(handbook.repo_root(config).resolve()).as_posix()
    except ValueError:
        return path


def _source(page) -> str | None:
    path = getattr(page.file, "abs_src_path", None)
    try:
        return Path(path).read_text(encoding="utf-8") if path else page.markdown
    except OSError:
        return page.markdown


@event_priority(50)            # before the plugins that keep page.content (print-site, search)
def on_page_content(html_text: str, page, config, files) -> str:
    if "arithmatex" not in html_text:
        return html_text
    return render_html(html_text, handbook.build_language(config), _where(page, config), _source(page))


@event_priority(50)            # before Material's search plugin reads page.content
def _readable_content(context, page, config, nav):
    if page.content and 'class="katex' in page.content:
        _typeset[id(page)] = page.content
        page.content = search_text(page.content)
    return context


@event_priority(-50)           # after it: the page is rendered with the typeset formulas
def _restore(context, page, config, nav):
    typeset = _typeset.pop(id(page), None)
    if typeset is not None:
        page.content = typeset
    return context


on_page_context = CombinedEvent(_readable_content, _restore)


def typeset_toc(output: str, lang: str, where: str = "") -> str:
    """Formulas in table-of-contents links (heading text, where the toc extension left the TeX)."""
    def link(m: re.Match) -> str:
        if "\\(" not in m.group(2):
            return m.group(0)
        inner = TOC_TEX.sub(lambda t: f'<span class="arithmatex">\\({t.group(1)}\\)</span>', m.group(2))
        return m.group(1) + render_html(inner, lang, where) + m.group(3)
    return TOC_MATH.sub(link, output)


def on_post_page(output: str, page, config) -> str:
    if "\\(" in output:
        output = typeset_toc(output, handbook.build_language(config), _where(page, config))
    return output


def on_build_error(error) -> None:
    if _katex is not None:
        _katex.close()


def on_post_build(config) -> None:
    if _katex is not None:
        _katex.save()
        if _katex.rendered:
            log.debug("KaTeX rendered %d formulas (%d cached)", _katex.rendered, len(_katex.memory))
