"""Mermaid diagrams drawn at build time: each ```mermaid fence becomes an inline SVG, so a page with
diagrams loads no mermaid script (``hooks/assets.py`` drops it) and shows its diagrams at once.

- Before pages render (``on_pre_build``), every ```mermaid fence of ``docs/`` is collected with its file
  and line. The ones not cached are drawn in ONE headless Chromium session (Playwright; the browser in
  env ``CHROMIUM``, default ``/usr/bin/chromium``) by the vendored ``assets/vendor/mermaid/mermaid.min.js``
  with the configuration Material gives it in the browser (its ``themeCSS``, read from Material's own
  source map, and its sequence font sizes), inside Material's stylesheets so labels are measured in the
  page's fonts. Material's ``themeCSS`` colours a diagram with its ``--md-mermaid-*`` CSS variables, so
  one SVG is right in both colour schemes (default and slate), as the client-side diagrams are.
- Every drawing is cached in ``.cache/diagrams/<key>.json``; the key hashes the source, mermaid's
  script, Material's stylesheets and ``themeCSS`` and ``RENDER_VERSION`` (bump it when this file changes
  what it stores), so a rebuild or a ``make serve`` reload draws only new or changed diagrams. Builds
  running at once take turns on ``.cache/diagrams/.lock``, so each diagram is drawn once, not once per build.
- A diagram mermaid cannot parse fails the build (``PluginError``) naming the file and line.
- In ``on_page_content`` (before print-site copies the page for the print edition) each
  ``<pre class="mermaid">`` becomes ``<div class="diagram">`` holding the SVG (marked
  ``data-search-exclude``: Material's search leaves its labels out of the index). Ids in the SVG are prefixed by the SVG's own id (unique on the page,
  also when one diagram appears twice), since mermaid scopes its ``<style>`` by that id.
- Accessibility: the SVG is ``role="img"`` with a ``<title>`` (mermaid's ``accTitle``, else the kind of
  diagram and its first nodes) and a ``<desc>`` (``accDescr`` and every edge, "A → B: label"), in the
  page's language. Labels stay >= 12 px on a 360 px screen: the SVG shrinks to at most 3/4 of its
  natural width; a diagram that cannot then fit sits in a horizontally scrollable, keyboard-focusable
  box (``tabindex="0"``, ``role="group"`` with a name).
- Without Chromium (or Playwright) the fences not in the cache are left for client-side mermaid, as
  before, with one INFO line (not a warning: builds are ``--strict``); with env
  ``HANDBOOK_DIAGRAMS=required`` (set in CI, so the published site never falls back) that is an error.
"""
from __future__ import annotations

import fcntl
import hashlib
import html
import json
import logging
import math
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

import handbook

log = logging.getLogger("mkdocs.hooks.diagrams")

RENDER_VERSION = "1"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Labels are 16 px in the SVG (mermaid's and Material's size); never shrunk below 12 px.
MIN_SCALE = 0.75
# Width of the text column on a 360 px screen (Material's content margins are 0.8rem each side).
PHONE_COLUMN = 328
OPEN_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*mermaid\s*$")
PRE = re.compile(r'<pre class="mermaid"><code>(.*?)</code></pre>', re.S)
PARSE_LINE = re.compile(r"Parse error on line (\d+)")
KIND = {"flowchart": ("流程图", "Flowchart"), "sequence": ("时序图", "Sequence diagram")}
WORDS = {"zh": {"and": "等", "nodes": "个节点", "sep": "；", "list": "、", "colon": "：", "scroll": "（可横向滚动）"},
         "en": {"and": "and", "nodes": "more", "sep": "; ", "list": ", ", "colon": ": ", "scroll": " (scrolls sideways)"}}

# mermaid.render() in the page, then the diagram's own model for the accessible text.
RENDER_JS = """async ([id, code]) => {
  const box = document.getElementById('box');
  try {
    const {svg} = await mermaid.render(id, code, box);
    const d = await mermaid.mermaidAPI.getDiagramFromText(code);
    const db = d.db, out = {svg, type: d.type, nodes: [], edges: []};
    out.title = (db.getAccTitle && db.getAccTitle()) || '';
    out.descr = (db.getAccDescription && db.getAccDescription()) || '';
    if (db.getVertices) {
      out.nodes = [...db.getVertices().values()].map(v => [v.id, v.text || v.id]);
      out.edges = db.getEdges().map(e => [e.start, e.end, e.text || '']);
    } else if (db.getActors) {
      out.nodes = [...db.getActors().values()].map(a => [a.name, a.description || a.name]);
      out.edges = db.getMessages().filter(m => m.from && m.to).map(m => [m.from, m.to, m.message || '']);
    }
    return out;
  } catch (e) {
    return {error: String(e && e.message || e)};
  } finally {
    box.innerHTML = '';
  }
}"""


