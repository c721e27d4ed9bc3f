"""Search in real Chromium: per-language results, question anchors, synonyms, the query sets.

Two query sets, both typed into the search box of the built site:

- the keyword set (data/search_queries.tsv): queries as an interviewer would jot them down, each with
  the question that must be among the first five results on a page of the query's language. Later
  chapters add rows there; this file needs no change.
- the natural-question set: full questions as candidates type them (question marks, filler words,
  typos, mixed zh/en), each with the id(s) of the question(s) that answer it. data/search_natural.tsv
  is the part ranking was tuned on, data/search_natural_heldout.tsv the part fixed before tuning and
  never tuned on; the held-out part must reach the goals below.

A result item is one entry of the list (after hooks/search.py and search.js, one question: its title,
then its page). hit@1: the first item shows the answering question; hit@5: one of the first five items
shows it (a question folded under "N more" does not count for the natural set).

Set SEARCH_SITE=/path/to/site to run against an already built site (e.g. an older commit's build, to
measure before/after) instead of building one; SEARCH_TABS sets how many tabs type queries in parallel;
SEARCH_NATURAL_PARTS=tuned runs only the tuned natural part (tuning runs must not see held-out scores).
For quicker iteration, ``node tools/search_replay.js SITE natural|keyword`` replays the tuned natural part
or the keyword set in Node against a built site (its own worker and search.js; it gave this test's tuned
numbers exactly, December 2026); the numbers of record are this test's.
"""
from __future__ import annotations

import gzip
import json
import os
import statistics
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit

import pytest

import handbook

pytestmark = pytest.mark.build
NO_RESULTS = {"zh": "没有找到符合条件的结果", "en": "No matching documents"}
HIT_AT_5_MIN = 0.90                              # keyword set, per language
HELDOUT_GOALS = {"hit@5": 0.90, "hit@1": 0.70}   # natural questions, held-out part, per language (issue 17)
# Not reached yet (held-out, December 2026: zh hit@1 0.606 / hit@5 0.866, en 0.584 / 0.839, from 0.437 / 0.655
# and 0.403 / 0.577 before the natural-question work). Until it is, the test fails below this floor, a little
# under what was measured, and is reported as an expected failure (xfail) between the floor and the goal.
HELDOUT_FLOOR = {"hit@5": 0.82, "hit@1": 0.56}
TABS = int(os.environ.get("SEARCH_TABS", "3"))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory) -> Path:
    """The built site: SEARCH_SITE if set (already built), else built once per run like everywhere."""
    if os.environ.get("SEARCH_SITE"):
        return Path(os.environ["SEARCH_SITE"])
    from conftest import build_site, shared_once
    return shared_once(tmp_path_factory, "site", build_site)


def _prefix(lang: str) -> str:
    return "" if lang == handbook.DEFAULT_LANG else f"{lang}/"


def query_set(root: Path) -> list[dict[str, str]]:
    return handbook.read_tsv(root / "data" / "search_queries.tsv")


# One query, typed into the search box: the time runs from the key-up that sends the query to the
# worker until Material has written the result count for it (it rewrites that line for every result,
# after rendering the first items in the same task), so no fixed sleep and no polling.
ARM = """([q, timeout]) => {
  const input = document.querySelector("input.md-search__input");
  const meta = document.querySelector(".md-search-result__meta");
  window.__searchDone = new Promise((resolve) => {
    let t0 = null;
    input.addEventListener("keyup", () => { t0 = performance.now(); }, {once: true, capture: true});
    const mo = new MutationObserver(() => {
      if (t0 === null) return;
      mo.disconnect();
      resolve(performance.now() - t0);
    });
    mo.observe(meta, {childList: true, characterData: true, subtree: true});
    setTimeout(() => { mo.disconnect(); resolve(null); }, timeout);
  });
  return input.value;
}"""
COLLECT = """async () => {
  const ms = await window.__searchDone;
  const items = [...document.querySelectorAll(".md-search-result__item")].map((i) =>
    [...i.querySelectorAll("a.md-search-result__link")].map((a) => [a.href, a.checkVisibility()]));
  return {ms, items};
}"""


