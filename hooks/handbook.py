"""Read the handbook's content model from the Markdown sources, and check it.

Not a hook itself: the hooks in this folder and the tests import it.

Content model (see CONTRIBUTING.md):

- ``docs/<chapter>/<page>.<lang>.md`` for ``lang`` in :data:`LANGS`; chapters are listed,
  in reading order and with their titles, in ``data/chapters.tsv``.
- A question is a level-2 heading with an explicit id and a difficulty::

      ## RMSNorm 相比 LayerNorm 有什么特点? { #rmsnorm-vs-layernorm data-difficulty="2" }

- A question ends with a references block (``**参考文献**`` / ``**References**`` and a list).
- Code is included from ``snippets/`` by section: ``--8<-- "snippets/<chapter>/<page>.py:<section>"``.

Every problem found is reported as ``path:line: message`` so a contributor can go straight to it.
"""
from __future__ import annotations

import copy
import csv
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
REFERENCES_MARKER = {"zh": "**参考文献**", "en": "**References**"}
# The admonition that opens every answer; its text is the question's short answer in questions.json.
SHORT_ANSWER_MARKER = {"zh": '!!! abstract "简答"', "en": '!!! abstract "Short answer"'}

HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
ATTRS_RE = re.compile(r"^(?P<title>.*?)\s*\{:?\s*(?P<attrs>[^{}]*)\}\s*$")
ID_RE = re.compile(r"(?:^|\s)#([^\s}]+)")
DIFFICULTY_RE = re.compile(r"""(?:^|\s)data-difficulty=["']?([^"'\s}]*)["']?""")
VALID_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
INCLUDE_RE = re.compile(r"""--8<--\s+["']([^"']+)["']""")
FENCE_RE = re.compile(r"^\s*(```+|~~~+)")
LIST_ITEM_RE = re.compile(r"^\s*(?:[-*+]|\d+\.)\s+\S")


@dataclass
class Question:
    id: str | None
    title: str
    difficulty: int | None
    line: int
    has_references: bool = False
    raw_difficulty: str | None = None
    short_answer: str = ""            # the short-answer block as plain text (see ``plain_text``)


@dataclass
class Page:
    path: Path
    rel: str                      # e.g. "norms/rmsnorm" (no language suffix, no extension)
    lang: str
    meta: dict
    title: str | None
    questions: list[Question] = field(default_factory=list)
    includes: list[tuple[str, int]] = field(default_factory=list)   # (target, line)
    problems: list[str] = field(default_factory=list)

    @property
    def chapter(self) -> str | None:
        return self.rel.split("/")[0] if "/" in self.rel else None

    @property
    def is_index(self) -> bool:
        return self.rel == "index" or self.rel.endswith("/index")

    def url(self) -> str:
        """Site-relative URL of the page (``use_directory_urls``), e.g. ``en/norms/rmsnorm/``."""
        prefix = "" if self.lang == DEFAULT_LANG else f"{self.lang}/"
        path = self.rel[: -len("index")] if self.is_index else self.rel + "/"
        return prefix + path


@functools.lru_cache(maxsize=4096)
def _load_front_matter(yaml_text: str) -> str:
    """The front matter parsed once per distinct text (a build reads every page's several times);
    returned as JSON so each caller gets its own copy to modify."""
    return json.dumps(yaml.safe_load(yaml_text) or {}, default=str)


def split_front_matter(text: str) -> tuple[dict, str, int]:
    """Return (meta, body, number of lines the front matter takes)."""
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            meta = json.loads(_load_front_matter(text[4:end]))
            head = text[: end + 5]
            return meta, text[end + 5 :], head.count("\n")
    return {}, text, 0


def lang_of(path: Path) -> str | None:
    parts = path.name.split(".")
    return parts[-2] if len(parts) >= 3 and parts[-2] in LANGS else None


def rel_of(path: Path, docs: Path) -> str:
    rel = path.relative_to(docs).as_posix()
    return rel.rsplit(".", 2)[0]


_PARSED: dict[tuple[str, str, str], Page] = {}


def parse_page(path: Path, docs: Path) -> Page:
    """Parse one ``*.<lang>.md`` page: front matter, H1 title, questions, snippet includes.

    A build asks for the same pages many times (every hook and chapter index walks them), so results are
    kept per (path, docs folder, text): an edited file is parsed again, and each caller gets its own copy."""
    text = path.read_text(encoding="utf-8")
    key = (str(path), str(docs), text)
    if key not in _PARSED:
        if len(_PARSED) > 4096:                # a long `make serve` session: start afresh
            _PARSED.clear()
        _PARSED[key] = _parse_page(path, docs, text)
    return copy.deepcopy(_PARSED[key])


