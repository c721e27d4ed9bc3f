"""Search that answers in the reader's language, with synonyms.

mkdocs-static-i18n writes one search index for all languages, so a Chinese page would also show
English results. This hook, after the last language is built:

- splits ``search/search_index.json`` into ``search_index.zh.json`` and ``search_index.en.json``
  (by the ``en/`` location prefix); ``search_index.json`` keeps the default language only;
  ``assets/javascripts/search.js`` (loaded in ``<head>`` by ``overrides/main.html``) makes
  each page load the index of its own language;
- indexes every entry that mentions a term of a group in ``data/search_synonyms.tsv`` under all
  the group's terms (so "RoPE" finds 旋转位置编码): in a ``syn_title`` field when the title
  mentions it (boosted like a title) and a ``syn_text`` field when only the text does (weighted like
  text); the other spelling of -ise/-ize words goes there too (initialised ↔ initialized);
- gives each language's index its own lunr pipeline (``PIPELINES``): the English one is stemmed
  (``assets/javascripts/search.js`` stems English queries with the same Porter stemmer); the Chinese
  one is not (jieba segments it, and a stemmer would mangle its English terms). The separator, set in
  ``mkdocs.yml``, splits words at ASCII and full-width punctuation as well as at spaces;
- lowers the weight of a page's own entry (its title and intro) and of every entry of pages without
  questions (chapter indexes, whose question lists repeat the titles; labs; glossary), so the
  question itself (its heading anchor and title) is the result shown; ``search.js`` then lists each
  question as its own result (its title, then its page), not under its page with the rest folded;
- gives each question (and sub-section) of a page its page's title as a lightly weighted field
  (``page``), so a query naming the page's topic prefers that page's questions;
- leaves code blocks, display math, reference lists and chapter indexes' question lists out of the
  indexed text, and indexes each
  answer's short answer as its own field (``lead``), weighted between the title and the rest of the text;
- indexes, per question, the other ways it is asked in an ``alias`` field (weighted between the short
  answer and the text): the keyword queries of ``data/search_queries.tsv`` for it and the phrasings of
  ``data/search_aliases.tsv`` ("also asked as", both languages); a broken row of either stops the build
  with ``file:line`` (``alias_problems``);
- in the offline edition (``editions/offline.yml``), also writes both as scripts
  (``search_index.<lang>.js``, ``vocab.<lang>.js``), since pages opened from file:// cannot fetch;
- writes ``search/vocab.<lang>.json``: every Chinese word of the index with its jieba log
  probability, so ``search.js`` can cut a Chinese query the way jieba cut the pages (jieba's
  maximum-probability route over the same dictionary) before Material's worker sees it, and every
  Latin word of six letters or more (value 0), so that it can tell a typo from a word of the index
  and two typed words from one the index writes as one (layer norm, layernorm);
- writes the glossary page's entry as its terms, "en | zh" pairs, which ``search.js`` also reads to add
  a typed glossary term's other-language term to the query;
- before the build, adds the Chinese terms of those groups to jieba's dictionary, so the index
  keeps them whole (旋转位置编码 stays one token).
"""
from __future__ import annotations

import hashlib

import json
import math
import re
from pathlib import Path

import jieba
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

import handbook

# Field weights. Material weights a title word 1000 times a text word and a tag a million times; then
# one common word of a title (use, role, model) outranks the subject of a question that only the
# answer names. Here a title word counts 30 text words, a word of the short answer (``lead``, split
# off the text below) 15, and tags hardly count (every question of a page repeats its page's tags).
# A question's other phrasings (``alias``) count 14: below its own short answer, far above the text.
# Since every question has phrasings (December 2026), 14 beat 10 on the tuned part (zh hit@1/hit@5
# 0.761/0.928 → 0.775/0.931, en 0.743/0.940 → 0.761/0.959; keyword zh =, en hit@1 0.864 → 0.836);
# 5 and 7 were worse, 20 lost zh hit@5 and keyword zh hit@1. Tuned on the tuned part of the natural-question set
# (data/search_natural.tsv) and the keyword set only.
# A question's page title (``page``: "KV cache and memory") counts 2: the page is the question's context, so
# a query naming the topic and a detail prefers the questions of the topic's page (tuned natural set,
# December 2026: zh hit@1 0.721 → 0.725, hit@5 0.924 → 0.931; en unchanged; keyword en hit@1 0.818 → 0.827;
# 1 and 3 were no better, 6 worse on zh).
FIELDS = {"title": 30.0, "syn_title": 10.0, "lead": 15.0, "alias": 14.0, "text": 1.0, "syn_text": 1.0,
          "tags": 1.0, "page": 2.0}