class Search:
    """The search box of one open page."""

    def __init__(self, browser, server: str, lang: str, path: str = "norms/"):
        self.page = browser.new_page()
        self.server, self.lang = server, lang
        self.page.goto(server + _prefix(lang) + path, wait_until="networkidle")
        self.page.keyboard.press("s")                      # Material's shortcut: focus the search box
        self.box = self.page.locator("input.md-search__input")
        # The box must have focus before the first query is armed: were fill() to give it focus, Material
        # would search on that focus event, before the key-up ARM times, and the key-up (same text) would
        # then change nothing, so ARM would wait out its timeout (seen on a loaded machine, 1 run in 4).
        if not self.page.evaluate("document.activeElement === document.querySelector('input.md-search__input')"):
            self.box.focus()
        self.page.wait_for_function("document.activeElement === document.querySelector('input.md-search__input')")
        self.page.wait_for_timeout(20)                     # Material reads the box 1 ms after a focus event
        self.items: list | None = None

    def type(self, query: str, timeout_s: float | None = None) -> None:
        """Type ``query`` (a key event: Material searches on key-up) without waiting for the results.
        The first query of a tab also waits for the index to load (slow on a busy machine)."""
        self.timeout_s = timeout_s or (60 if self.items is not None else 300)
        if self.page.evaluate(ARM, [query, self.timeout_s * 1000]) == query:
            query += " "                                   # same text again: Material would not re-search
        self.box.fill(query)
        self.box.press("End")

    def results(self) -> tuple[list[str], float]:
        """The result links of the query typed last (page and section links, in rank order) and the
        seconds from its key-up until they were shown; ``self.items`` keeps them per result item."""
        out = self.page.evaluate(COLLECT)
        assert out["ms"] is not None, f"no search result within {self.timeout_s} s"
        self.items = out["items"]
        return [href for item in self.items for href, _ in item], out["ms"] / 1000

    def run(self, query: str, timeout_s: float | None = None) -> tuple[list[str], float]:
        self.type(query, timeout_s)
        return self.results()

    def close(self):
        self.page.close()


# Many queries in one tab without a round trip to Playwright per query: for each query, the same steps
# as a reader typing it (the box's value changes, an input event, a key-up, which is what Material
# searches on), then wait, as ARM/COLLECT do, until Material has written the result count for it, and
# read the result items. Started with START (returns at once, so several tabs run side by side) and
# collected with FINISH.
BATCH = """([queries, timeout]) => {
  const input = document.querySelector("input.md-search__input");
  const meta = document.querySelector(".md-search-result__meta");
  const one = async (query) => {
    if (input.value === query) query += " ";               // same text again: Material would not re-search
    let t0 = null, resolve;
    const done = new Promise((r) => { resolve = r; });
    const mo = new MutationObserver(() => {
      if (t0 === null) return;
      mo.disconnect();
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
    const timer = setTimeout(() => { mo.disconnect(); resolve(null); }, timeout);
    mo.observe(meta, {childList: true, characterData: true, subtree: true});
    input.value = query;
    input.dispatchEvent(new InputEvent("input", {bubbles: true, inputType: "insertText", data: query}));
    await null;                      // a change the input event made (if any) is delivered first, ignored
    t0 = performance.now();          // from the key-up that sends the query to the worker, as in ARM
    input.dispatchEvent(new KeyboardEvent("keyup", {bubbles: true, key: "End", code: "End"}));
    return done;
  };
  window.__batch = (async () => {
    const out = [];
    for (const query of queries) {
      const ms = await one(query);
      await new Promise((r) => setTimeout(r, 0));          // let the task that wrote the count finish
      const items = [...document.querySelectorAll(".md-search-result__item")].map((i) =>
        [...i.querySelectorAll("a.md-search-result__link")].map((a) => [a.href, a.checkVisibility()]));
      out.push({ms, items});
    }
    return out;
  })();
}"""
FINISH = "() => window.__batch"


class Tabs:
    """Search tabs kept open for the whole test run (per pytest-xdist worker), per language: opening one
    (a page load, then the index loaded and built by the search worker on the first query) costs about
    2.7 CPU-s, more than 40 queries. ``get(lang, n)`` returns n tabs whose index is loaded, each with a
    query already answered; the tests that only type and read results share them."""

    def __init__(self, browser, server: str):
        self.browser, self.server, self.open = browser, server, {}

    def get(self, lang: str, n: int = 1) -> list[Search]:
        tabs = self.open.setdefault(lang, [])
        new = [Search(self.browser, self.server, lang) for _ in range(n - len(tabs))]
        for s in new:                                      # let each tab load its index
            s.type("transformer", 150)
        for s in new:
            # A warm-up, not a measured query. Under load its one key-up sometimes got no answer (CI, 1 run
            # in 4): then the same tab is asked once more, with other text so that Material searches again.
            try:
                s.results()
            except AssertionError:
                s.run("attention", 150)
        tabs += new
        return tabs[:n]

    def close(self):
        for s in (s for tabs in self.open.values() for s in tabs):
            s.close()