def _parse_page(path: Path, docs: Path, text: str) -> Page:
    meta, body, offset = split_front_matter(text)
    lang = lang_of(path) or DEFAULT_LANG
    page = Page(path=path, rel=rel_of(path, docs), lang=lang, meta=meta, title=meta.get("title"))
    marker = REFERENCES_MARKER[lang]
    in_fence: str | None = None
    current: Question | None = None
    after_marker = False
    short_lines: list[str] | None = None     # inside a question's short-answer block
    for lineno, line in enumerate(body.splitlines(), start=offset + 1):
        for target in INCLUDE_RE.findall(line):
            page.includes.append((target, lineno))
        fence = FENCE_RE.match(line)
        if fence:
            token = fence.group(1)
            if in_fence is None:
                in_fence = token
            elif token.startswith(in_fence[0]) and len(token) >= len(in_fence):
                in_fence = None
            continue
        if in_fence:
            continue
        heading = HEADING_RE.match(line)
        if heading and short_lines is not None and current is not None:
            current.short_answer = plain_text("\n".join(short_lines))
            short_lines = None
        if heading:
            level, content = len(heading.group(1)), heading.group(2)
            if level == 1 and page.title is None:
                page.title = ATTRS_RE.sub(r"\g<title>", content)
            if level == 2:
                current = _parse_question(content, lineno)
                page.questions.append(current)
                after_marker = False
            elif level == 1:
                current = None
            continue
        if current is None:
            continue
        if short_lines is not None:
            if line.startswith("    ") or not line.strip():
                short_lines.append(line[4:])
                continue
            current.short_answer = plain_text("\n".join(short_lines))
            short_lines = None
        if line.strip() == SHORT_ANSWER_MARKER[lang] and not current.short_answer:
            short_lines = []
            continue
        if line.strip() == marker:
            after_marker = True
        elif after_marker and LIST_ITEM_RE.match(line):
            current.has_references = True
    return page


MD_LINK_RE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
MD_EMPHASIS_RE = re.compile(r"(\*\*|__|(?<![A-Za-z0-9_\\])\*(?=\S))(.+?)\1")
# code spans and math are copied as they are (no emphasis or link handling inside them)
MD_VERBATIM_RE = re.compile(r"(`+)(.+?)\1|\$\$.+?\$\$|\$[^$]+\$", re.DOTALL)


def plain_text(markdown: str) -> str:
    """A short-answer block as one line of plain text for questions.json, drills and Anki cards:
    links keep their text, emphasis and code marks go, math stays as ``$...$`` TeX (readable
    as it is, and typeset where a renderer is at hand). Code spans and math are set aside first, so
    their characters are never read as Markdown, and emphasis around them still closes."""
    kept: list[str] = []

    def hold(m: re.Match) -> str:
        kept.append(m.group(2) if m.group(1) else m.group(0))
        return f"\uE000{len(kept) - 1}\uE001"

    text = MD_VERBATIM_RE.sub(hold, markdown)
    text = MD_EMPHASIS_RE.sub(r"\2", MD_LINK_RE.sub(r"\1", text))
    text = re.sub("\uE000(\\d+)\uE001", lambda m: kept[int(m.group(1))], text)
    return " ".join(text.split())


def _parse_question(content: str, lineno: int) -> Question:
    m = ATTRS_RE.match(content)
    if not m:
        return Question(id=None, title=content, difficulty=None, line=lineno)
    attrs = m.group("attrs")
    qid = ID_RE.search(attrs)
    diff = DIFFICULTY_RE.search(attrs)
    raw = diff.group(1) if diff else None
    difficulty = int(raw) if raw in {"1", "2", "3"} else None
    return Question(id=qid.group(1) if qid else None, title=m.group("title"),
                    difficulty=difficulty, line=lineno, raw_difficulty=raw)


def iter_pages(docs: Path, lang: str | None = None) -> list[Page]:
    """All language-suffixed Markdown pages under ``docs`` (optionally of one language), sorted."""
    pattern = f"*.{lang}.md" if lang else "*.md"
    return [parse_page(p, docs) for p in sorted(docs.rglob(pattern)) if lang_of(p)]