PAGE_ENTRY_BOOST = 0.05
# Code blocks (and mermaid sources) and reference lists are not indexed: they match words of every
# question (self, torch, arXiv, et al.) and are a quarter of the index.
CODE = re.compile(r"<pre>.*?</pre>", re.S)
# Display math (\[ ... \]) is TeX source (\frac, \mathrm, \sum): no reader searches for it, and it is
# 2 % of the compressed index. Inline math stays (it names symbols and short formulas).
DISPLAY_MATH = re.compile(r"\\\[.*?\\\]", re.S)
REFERENCES = re.compile(r"<p>\u200b?(?:References|参考文献)\u200b?</p>.*", re.S)
LEAD = re.compile(r"\s*<p>\u200b?(?:Short answer|简答)\u200b?</p>\s*(<p>.*?</p>)", re.S)


# A chapter index lists its questions, each item a question's title and its difficulty stars (hooks/questions.py
# STARS): the questions are indexed themselves, so the list items are left out of the index page's entry
# (about 1 % of the compressed index; hit@5 of the tuned natural set and the keyword set unchanged, one tuned
# zh hit@1 lost to a near tie whose scores moved with the word frequencies: 0.725 → 0.721).
QUESTION_LIST_ITEM = re.compile(r"<li>[^<]*?\s(?:★☆☆|★★☆|★★★)</li>")


def trim(entry: dict) -> None:
    """Drop code and references from an entry's text; move its short answer to the ``lead`` field."""
    text = REFERENCES.sub("", DISPLAY_MATH.sub(" ", CODE.sub(" ", entry.get("text", ""))))
    lead = LEAD.match(text)
    if lead:
        entry["lead"], text = lead.group(1), text[lead.end():]
    entry["text"] = text


# lunr pipeline per index language (Material's worker removes the functions not listed). No trimmer:
# the separator already ends words at punctuation, and lunr's trimmer would strip the Chinese synonym
# terms out of the English index.
PIPELINES = {"en": ["stopWordFilter", "stemmer"], "zh": ["stopWordFilter"]}
HAN = re.compile(r"[\u4e00-\u9fff]")
TAG = re.compile(r"<[^>]+>")


def load_synonyms(root: Path) -> list[list[str]]:
    rows = handbook.read_tsv(root / "data" / "search_synonyms.tsv")
    return [[t.strip() for t in row["terms"].split("|") if t.strip()] for row in rows]


ALIASES = "data/search_aliases.tsv"
QUERIES = "data/search_queries.tsv"