@pytest.fixture(scope="session")
def tabs(browser, server):
    shared = Tabs(browser, server)
    yield shared
    shared.close()


def run_all(tabs: Tabs, lang: str, queries: list[str], n: int = TABS) -> list[tuple[list, float]]:
    """Every query searched on ``n`` tabs of language ``lang`` side by side; return each query's result
    items (links with their visibility) and seconds, in the order given. Each tab got a first query typed
    with real key presses (focusing the box makes search-lazy.js load the index); its share of
    ``queries`` is run by BATCH in the page (tests below type single queries key by key)."""
    pages = tabs.get(lang, max(1, min(n, len(queries))))
    for n, s in enumerate(pages):
        s.page.evaluate(BATCH, [queries[n::len(pages)], 60_000])
    shares = [s.page.evaluate(FINISH) for s in pages]
    out: list = [None] * len(queries)
    for n, share in enumerate(shares):
        for k, got in enumerate(share):
            assert got["ms"] is not None, f"no search result within 60 s for {queries[n + k * len(pages)]!r}"
            out[n + k * len(pages)] = (got["items"], got["ms"] / 1000)
    return out


def _anchors(links: list[str]) -> list[tuple[str, str]]:
    """(path, fragment) of the section results, in the order shown."""
    out = []
    for href in links:
        parts = urlsplit(href)
        if parts.fragment:
            out.append((parts.path, parts.fragment))
    return out


def section_owners(built_site: Path, lang: str, question_ids: set[str]) -> dict[tuple[str, str], str]:
    """Map every section result (path, fragment) to the question it belongs to: a question's own
    heading, or a sub-heading (h3…) that follows it on the same page."""
    docs = json.loads((built_site / "search" / f"search_index.{lang}.json").read_text(encoding="utf-8"))["docs"]
    owners, current = {}, None
    for d in docs:
        page, _, fragment = d["location"].partition("#")
        if fragment in question_ids:
            current = (page, fragment)
        if fragment and current and current[0] == page:
            owners[("/" + page, fragment)] = current[1]
    return owners


def ranked_questions(links: list[str], owners: dict) -> list[tuple[str, str]]:
    """(path, question id) in the order shown, one entry per question."""
    out = []
    for path, fragment in _anchors(links):
        key = (path, owners.get((path, fragment), fragment))
        if key not in out:
            out.append(key)
    return out


def test_query_set_is_well_formed(root):
    rows = query_set(root)
    pages = list(handbook.iter_pages(root / "docs"))             # parsed once (not once per row)
    chapter_of = {q.id: p.chapter for p in pages for q in p.questions}
    ids = set(chapter_of)
    by_lang = {lang: [r for r in rows if r["lang"] == lang] for lang in handbook.LANGS}
    assert len(rows) >= 50 and all(len(v) >= 25 for v in by_lang.values()), {k: len(v) for k, v in by_lang.items()}
    for n, row in enumerate(rows, start=1):
        assert row["lang"] in handbook.LANGS, (n, row)
        assert row["query"].strip(), (n, row)
        assert row["question_id"] in ids, f"data/search_queries.tsv row {n}: unknown question id {row['question_id']!r}"
    chapters = {p.chapter for p in pages if p.questions and p.chapter}
    covered = {chapter_of[r["question_id"]] for r in rows}
    assert chapters <= covered, f"chapters without queries: {sorted(chapters - covered)}"


def question_urls(root: Path) -> dict[str, dict[str, str]]:
    """question id → language → the path of its page ("/en/norms/rmsnorm/")."""
    urls: dict[str, dict[str, str]] = {}
    for p in handbook.iter_pages(root / "docs"):
        for q in p.questions:
            urls.setdefault(q.id, {})[p.lang] = "/" + p.url()
    return urls