def read_tsv(path: Path) -> list[dict[str, str]]:
    """Read a UTF-8, tab-separated file with a header row (blank lines and ``#`` lines skipped)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = [line for line in fh if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE))


def repo_root(config) -> Path:
    """The repository root: the folder that holds ``docs/`` (also for the configs in ``editions/``)."""
    return Path(config.docs_dir).resolve().parent


def chapters(root: Path) -> list[dict[str, str]]:
    """Rows of ``data/chapters.tsv``: slug, zh, en (reading order)."""
    return read_tsv(root / "data" / "chapters.tsv")


def _loc(page: Page | Path, line: int | None = None, root: Path | None = None) -> str:
    path = page.path if isinstance(page, Page) else page
    if root is not None:
        try:
            path = path.relative_to(root)
        except ValueError:
            pass
    return f"{path}:{line}" if line else str(path)


def check_docs(docs: Path, root: Path | None = None) -> list[str]:
    """Check the content model of every page under ``docs``; return ``path:line: message`` strings.

    - every page exists in every language (``x.zh.md`` ↔ ``x.en.md``);
    - every level-2 heading of a chapter page is a question: a valid, unique id and a difficulty 1–3;
    - the same question ids in the same order in both languages;
    - every question opens with a short-answer block and has a references block with at least one item;
    - the same snippet includes, in the same order, in both languages;
    - every include names an existing file under ``snippets/`` and a section marked in it (never
      line numbers), so the error points at the page rather than at a pymdownx traceback;
    - pages of the chapters in ``data/chapters.tsv`` carry ``tags`` in their front matter;
    - no raw tag outside code that is not an HTML element of prose (``<think>``, ``<eos>``, ``<s>``
      written bare vanish from the rendered page, or strike it through): such tokens go in backticks.
    """
    root = root or docs.parent
    chapter_slugs = {row["slug"] for row in chapters(root)}
    problems: list[str] = []
    pages = {(p.rel, p.lang): p for p in iter_pages(docs)}
    rels = sorted({rel for rel, _ in pages})
    seen_ids: dict[tuple[str, str], str] = {}
    for rel in rels:
        for lang in LANGS:
            if (rel, lang) not in pages:
                other = next(pages[(rel, o)] for o in LANGS if (rel, o) in pages)
                problems.append(f"{_loc(other, root=root)}: no {lang} version "
                                f"(expected docs/{rel}.{lang}.md)")
        for lang in LANGS:
            page = pages.get((rel, lang))
            if page is None:
                continue
            if page.chapter in chapter_slugs and not page.meta.get("tags"):
                problems.append(f"{_loc(page, 1, root)}: front matter has no 'tags'")
            for q in page.questions:
                where = _loc(page, q.line, root)
                if page.is_index or page.chapter not in chapter_slugs:
                    continue
                if q.id is None:
                    problems.append(f"{where}: question heading has no explicit id "
                                    f"(write '## {q.title} {{ #some-id data-difficulty=\"2\" }}')")
                    continue
                if not VALID_ID_RE.match(q.id):
                    problems.append(f"{where}: question id '{q.id}' must be lowercase ASCII words "
                                    "joined by '-'")
                if q.difficulty is None:
                    got = f"'{q.raw_difficulty}'" if q.raw_difficulty is not None else "none"
                    problems.append(f"{where}: question '{q.id}' needs data-difficulty=\"1|2|3\" "
                                    f"(got {got})")
                if not q.short_answer:
                    problems.append(f"{where}: question '{q.id}' has no short answer (the answer opens "
                                    f"with '{SHORT_ANSWER_MARKER[lang]}' and an indented paragraph)")
                if not q.has_references:
                    problems.append(f"{where}: question '{q.id}' has no references block "
                                    f"('{REFERENCES_MARKER[lang]}' followed by a list)")
                key = (lang, q.id)
                if key in seen_ids:
                    problems.append(f"{where}: question id '{q.id}' already used at {seen_ids[key]}")
                else:
                    seen_ids[key] = where
        for lang in LANGS:
            if (rel, lang) in pages:
                problems += _include_problems(pages[(rel, lang)], root)
                problems += _raw_tag_problems(pages[(rel, lang)], root)
        zh, en = pages.get((rel, "zh")), pages.get((rel, "en"))
        if zh is None or en is None:
            continue
        zh_ids, en_ids = [q.id for q in zh.questions], [q.id for q in en.questions]
        if zh_ids != en_ids:
            problems.append(_first_difference(zh, en, zh_ids, en_ids, root))
        zh_inc, en_inc = [t for t, _ in zh.includes], [t for t, _ in en.includes]
        if zh_inc != en_inc:
            problems.append(_first_include_difference(zh, en, root))
    return problems


# HTML elements a page may write inline (links, keys, anchors, line breaks, …); any other ``<name>`` or
# ``</name>`` outside code is a token meant as text (``<think>``, ``<eos>``, ``<s>``, ``<|im_end|>`` is
# not matched: it does not start with a letter).
PROSE_TAGS = {"a", "abbr", "b", "br", "code", "del", "details", "div", "em", "figcaption", "figure", "i",
              "img", "ins", "kbd", "mark", "p", "small", "span", "strong", "sub", "summary", "sup",
              "table", "tbody", "td", "th", "thead", "tr", "u"}
_FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+)(?:(?!\1).)+?\1|\$\$.*?\$\$|\$[^$]+\$|\\\(.*?\\\)")
_RAW_TAG_RE = re.compile(r"</?([A-Za-z][A-Za-z0-9-]*)(?=[\s/>])")


def _raw_tag_problems(page: Page, root: Path) -> list[str]:
    problems, fence = [], None
    for number, line in enumerate(page.path.read_text(encoding="utf-8").splitlines(), 1):
        opened = _FENCE_RE.match(line)
        if opened:
            marker = opened.group(1)
            if fence is None:
                fence = marker
            elif marker[0] == fence[0] and len(marker) >= len(fence):
                fence = None
            continue
        if fence is not None:
            continue
        for tag in _RAW_TAG_RE.finditer(_CODE_SPAN_RE.sub("", line)):
            if tag.group(1).lower() not in PROSE_TAGS:
                problems.append(f"{_loc(page, number, root)}: raw tag {tag.group(0)}> is not shown on the "
                                f"page; put it in backticks (`{tag.group(0)}>`)")
    return problems


def _include_problems(page: Page, root: Path) -> list[str]:
    problems = []
    for target, line in page.includes:
        where = _loc(page, line, root)
        path, _, section = target.partition(":")
        if not path.startswith("snippets/"):
            problems.append(f"{where}: include {target!r}: code comes from snippets/<chapter>/<page>.py")
            continue
        if not section or re.fullmatch(r"[\d:-]+", section):
            problems.append(f"{where}: include {target!r}: name a section ('{path}:<section>'), "
                            "not the whole file or line numbers")
            continue
        file = root / path
        if not file.is_file():
            problems.append(f"{where}: include {target!r}: {path} does not exist")
        elif f"--8<-- [start:{section}]" not in file.read_text(encoding="utf-8"):
            problems.append(f"{where}: include {target!r}: {path} has no section "
                            f"'# --8<-- [start:{section}]'")
    return problems


def _first_difference(zh: Page, en: Page, zh_ids: list, en_ids: list, root: Path) -> str:
    for i in range(max(len(zh_ids), len(en_ids))):
        a = zh_ids[i] if i < len(zh_ids) else None
        b = en_ids[i] if i < len(en_ids) else None
        if a != b:
            za = _loc(zh, zh.questions[i].line, root) if a is not None or i < len(zh.questions) else _loc(zh, root=root)
            eb = _loc(en, en.questions[i].line, root) if i < len(en.questions) else _loc(en, root=root)
            return (f"{za}: question #{i + 1} is '{a}' in zh but '{b}' in en ({eb}); "
                    "ids must be identical and in the same order")
    return f"{_loc(zh, root=root)}: question ids differ from {_loc(en, root=root)}"


def _first_include_difference(zh: Page, en: Page, root: Path) -> str:
    for i in range(max(len(zh.includes), len(en.includes))):
        a = zh.includes[i] if i < len(zh.includes) else (None, None)
        b = en.includes[i] if i < len(en.includes) else (None, None)
        if a[0] != b[0]:
            return (f"{_loc(zh, a[1], root)}: snippet include #{i + 1} is {a[0]!r} in zh but "
                    f"{b[0]!r} in en ({_loc(en, b[1], root)}); both languages must include the same code")
    return f"{_loc(zh, root=root)}: snippet includes differ from {_loc(en, root=root)}"


def question_records(docs: Path, root: Path) -> list[dict]:
    """One record per question id, both languages merged: what ``questions.json`` lists."""
    order = {row["slug"]: i for i, row in enumerate(chapters(root))}
    by_id: dict[str, dict] = {}
    for page in iter_pages(docs):
        if page.is_index or page.chapter is None:
            continue
        for q in page.questions:
            if q.id is None:
                continue
            rec = by_id.setdefault(q.id, {
                "id": q.id, "chapter": page.chapter, "page": page.rel,
                "difficulty": q.difficulty, "title": {}, "url": {}, "tags": {}, "short_answer": {},
                "order": (order.get(page.chapter, len(order)), page.meta.get("order", 100), page.rel),
                "qindex": len(by_id),
            })
            rec["title"][page.lang] = q.title
            rec["url"][page.lang] = f"{page.url()}#{q.id}"
            rec["short_answer"][page.lang] = q.short_answer
            rec["tags"][page.lang] = list(page.meta.get("tags") or [])
    records = sorted(by_id.values(), key=lambda r: (r["order"], r["qindex"]))
    for rec in records:
        del rec["order"], rec["qindex"]
    return records


def build_language(config) -> str:
    """The language mkdocs-static-i18n is building now (each language is a build of its own); the
    default language when a config has no i18n plugin (fixture sites)."""
    i18n = config.plugins.get("i18n")
    return getattr(i18n, "current_language", None) or DEFAULT_LANG