def _rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a tab-separated file with a header (``#`` and blank lines skipped)."""
    rows, header = [], None
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = line.split("\t")
        if header is None:
            header = cells
        else:
            rows.append((n, dict(zip(header, cells + [""] * (len(header) - len(cells))), _cells=len(cells))))
    return rows


def keyword_check_only(lang: str, query: str) -> bool:
    """A quarter of the keyword queries (fixed by a hash of language and query) are never indexed as
    phrasings, so the keyword set still measures ranking: ``test_query_set_hit_rate`` scores those."""
    return hashlib.sha256(f"{lang}\t{query.strip()}".encode("utf-8")).digest()[0] % 4 == 0


def alias_problems(root: Path, question_ids: set[str]) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """Other phrasings per (language, question id), and every problem as ``file:line: message``.

    ``data/search_aliases.tsv``: ``lang``, ``question_id``, ``phrasings`` (`` | ``-separated), one row per
    language; a question given phrasings in one language needs them in the other too.
    ``data/search_queries.tsv``: every keyword query of a question is one of its phrasings, in both
    languages' indexes (zh readers type English terms, and the other way round) — except the quarter
    ``keyword_check_only`` keeps out of the index to test ranking with."""
    aliases: dict[tuple[str, str], list[str]] = {}
    problems: list[str] = []
    first: dict[tuple[str, str], int] = {}
    for name, column in ((ALIASES, "phrasings"), (QUERIES, "query")):
        path = root / name
        if not path.exists():
            continue
        id_column = "question_id"
        for n, row in _rows(path):
            where = f"{name}:{n}"
            lang, qid = row.get("lang", ""), row.get(id_column, "")
            texts = [t.strip() for t in row.get(column, "").split("|")] if name == ALIASES else [row.get(column, "").strip()]
            if row["_cells"] != 3:
                problems.append(f"{where}: {row['_cells']} tab-separated cells, 3 expected (lang, {id_column}, {column})")
            elif lang not in handbook.LANGS:
                problems.append(f"{where}: language {lang!r} is not one of {list(handbook.LANGS)}")
            elif qid not in question_ids:
                problems.append(f"{where}: unknown question id {qid!r}")
            elif not all(texts):
                problems.append(f"{where}: empty phrasing (phrasings are separated by ' | ')")
            elif name == ALIASES and (lang, qid) in first:
                problems.append(f"{where}: {lang} phrasings of {qid!r} already given at line {first[(lang, qid)]}")
            else:
                if name == ALIASES:
                    first[(lang, qid)] = n
                if name == QUERIES and keyword_check_only(lang, texts[0]):
                    continue                   # kept out of the index: it tests ranking (test_search.py)
                aliases.setdefault((lang, qid), []).extend(texts)
                if name == QUERIES:        # readers mix languages (a zh query with English terms): both
                    for other in handbook.LANGS:
                        if other != lang:
                            aliases.setdefault((other, qid), []).extend(texts)
    for lang, qid in first:
        for other in handbook.LANGS:
            if (other, qid) not in first:
                problems.append(f"{ALIASES}:{first[(lang, qid)]}: {qid!r} has {lang} phrasings but no {other} row")
    return aliases, problems


def add_aliases(docs: list[dict], aliases: dict[tuple[str, str], list[str]], question_ids: set[str],
                default: str) -> None:
    """Give each question's entry its phrasings (``alias``), segmented like the rest of the index."""
    for d in docs:
        page, _, fragment = d["location"].partition("#")
        lang = page.split("/", 1)[0] if page.split("/", 1)[0] in handbook.LANGS and "/" in page else default
        texts = aliases.get((lang, fragment)) if fragment in question_ids else None
        if texts:
            d["alias"] = " ; ".join(_segment(t) for t in dict.fromkeys(texts))


def add_page_titles(docs: list[dict]) -> None:
    """Give each section of a page with questions (an entry with a ``#`` and no lowered ``boost``) its
    page's title as the ``page`` field, so the words of the page's title count, lightly, for its questions."""
    titles = {d["location"]: d.get("title", "") for d in docs if "#" not in d["location"]}
    for d in docs:
        page, _, fragment = d["location"].partition("#")
        if fragment and "boost" not in d and titles.get(page):
            d["page"] = titles[page]


GLOSSARY_PAGE = "glossary/"


def glossary_terms(root: Path) -> str:
    """The glossary page's index text: its terms in both languages, without the notes, as
    ``en | zh`` pairs separated by `` ; `` (``search.js`` reads the pairs from it: glossary expansion).

    The notes (a third of a language's compressed index) repeat what the answers say; indexed at the
    low weight of a page without questions they hardly ever rank, while a term still finds the page."""
    rows = handbook.read_tsv(root / "data" / "glossary.tsv")
    return " ; ".join(_segment(f"{r['en']} | {r['zh']}") for r in rows)


def _pattern(term: str) -> re.Pattern:
    """Chinese: substring. Latin: whole word; case-insensitive unless the term has capitals after its
    first letter (ZeRO, LoRA, PPO must not match "zero", "lora", "ppo" in ordinary text)."""
    if HAN.search(term):
        return re.compile(re.escape(term.replace(" ", "")))
    flags = 0 if re.search(r"[A-Z]", term[1:]) else re.IGNORECASE
    return re.compile(r"(?<![\w-])" + re.escape(term) + r"(?![\w-])", flags)


SPELLING = re.compile(r"\b([a-z]{3,}?)(is|iz)(e|ed|es|er|ers|ing|ation|ations)\b", re.IGNORECASE)


def _spellings(text: str) -> list[str]:
    """The other spelling of -ise/-ize words (initialised ↔ initialized), so either finds the page."""
    return sorted({m.group(1) + ("iz" if m.group(2).lower() == "is" else "is") + m.group(3)
                   for m in SPELLING.finditer(text)})


def _segment(term: str) -> str:
    """Tokens as Material's search plugin writes them: Han runs cut by jieba, zero-width separated."""
    return re.sub(r"[\u4e00-\u9fff]+", lambda m: "\u200b" + "\u200b".join(jieba.cut(m.group(0))) + "\u200b",
                  term).strip("\u200b")


def _terms(text: str, compiled) -> list[str]:
    """Every term (jieba-segmented) of each group that ``text`` mentions.

    A term can only match where its lower-cased text occurs, so that cheap substring test runs first
    and the regular expression only where it passes (the build spent ~15 s here without it)."""
    out: list[str] = []
    lower = text.lower()
    for group in compiled:
        if any(needle in lower and p.search(text) for _, needle, p in group):
            out += [_segment(t) for t, _, _ in group]
    return out


def expand(entries: list[dict], groups: list[list[str]]) -> int:
    """Add ``syn_title`` / ``syn_text`` fields to entries mentioning a group's term; return how many."""
    compiled = [[(t, t.replace(" ", "").lower() if HAN.search(t) else t.lower(), _pattern(t)) for t in group]
                for group in groups]
    expanded = 0
    for entry in entries:
        title = TAG.sub(" ", entry.get("title", "")).replace("\u200b", "")
        text = TAG.sub(" ", entry.get("text", "")).replace("\u200b", "")
        in_title = _terms(title, compiled) + _spellings(title)
        in_text = [t for t in _terms(text, compiled) + _spellings(text) if t not in in_title]
        if in_title:
            entry["syn_title"] = " ".join(in_title)
        if in_text:
            entry["syn_text"] = " ".join(in_text)
        expanded += bool(in_title or in_text)
    return expanded


def compact_text(text: str, separator: str) -> str:
    """An entry's text as the index needs it: its first paragraph as written (the teaser a result shows),
    then every other word once, in order of first appearance, without markup.

    The text field weighs 1 against a title's 30, so how often a word repeats there hardly changes a
    ranking (tuned natural set, December 2026: zh unchanged at 0.775 / 0.931 hit@1 / hit@5, en 0.761 →
    0.757 hit@1, 0.959 hit@5; keyword set unchanged), while the repeats, the markup and the Chinese
    word breaks (U+200B, three bytes each) were a quarter of the index: zh 832 → 623 KB, en 697 → 522 KB
    gzip."""
    end = text.find("</p>")
    head = text if end < 0 else text[:end + len("</p>")]
    split = re.compile(separator)
    seen = {token.lower() for token in split.split(TAG.sub(" ", head)) if token}
    rest = []
    for token in split.split(TAG.sub(" ", text[len(head):])):
        if token and token.lower() not in seen:
            seen.add(token.lower())
            rest.append(token)
    return " ".join([head, *rest]) if rest else head


def latest_per_location(docs: list[dict]) -> list[dict]:
    """One entry per location (page or page#section), the last one written.

    A single ``mkdocs build`` writes each location once. Under ``mkdocs serve`` mkdocs-static-i18n keeps
    adding every rebuild's entries to the ones it collected before, and with ``--dirty`` Material puts
    the previous index first and the rebuilt pages after it; in both cases the last entry is the current
    one, and without this the served index grew by a copy of every page on each reload."""
    last = {d["location"]: i for i, d in enumerate(docs)}
    return [d for i, d in enumerate(docs) if last[d["location"]] == i]


# Latin words at least this long are listed in the vocabulary too (value 0), so that ``search.js`` can
# tell a typo (tranformer) from a word of the index and search for it with one edit allowed.
FUZZY_MIN = 6
LATIN_WORD = re.compile(r"[a-z][a-z0-9]{%d,}" % (FUZZY_MIN - 1))


def vocabulary(docs: list[dict], separator: str) -> dict[str, float]:
    """Chinese words of the indexed fields → jieba log probability (rounded), for query segmentation;
    Latin words of ``FUZZY_MIN`` letters or more → 0 (for typo tolerance)."""
    split = re.compile(separator)
    total = jieba.dt.total
    words: dict[str, float] = {}
    for d in docs:
        for field in ("title", "lead", "alias", "text", "syn_title", "syn_text"):
            for token in split.split(TAG.sub(" ", d.get(field, ""))):
                token = token.strip().lower()
                if not token or token in words:
                    continue
                if all(HAN.match(ch) for ch in token):
                    words[token] = round(math.log(max(jieba.dt.FREQ.get(token, 0), 1) / total), 2)
                elif LATIN_WORD.fullmatch(token):
                    words[token] = 0
    return dict(sorted(words.items()))


def _i18n(config):
    return config.plugins.get("i18n")


def on_config(config):
    for group in load_synonyms(handbook.repo_root(config)):
        for term in group:
            if HAN.search(term) and " " not in term:
                jieba.add_word(term, freq=2_000_000)      # keep the term one token, like a dictionary word
    return config


@event_priority(-200)          # after mkdocs-static-i18n (-100) has written the combined index
def on_post_build(config) -> None:
    i18n = _i18n(config)
    if i18n is not None and i18n.building:
        return                 # a nested language build: the combined index is not complete yet
    path = Path(config.site_dir) / "search" / "search_index.json"
    index = json.loads(path.read_text(encoding="utf-8"))
    index["docs"] = latest_per_location(index["docs"])
    expand(index["docs"], load_synonyms(handbook.repo_root(config)))
    question_ids = {q.id for p in handbook.iter_pages(Path(config.docs_dir)) for q in p.questions}
    aliases, problems = alias_problems(handbook.repo_root(config), question_ids)
    if problems:
        raise PluginError("Search phrasings are broken:\n  " + "\n  ".join(problems))
    with_questions = {d["location"].partition("#")[0] for d in index["docs"]
                      if d["location"].partition("#")[2] in question_ids}
    for d in index["docs"]:
        trim(d)
        page, _, fragment = d["location"].partition("#")
        if not fragment or page not in with_questions:
            d["boost"] = PAGE_ENTRY_BOOST     # a page's intro; chapter question lists, labs, glossary
            if not fragment:
                d["text"] = QUESTION_LIST_ITEM.sub(" ", d["text"])
    add_page_titles(index["docs"])
    add_aliases(index["docs"], aliases, question_ids, i18n.default_language if i18n else handbook.DEFAULT_LANG)
    glossary = {GLOSSARY_PAGE} | {f"{lang}/{GLOSSARY_PAGE}" for lang in handbook.LANGS}
    terms = glossary_terms(handbook.repo_root(config))
    for d in index["docs"]:
        if d["location"] in glossary:
            d["text"] = terms                 # "en | zh" pairs that search.js reads: kept as they are
        else:
            d["text"] = compact_text(d.get("text", ""), index["config"]["separator"])
    index["config"].setdefault("fields", {"title": {"boost": 1000.0}, "text": {"boost": 1.0},
                                          "tags": {"boost": 1000000.0}})
    index["config"]["fields"].update({name: {"boost": boost} for name, boost in FIELDS.items()})
    offline = any(name in config.plugins for name in ("offline", "material/offline"))
    languages = i18n.build_languages if i18n else [handbook.DEFAULT_LANG]
    default = i18n.default_language if i18n else handbook.DEFAULT_LANG
    others = tuple(f"{lang}/" for lang in languages if lang != default)
    for lang in languages:
        if lang == default:
            docs = [d for d in index["docs"] if not d["location"].startswith(others)]
        else:
            docs = [d for d in index["docs"] if d["location"].startswith(f"{lang}/")]
        part = {"config": {**index["config"], "lang": [lang],
                           "pipeline": PIPELINES.get(lang, index["config"]["pipeline"])}, "docs": docs}
        text = json.dumps(part, ensure_ascii=False, separators=(",", ":"))
        (path.parent / f"search_index.{lang}.json").write_text(text, encoding="utf-8")
        vocab = json.dumps(vocabulary(docs, index["config"]["separator"]), ensure_ascii=False,
                           separators=(",", ":"))
        (path.parent / f"vocab.{lang}.json").write_text(vocab, encoding="utf-8")
        if offline:            # file:// cannot fetch JSON: the same data as scripts (offline plugin)
            (path.parent / f"search_index.{lang}.js").write_text(f"var __index = {text}", encoding="utf-8")
            (path.parent / f"vocab.{lang}.js").write_text(f"var __vocab = {vocab}", encoding="utf-8")
        if lang == default:
            path.write_text(text, encoding="utf-8")