def score(rows: list[dict], results: list, ids_of, urls, owners, lang: str, folded_counts: bool) -> dict:
    """hit@1, hit@5, zero-result rate and latency of ``results`` (one per row, from ``run_all``).

    hit@1: the first question the list shows answers the row; hit@5: an answering question is in one of
    the first five result items (counting questions folded under "N more" only if ``folded_counts``)."""
    hit1 = hit5 = zero = 0
    misses, latencies = [], []
    for row, (items, seconds) in zip(rows, results):
        latencies.append(seconds)
        for item in items:
            for href, _ in item:
                assert urlsplit(href).path.startswith("/en/") == (lang == "en"), (lang, row["query"], href)
        targets = {(urls[qid][lang], qid) for qid in ids_of(row)}
        shown = [ranked_questions([h for h, visible in item if visible], owners) for item in items[:5]]
        counted = [ranked_questions([h for h, _ in item], owners) for item in items[:5]] if folded_counts else shown
        first = next((q for item in shown for q in item), None)
        zero += not items
        hit1 += first in targets
        if any(q in targets for item in counted for q in item):
            hit5 += 1
        else:
            misses.append((row["query"], "|".join(sorted(ids_of(row))), [item[0][1] for item in shown if item]))
    n = max(len(rows), 1)
    return {"queries": len(rows), "hit@1": round(hit1 / n, 3), "hit@5": round(hit5 / n, 3),
            "zero_result": round(zero / n, 3),
            "median_latency_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
            "p90_latency_ms": round(1000 * sorted(latencies)[int(0.9 * (len(latencies) - 1))], 1) if latencies else None,
            "misses": misses}


@pytest.mark.parametrize("lang", handbook.LANGS)     # one test per language, so xdist runs them side by side
def test_query_set_hit_rate(tabs, root, built_site, record_property, lang):
    """Keyword set, the quarter not indexed as phrasings (hooks/search.py ``keyword_check_only``): hit@5
    >= 90 % per language (the question is among the sections of the first five
    result items, folded ones included); results are in the page's language and point at the question."""
    import search as search_hook

    urls = question_urls(root)
    rows = [r for r in query_set(root) if r["lang"] == lang and search_hook.keyword_check_only(lang, r["query"])]
    assert len(rows) >= 80, len(rows)          # the quarter kept out of the index (the rest is indexed)
    owners = section_owners(built_site, lang, set(urls))
    results = run_all(tabs, lang, [r["query"] for r in rows])
    report = {lang: score(rows, results, lambda r: {r["question_id"]}, urls, owners, lang, folded_counts=True)}
    show("search query set:", report)
    record_property("search_report", report)
    for lang, r in report.items():
        assert r["hit@5"] >= HIT_AT_5_MIN, f"{lang}: hit@5 {r['hit@5']} < {HIT_AT_5_MIN}; misses: {r['misses']}"


def show(title: str, report: dict) -> None:
    """Print a report: one summary line per part, then its misses one per line."""
    print(f"\n{title}")
    for part, r in report.items():
        print(f"  {part}:", json.dumps({k: v for k, v in r.items() if k != "misses"}))
    for part, r in report.items():
        for query, expected, got in r["misses"]:
            print(f"    miss [{part}] {query!r} -> {expected}; top 5: {' '.join(got)}")


NATURAL_PARTS = {"tuned": "search_natural.tsv", "heldout": "search_natural_heldout.tsv"}
# SEARCH_NATURAL_PARTS=tuned types and scores only the tuned part (for tuning: the held-out part's scores
# must not be seen while tuning); unset, both parts are run and the held-out goals apply.
RUN_PARTS = [p.strip() for p in os.environ.get("SEARCH_NATURAL_PARTS", ",".join(NATURAL_PARTS)).split(",") if p.strip()]


def natural_set(root: Path, part: str) -> list[dict[str, str]]:
    return handbook.read_tsv(root / "data" / NATURAL_PARTS[part])


def _ids(row: dict) -> set[str]:
    return {i.strip() for i in row["question_ids"].split("|") if i.strip()}


def answered(row: dict) -> bool:
    """False for a question the handbook does not answer (labelled "none"): neither typed nor scored."""
    return _ids(row) != {"none"}