@dataclass
class Fence:
    code: str
    path: str         # relative to the repository
    line: int         # of the opening fence


def _material_assets() -> Path:
    import material
    return Path(material.__file__).parent / "templates" / "assets"


def material_theme_css() -> str:
    """The ``themeCSS`` Material passes to ``mermaid.initialize`` (its mermaid/index.css)."""
    source_map = next((_material_assets() / "javascripts").glob("bundle.*.min.js.map"))
    data = json.loads(source_map.read_text(encoding="utf-8"))
    for name, content in zip(data["sources"], data["sourcesContent"]):
        if name.endswith("mermaid/index.css"):
            return content
    raise PluginError(f"diagrams: Material's mermaid CSS is not in {source_map}")


def fences_of(text: str, path: str) -> list[Fence]:
    """Every ```mermaid fence of a Markdown text, dedented as the Markdown parser sees it."""
    found, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        m = OPEN_FENCE.match(lines[i])
        if m:
            indent, fence = m.group("indent"), m.group("fence")
            close = re.compile(rf"^{re.escape(indent)}{fence[0]}{{{len(fence)},}}\s*$")
            j = i + 1
            while j < len(lines) and not close.match(lines[j]):
                j += 1
            code = textwrap.dedent("\n".join(lines[i + 1:j]))
            found.append(Fence(code, path, i + 1))
            i = j
        i += 1
    return found