def test_natural_set_is_well_formed(root):
    """Both parts: known languages, a query, and only existing question ids; no query in both parts;
    at least 300 questions per language, covering every chapter."""
    ids = set(question_urls(root))
    seen = {}
    for part in NATURAL_PARTS:
        for n, row in enumerate(natural_set(root, part), start=1):
            where = f"data/{NATURAL_PARTS[part]} row {n}"
            assert row["lang"] in handbook.LANGS and row["query"].strip(), (where, row)
            assert not answered(row) or _ids(row) and _ids(row) <= ids, f"{where}: unknown question id(s) {sorted(_ids(row) - ids)}"
            key = (row["lang"], row["query"].strip().lower())
            assert seen.setdefault(key, part) == part, f"{where}: query also in the {seen[key]} part: {row['query']!r}"
    pages = handbook.iter_pages(root / "docs")
    chapter_of = {q.id: p.chapter for p in pages for q in p.questions}
    chapters = {p.chapter for p in pages if p.questions and p.chapter}
    rows = [r for part in NATURAL_PARTS for r in natural_set(root, part)]
    for lang in handbook.LANGS:
        mine = [r for r in rows if r["lang"] == lang]
        covered = {chapter_of[i] for r in mine if answered(r) for i in _ids(r)}
        assert len(mine) >= 300, f"{lang}: {len(mine)} natural questions, at least 300 wanted"
        assert chapters <= covered, f"{lang}: chapters without natural questions: {sorted(chapters - covered)}"


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_natural_questions(tabs, root, built_site, record_property, lang):
    """Natural questions: hit@1, hit@5 and zero-result rate per part (tuned / held-out), reported. The
    held-out part must never return nothing and must stay above HELDOUT_FLOOR; below HELDOUT_GOALS
    (hit@5 >= 90 %, hit@1 >= 70 %) the test is an expected failure until the goal is met."""
    urls = question_urls(root)
    owners = section_owners(built_site, lang, set(urls))
    assert RUN_PARTS and set(RUN_PARTS) <= set(NATURAL_PARTS), f"SEARCH_NATURAL_PARTS={RUN_PARTS}: parts are {list(NATURAL_PARTS)}"
    parts = {part: [r for r in natural_set(root, part) if r["lang"] == lang and answered(r)] for part in RUN_PARTS}
    queries = [r["query"] for rows in parts.values() for r in rows]
    results = iter(run_all(tabs, lang, queries))
    report = {part: score(rows, [next(results) for _ in rows], _ids, urls, owners, lang, folded_counts=False)
              for part, rows in parts.items()}
    show(f"natural questions ({lang}):", report)
    record_property("natural_search_report", {lang: report})
    if "heldout" not in report:
        return                                     # tuning run (SEARCH_NATURAL_PARTS=tuned): reported only
    held = report["heldout"]
    assert held["queries"] > 0, f"no held-out {lang} questions"
    assert held["zero_result"] == 0, f"{lang}: held-out questions with no result: {held['misses']}"
    for metric, floor in HELDOUT_FLOOR.items():
        assert held[metric] >= floor, f"{lang}: held-out {metric} {held[metric]} fell below {floor}; misses: {held['misses']}"
    short = {m: (held[m], goal) for m, goal in HELDOUT_GOALS.items() if held[m] < goal}
    if short:
        pytest.xfail(f"{lang}: held-out below the issue-17 goal (measured, goal): {short}")


# Issue 17: the index a reader downloads on first search stays at most what it was before natural-question
# search (gzip -9 bytes, November 2026, 391 questions per language).
INDEX_GZIP_BUDGET = {"zh": 645_000, "en": 551_000}


def test_compact_text_keeps_the_teaser_and_each_word_once():
    """The text field keeps its first paragraph as written (what a result shows) and then each other word
    once, first occurrence first, case-insensitively, without markup; Chinese words stay whole."""
    import search as search_hook

    sep = r"[\s\u200b\-,.:()<>，]+"
    text = ("<p>RMSNorm divides by the <code>root mean square</code>.</p> <p>The root of the mean "
            "square: no mean is subtracted, so RMSNorm is cheaper.</p><ul><li>Cheaper, and equal</li></ul>")
    assert search_hook.compact_text(text, sep) == (
        "<p>RMSNorm divides by the <code>root mean square</code>.</p> "
        "of no is subtracted so cheaper and equal")
    zh = "<p>\u200b均方根\u200b归一化</p><p>\u200b不减\u200b均值\u200b，\u200b均值\u200b归一化</p>"
    assert search_hook.compact_text(zh, sep) == "<p>\u200b均方根\u200b归一化</p> 不减 均值"
    assert search_hook.compact_text("no paragraph at all, all words", sep) == "no paragraph at all, all words"


def test_index_per_language(built_site):
    """Each language has its own index, containing only its own pages, within its byte budget."""
    sizes = {}
    for lang in handbook.LANGS:
        path = built_site / "search" / f"search_index.{lang}.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        locations = [d["location"] for d in data["docs"]]
        assert locations and all(loc.startswith("en/") == (lang == "en") for loc in locations), lang
        assert data["config"]["lang"] == [lang]
        assert ("stemmer" in data["config"]["pipeline"]) == (lang == "en"), data["config"]["pipeline"]
        assert {"syn_title", "syn_text"} <= set(data["config"]["fields"])
        raw = path.read_bytes()
        sizes[lang] = (len(raw), len(gzip.compress(raw, 9)))
    print("\nsearch index bytes (raw, gzip -9):", sizes)
    over = {lang: gz for lang, (_, gz) in sizes.items() if gz > INDEX_GZIP_BUDGET[lang]}
    assert not over, f"search index over budget (gzip -9 bytes): {over}, budget {INDEX_GZIP_BUDGET}"


def test_synonyms_are_indexed(built_site):
    """A question titled with 'RMSNorm' is also indexed under 均方根归一化 and 'root mean square normalization'."""
    docs = json.loads((built_site / "search" / "search_index.en.json").read_text(encoding="utf-8"))["docs"]
    entry = next(d for d in docs if d["location"].endswith("#rmsnorm-formula"))
    assert "均方根归一化" in entry["syn_title"].replace("\u200b", "")
    assert "root mean square normalization" in entry["syn_title"]


@pytest.mark.parametrize("lang, query, expected", [
    ("zh", "root mean square normalization", "rmsnorm-formula"),   # English words on a Chinese page
    ("en", "均方根归一化", "rmsnorm-formula"),                        # Chinese on an English page
    ("en", "门控线性单元", "glu-ffn"),
])
def test_synonym_and_cross_language_queries(tabs, root, lang, query, expected):
    (search,) = tabs.get(lang)
    links, _ = search.run(query)
    anchors = [frag for path, frag in _anchors(links)[:5]]
    assert expected in anchors, (query, anchors)
    assert all(urlsplit(h).path.startswith("/en/") == (lang == "en") for h in links)


@pytest.mark.parametrize("lang, typo, spelled", [
    ("en", "lenght extrapolation", "length extrapolation"),          # two letters swapped
    ("en", "tranformer architecture", "transformer architecture"),   # a letter left out
    ("zh", "tranformer 架构", "transformer 架构"),
    ("zh", "attension 的复杂度", "attention 的复杂度"),                 # a letter replaced
])
def test_typo_finds_what_the_spelling_finds(tabs, lang, typo, spelled):
    """A word of the query that is no word of the index but one edit away from one (search.js
    ``correction``) is searched as that word: the same results as the query spelled right."""
    (search,) = tabs.get(lang)
    right, _ = search.run(spelled)
    wrong, _ = search.run(typo)
    assert _anchors(right) and _anchors(wrong)[:5] == _anchors(right)[:5], (typo, _anchors(wrong)[:5], _anchors(right)[:5])


def _highlighted(href: str) -> set[str]:
    """The query words a result matched (Material passes them on in the link's ``h`` parameter)."""
    terms = dict(p.split("=", 1) for p in urlsplit(href).query.split("&") if "=" in p).get("h", "")
    return set(unquote_plus(terms).split())


@pytest.mark.parametrize("lang, query, matched", [
    ("zh", "weight tying", {"权重", "绑定"}),   # glossary: typed in English, also its Chinese term
    ("zh", "线上部署", {"线上"}),             # jieba's 线上 (HMM), not the dictionary route's 线 上
])
def test_query_words_as_the_index_has_them(tabs, lang, query, matched):
    """search.js searches a glossary term's other-language term too, and cuts a Chinese query into the
    words jieba made of the pages, including those its HMM joined: the first result matched them."""
    (search,) = tabs.get(lang)
    links, _ = search.run(query)
    assert links and matched <= _highlighted(links[0]), (query, links[:1])