class Diagrams:
    """The drawn diagrams of a build (in memory and in ``.cache/diagrams``) and the browser that draws them."""

    def __init__(self, root: Path, docs: Path):
        self.root, self.docs = root, docs
        self.cache = root / ".cache" / "diagrams"
        self.script = docs / "assets" / "vendor" / "mermaid" / "mermaid.min.js"
        self.theme_css = material_theme_css()
        self.stylesheets = sorted((_material_assets() / "stylesheets").glob("*.min.css"))
        salt = hashlib.sha256()
        for part in (RENDER_VERSION, self.theme_css, *(p.name for p in self.stylesheets)):
            salt.update(part.encode() + b"\0")
        # (a site without the vendored script draws nothing: a fence then fails with its file:line)
        salt.update(hashlib.sha256(self.script.read_bytes() if self.script.exists() else b"").digest())
        self.salt = salt.hexdigest()
        self.drawn: dict[str, dict] = {}
        self.chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
        self.available = Path(self.chromium).exists()
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            self.available = False
        self.said_unavailable = False
        self.rendered_count = 0          # drawn by the browser in this process (the tests read it)

    def key(self, code: str) -> str:
        return hashlib.sha256((self.salt + "\0" + code.strip()).encode()).hexdigest()[:20]

    def lookup(self, key: str) -> dict | None:
        if key not in self.drawn:
            path = self.cache / f"{key}.json"
            if path.exists():
                self.drawn[key] = json.loads(path.read_text(encoding="utf-8"))
        return self.drawn.get(key)

    def draw(self, fences: list[Fence]) -> None:
        """Draw every fence not drawn yet, all in one browser session; fail on any that does not parse."""
        todo: dict[str, Fence] = {}
        for fence in fences:
            key = self.key(fence.code)
            if self.lookup(key) is None:
                todo.setdefault(key, fence)
        if not todo:
            return
        if not self.available:
            if os.environ.get("HANDBOOK_DIAGRAMS") == "required":      # the deploy workflow sets it
                raise PluginError(f"diagrams: HANDBOOK_DIAGRAMS=required but there is no Chromium at "
                                  f"{self.chromium} (env CHROMIUM) or no Playwright")
            if not self.said_unavailable:
                log.info(f"diagrams: no Chromium at {self.chromium} (env CHROMIUM) or no Playwright; "
                         f"{len(todo)} mermaid diagram(s) are left to be drawn in the browser")
                self.said_unavailable = True
            return
        self.cache.mkdir(parents=True, exist_ok=True)
        # Builds started together (`make test` starts the site and both print editions at once, on a
        # fresh clone with an empty cache) would each draw every diagram, 16 CPU-s apiece: one draws
        # while the others wait for the lock, then they find its drawings in the cache.
        with open(self.cache / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            todo = {key: fence for key, fence in todo.items() if self.lookup(key) is None}
            if todo:
                self._draw(todo)

    def _draw(self, todo: dict[str, Fence]) -> None:
        from playwright.sync_api import sync_playwright

        errors = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=self.chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_content('<html><body data-md-color-scheme="default" data-md-color-primary="indigo" '
                                 'data-md-color-accent="indigo"><div class="md-content"><article '
                                 'class="md-content__inner md-typeset"><div class="diagram" id="box" style="line-height: normal"></div>'
                                 '</article></div></body></html>')
                for sheet in self.stylesheets:
                    page.add_style_tag(path=str(sheet))
                page.add_script_tag(path=str(self.script))
                page.evaluate("(css) => mermaid.initialize({startOnLoad: false, themeCSS: css, sequence: "
                              "{actorFontSize: '16px', messageFontSize: '16px', noteFontSize: '16px'}})",
                              self.theme_css)
                for key, fence in todo.items():
                    out = page.evaluate(RENDER_JS, [f"mmd-{key}", fence.code])
                    if "error" in out:
                        m = PARSE_LINE.search(out["error"])
                        line = fence.line + int(m.group(1)) if m else fence.line
                        first = out["error"].strip().splitlines()[0]
                        errors.append(f"{fence.path}:{line}: mermaid cannot draw this diagram "
                                      f"(fence at line {fence.line}): {first}\n{out['error']}")
                        continue
                    self.drawn[key] = out
                    path = self.cache / f"{key}.json"            # whole or absent for a reader
                    tmp = path.with_suffix(f".{os.getpid()}.tmp")
                    tmp.write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
                    os.replace(tmp, path)
                    self.rendered_count += 1
            finally:
                browser.close()
        log.info(f"diagrams: drew {len(todo) - len(errors)} mermaid diagram(s) in Chromium")
        if errors:
            raise PluginError("\n".join(errors))


def _plain(label: str) -> str:
    text = re.sub(r"<br\s*/?>", " ", label)
    text = html.unescape(re.sub(r"<[^>]+>", "", text))
    return re.sub(r"\s+", " ", text.replace("`", "").replace("**", "")).strip().strip('"')


def accessible_text(drawn: dict, lang: str) -> tuple[str, str]:
    """(name, description) of a diagram in ``lang``: mermaid's accTitle/accDescr when given, and the
    diagram's nodes and edges as read from mermaid's own model of it."""
    words = WORDS.get(lang, WORDS["en"])
    labels = {node: _plain(text) for node, text in drawn.get("nodes", [])}
    kind = next((names for prefix, names in KIND.items() if drawn.get("type", "").startswith(prefix)), None)
    kind = (kind[0] if lang == "zh" else kind[1]) if kind else drawn.get("type", "diagram")
    name = drawn.get("title", "").strip()
    if not name:
        first = list(labels.values())[:3]
        name = kind + words["colon"] + words["list"].join(first)
        if len(labels) > 3:
            name += (f" {words['and']} {len(labels)} {words['nodes']}" if lang == "zh"
                     else f" {words['and']} {len(labels) - 3} {words['nodes']}")
    edges = []
    for start, end, text in drawn.get("edges", []):
        edge = f"{labels.get(start, start)} → {labels.get(end, end)}"
        if _plain(text):
            edge += words["colon"] + _plain(text)
        edges.append(edge)
    descr = drawn.get("descr", "").strip()
    if descr and not descr.endswith((".", "!", "?", "。", "！", "？")):
        descr += "。" if lang == "zh" else "."
    parts = [descr, words["sep"].join(edges)]
    if not edges and labels:
        parts.append(words["list"].join(labels.values()))
    description = ("" if lang == "zh" else " ").join(p for p in parts if p)
    return name, description or name


def prefixed_ids(svg: str, root_id: str) -> str:
    """Every id inside the SVG made to start with the SVG's own id (mermaid repeats node and edge ids
    across diagrams, and even within one), with the references to them (url(#…), href, aria-*)."""
    renames: dict[str, str] = {}
    seen: dict[str, int] = {}
    def rename(m: re.Match) -> str:
        old = m.group(1)
        if old == root_id:
            return m.group(0)
        seen[old] = seen.get(old, 0) + 1
        new = old if old.startswith(root_id) else f"{root_id}-{old}"
        if seen[old] > 1:
            new = f"{new}-{seen[old]}"
        renames.setdefault(old, new)
        return f' id="{new}"'
    svg = re.sub(r'\sid="([^"]+)"', rename, svg)
    moved = {old: new for old, new in renames.items() if old != new}
    if moved:
        svg = re.sub(r'(url\(#|href="#)([^")]+)', lambda m: m.group(1) + moved.get(m.group(2), m.group(2)), svg)
    return svg


def figure(drawn: dict, key: str, lang: str, n: int) -> str:
    """The HTML of one drawn diagram: the accessible SVG in its (scrollable when wide) box."""
    old_id, root_id = f"mmd-{key}", f"mmd-{key}" + (f"-{n}" if n > 1 else "")
    svg = drawn["svg"].replace(old_id, root_id)
    name, description = accessible_text(drawn, lang)
    # mermaid's own title/desc (from accTitle/accDescr) and roles give way to ours
    svg = re.sub(r'<title id="chart-title-[^"]*">.*?</title>|<desc id="chart-desc-[^"]*">.*?</desc>', "", svg, flags=re.S)
    svg = re.sub(r'\s(?:role|aria-roledescription|aria-labelledby|aria-describedby)="[^"]*"', "", svg[:svg.index(">")]) + svg[svg.index(">"):]
    svg = prefixed_ids(svg, root_id)
    width = float(m.group(1)) if (m := re.search(r'max-width:\s*([\d.]+)px', svg[:svg.index(">")])) else 0.0
    min_width = math.ceil(width * MIN_SCALE)
    head_end = svg.index(">")
    head = svg[:head_end].replace('style="max-width:', f'style="min-width: {min_width}px; max-width:', 1)
    # data-search-exclude on the <svg>, not the box: Material's search parser matches elements by tag
    # name only, so the first </div> of a label inside would end a skipped <div>.
    head += (f' data-search-exclude role="img" aria-labelledby="{root_id}-title" aria-describedby="{root_id}-desc"')
    svg = (head + ">" + f'<title id="{root_id}-title">{html.escape(name)}</title>'
           f'<desc id="{root_id}-desc">{html.escape(description)}</desc>' + svg[head_end + 1:])
    attrs = 'class="diagram"'
    if min_width > PHONE_COLUMN:          # wider than a phone's column even at 3/4 size: scroll it
        attrs += f' tabindex="0" role="group" aria-label="{html.escape(name + WORDS.get(lang, WORDS["en"])["scroll"])}"'
    return f"<div {attrs}>{svg}</div>"


_state: Diagrams | None = None


def _diagrams(config) -> Diagrams:
    global _state
    docs = Path(config.docs_dir)
    if _state is None or _state.docs != docs:
        _state = Diagrams(handbook.repo_root(config), docs)
    return _state


def collect(docs: Path, root: Path) -> list[Fence]:
    fences = []
    for path in sorted(docs.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        if "mermaid" in text:
            rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            fences += fences_of(text, rel)
    return fences


def on_pre_build(config) -> None:
    """Collect every diagram of the docs and draw the missing ones (per language build, the second finds
    them all drawn)."""
    diagrams = _diagrams(config)
    diagrams.draw(collect(diagrams.docs, diagrams.root))


@event_priority(100)          # before print-site keeps the page's HTML for the print edition
def on_page_content(html_text: str, page, config, files) -> str:
    if '<pre class="mermaid">' not in html_text:
        return html_text
    diagrams = _diagrams(config)
    lang = handbook.lang_of(Path(page.file.src_uri)) or handbook.DEFAULT_LANG
    seen: dict[str, int] = {}

    def replace(m: re.Match) -> str:
        code = html.unescape(m.group(1))
        key = diagrams.key(code)
        drawn = diagrams.lookup(key)
        if drawn is None:      # not in a docs/*.md file (an include?): draw it now, or leave it to the browser
            line = 0
            if page.file.abs_src_path:
                text = Path(page.file.abs_src_path).read_text(encoding="utf-8")
                line = next((f.line for f in fences_of(text, "") if f.code.strip() == code.strip()), 0)
            diagrams.draw([Fence(code, page.file.src_path, line)])
            drawn = diagrams.lookup(key)
            if drawn is None:
                return m.group(0)
        seen[key] = seen.get(key, 0) + 1
        return figure(drawn, key, lang, seen[key])

    return PRE.sub(replace, html_text)