@pytest.mark.parametrize("lang, query, expected", [
    ("en", "What is QK-norm, and why do LLMs use it?", "qk-norm"),     # punctuation, stop words
    ("en", "how are the connections of a residual stream normalized?", None),   # stemmed: never empty
    ("zh", "什么是 QK-norm？为什么要用它？", "qk-norm"),               # full-width punctuation
])
def test_question_typed_as_asked(tabs, lang, query, expected):
    """A question typed with punctuation and question words: the answer is the first item, shown as the
    question's title followed by its page; no query word keeps punctuation (the highlight parameter)."""
    (search,) = tabs.get(lang)
    search.run(query)
    first = search.page.locator(".md-search-result__item").first
    title = first.locator("h1").inner_text() if search.items else ""
    page_name = first.locator(".hb-search-page").inner_text() if search.items else ""
    assert search.items, f"no result for {query!r}"
    assert all(len(item) == 1 for item in search.items), "each result item is one question"
    href = search.items[0][0][0]
    terms = dict(p.split("=", 1) for p in urlsplit(href).query.split("&") if "=" in p).get("h", "")
    assert not any(ch in terms for ch in "?,？，"), terms
    if expected:
        assert urlsplit(href).fragment == expected, (query, href)
        assert page_name and title.endswith(page_name), (title, page_name)


def test_result_anchor_lands_on_the_question(browser, server):
    search = Search(browser, server, "en")
    links, _ = search.run("RMSNorm formula")
    index, first = next((i, h) for i, h in enumerate(links) if urlsplit(h).fragment)
    search.page.locator(".md-search-result__item a.md-search-result__link").nth(index).click()
    fragment = urlsplit(first).fragment
    search.page.wait_for_url(f"**#{fragment}")
    heading = search.page.locator(f"h2#{fragment}")
    assert heading.count() == 1
    box = heading.bounding_box()
    assert box is not None and 0 <= box["y"] < search.page.viewport_size["height"]
    search.close()


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_no_match_shows_the_empty_state(tabs, lang):
    (search,) = tabs.get(lang)
    links, _ = search.run("zxqwvbnmplk")
    meta = search.page.locator(".md-search-result__meta").inner_text()
    assert links == []
    assert meta.strip() == NO_RESULTS[lang]


LONG_QUERY_BOUND_S = 20     # a 200-character query must be answered within this, once the index is loaded


def test_long_query_does_not_hang(tabs):
    """The bound is the wait itself: the index is loaded by the tab's first query (which may take minutes
    on a busy machine), then the long query gets LONG_QUERY_BOUND_S seconds before it is called lost, so a
    search that never returns fails here after that many seconds (not after the 300 s first-query wait)."""
    (search,) = tabs.get("zh")                                # a tab whose index is loaded
    warm, _ = search.run("transformer")
    assert warm
    query = ("为什么大模型用 RMSNorm 而不是 LayerNorm，SwiGLU 的隐藏层为什么是 8/3 倍 " * 8)[:200]
    assert len(query) == 200
    links, seconds = search.run(query, timeout_s=LONG_QUERY_BOUND_S)
    assert seconds < LONG_QUERY_BOUND_S
    assert any("/norms/" in href for href in links)       # it searched, and found the RMSNorm page


def test_latest_entry_per_location_wins():
    """hooks/search.py keeps one entry per location, the last written (what `mkdocs serve` rebuilt)."""
    import search as search_hook

    docs = [{"location": "a/", "text": "old"}, {"location": "a/#q", "text": "old q"},
            {"location": "b/", "text": "b"}, {"location": "a/", "text": "new"}, {"location": "a/#q", "text": "new q"}]
    assert search_hook.latest_per_location(docs) == [
        {"location": "b/", "text": "b"}, {"location": "a/", "text": "new"}, {"location": "a/#q", "text": "new q"}]


def test_questions_get_their_page_title():
    """hooks/search.py gives the sections of a page with questions its page's title (``page``), not the
    page's own entry, nor entries whose weight was lowered (chapter indexes, labs), nor a page not indexed."""
    import search as search_hook

    docs = [{"location": "a/", "title": "KV cache"}, {"location": "a/#q", "title": "Q"},
            {"location": "a/#q-detail", "title": "D"}, {"location": "b/", "title": "Labs", "boost": 0.05},
            {"location": "b/#step", "title": "S", "boost": 0.05}, {"location": "c/#orphan", "title": "O"}]
    search_hook.add_page_titles(docs)
    assert [d.get("page") for d in docs] == [None, "KV cache", "KV cache", None, None, None]


def test_chapter_question_lists_are_not_indexed(built_site):
    """A chapter index's entry keeps its intro but not its list of questions (each question is indexed
    itself); the questions' own entries are still there."""
    for lang in handbook.LANGS:
        docs = json.loads((built_site / "search" / f"search_index.{lang}.json").read_text(encoding="utf-8"))["docs"]
        chapter = next(d for d in docs if d["location"] == _prefix(lang) + "norms/")
        assert "LayerNorm" in chapter["text"] and "★" not in chapter["text"], chapter["text"][-300:]
        assert any(d["location"] == _prefix(lang) + "norms/layernorm/#layernorm-formula" for d in docs)


def test_alias_rows_are_checked(tmp_path):
    """A broken phrasing row names its file and line; keyword queries are phrasings in both languages."""
    import search as search_hook

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "search_aliases.tsv").write_text(
        "# comment\nlang\tquestion_id\tphrasings\n"
        "zh\tq-a\t甲怎么选 | 甲和乙\n"          # line 3: fine (its en row is line 4)
        "en\tq-a\thow to pick a\n"
        "fr\tq-a\tcomment\n"                   # line 5: unknown language
        "zh\tq-x\t未知\n"                       # line 6: unknown id
        "zh\tq-b\t乙 |  | 丙\n"                 # line 7: empty phrasing; q-b then has no en row either
        "en\tq-a\tagain\n"                     # line 8: second en row of q-a
        "en\tq-b\n", encoding="utf-8")         # line 9: two cells
    (tmp_path / "data" / "search_queries.tsv").write_text(
        "lang\tquery\tquestion_id\nen\tpick a\tq-a\nzh\t丙\tq-nope\nen\tpick g\tq-a\n", encoding="utf-8")
    aliases, problems = search_hook.alias_problems(tmp_path, {"q-a", "q-b"})
    assert problems == [
        "data/search_aliases.tsv:5: language 'fr' is not one of ['zh', 'en']",
        "data/search_aliases.tsv:6: unknown question id 'q-x'",
        "data/search_aliases.tsv:7: empty phrasing (phrasings are separated by ' | ')",
        "data/search_aliases.tsv:8: en phrasings of 'q-a' already given at line 4",
        "data/search_aliases.tsv:9: 2 tab-separated cells, 3 expected (lang, question_id, phrasings)",
        "data/search_queries.tsv:3: unknown question id 'q-nope'",
    ], problems
    assert aliases[("zh", "q-a")] == ["甲怎么选", "甲和乙", "pick a"]
    assert aliases[("en", "q-a")] == ["how to pick a", "pick a"]     # not "pick g": kept out to test ranking
    (tmp_path / "data" / "search_aliases.tsv").write_text(
        "lang\tquestion_id\tphrasings\nzh\tq-b\t乙\n", encoding="utf-8")
    assert search_hook.alias_problems(tmp_path, {"q-a", "q-b", "q-nope"})[1] == [
        "data/search_aliases.tsv:2: 'q-b' has zh phrasings but no en row"]


def test_questions_carry_their_phrasings(built_site, root):
    """Each question's entry carries its keyword queries (both languages) and its "also asked as"
    phrasings in the ``alias`` field (not the quarter kept to test ranking); the glossary entry is its
    terms, not its notes."""
    import search as search_hook

    queries = handbook.read_tsv(root / "data" / "search_queries.tsv")
    for lang in handbook.LANGS:
        docs = json.loads((built_site / "search" / f"search_index.{lang}.json").read_text(encoding="utf-8"))["docs"]
        alias = {d["location"].partition("#")[2]: d.get("alias", "").replace("\u200b", "") for d in docs}
        assert "alias" in json.loads((built_site / "search" / f"search_index.{lang}.json").read_text(
            encoding="utf-8"))["config"]["fields"]
        for row in queries:
            indexed = not search_hook.keyword_check_only(row["lang"], row["query"])
            assert (row["query"].replace(" ", "") in alias[row["question_id"]].replace(" ", "")) == indexed, (lang, row)
        glossary = next(d for d in docs if d["location"] == _prefix(lang) + "glossary/")
        assert "4-bit NormalFloat" in glossary["text"] and "quantiles" not in glossary["text"]
