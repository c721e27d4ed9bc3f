"""The practice page (练习 / Practice) in real Chromium, both languages, online and from file://.

The schedule the page keeps in localStorage (ts-fsrs in the browser) is checked against an independent
implementation of the same algorithm: py-fsrs (``fsrs`` on PyPI, FSRS-6, default parameters, no fuzz),
replaying the same review log with the same clock. The page's clock is Playwright's fake clock."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import handbook
from test_offline import offline_site  # noqa: F401  (the offline edition fixture)

pytestmark = pytest.mark.build
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
CHAPTER = "norms"


def _prefix(lang: str) -> str:
    return "" if lang == handbook.DEFAULT_LANG else f"{lang}/"


def _deck(site: Path, lang: str) -> dict:
    text = (site / "assets" / "practice" / f"questions.{lang}.js").read_text(encoding="utf-8")
    head, _, body = text.partition("=")
    assert head.strip() == "window.HB_PRACTICE"
    return json.loads(body.strip().rstrip(";"))


@pytest.fixture
def page(browser, server):
    """A fresh browser context (empty localStorage) that records every request to another host."""
    context = browser.new_context(accept_downloads=True)
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url)
               if not r.url.startswith((server, "file://", "data:", "blob:", "about:")) else None)
    errors: list[str] = []
    p = context.new_page()
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert outside == [], f"requests to other hosts: {outside[:5]}"
    assert errors == [], f"script errors: {errors[:5]}"


def _open(page, url: str) -> None:
    page.goto(url, wait_until="load")
    page.wait_for_selector(".hb-practice[data-ready=true]", timeout=20_000)


def _stored(page, lang: str) -> dict:
    return json.loads(page.evaluate(f"localStorage.getItem('hb-practice:{lang}')") or "null") or {}


def _only_chapter(page, chapter: str) -> None:
    page.uncheck("#hb-ch-all")
    page.check(f"input[data-chapter={chapter}]")


def _counts(page, chapter: str) -> dict:
    row = page.locator(f"tr[data-chapter={chapter}]")
    return {k: int(row.locator(f"[data-count={k}]").inner_text()) for k in ("due", "new", "learned")}


# ---------------------------------------------------------------- the independent oracle (py-fsrs)
def _oracle(log: list[tuple[str, int, datetime]]) -> dict:
    from fsrs import Card, Rating, Scheduler

    scheduler = Scheduler(enable_fuzzing=False)        # FSRS-6 defaults: 21 parameters, 0.9, 1m/10m, 10m
    cards: dict = {}
    for qid, rating, when in log:
        card = cards.get(qid) or Card(due=when)
        cards[qid], _ = scheduler.review_card(card, Rating(rating), when)
    return cards


def _assert_same(stored: dict, expected: dict) -> None:
    assert set(stored) == set(expected)
    for qid, card in expected.items():
        got = stored[qid]
        due = datetime.fromisoformat(got["due"].replace("Z", "+00:00"))
        assert abs((due - card.due).total_seconds()) < 1, (qid, got["due"], card.due)
        assert got["stability"] == pytest.approx(card.stability, abs=1e-6), qid
        assert got["difficulty"] == pytest.approx(card.difficulty, abs=1e-6), qid
        assert got["state"] == int(card.state), qid


# ---------------------------------------------------------------- tests
def test_practice_data_and_page(built_site):
    """questions.<lang>.js lists every question of questions.json with its short answer, and each URL
    opens the page holding that question; the page loads KaTeX's CSS (its formulas are typeset at build
    time, no KaTeX script), ts-fsrs and its own script."""
    records = json.loads((built_site / "questions.json").read_text(encoding="utf-8"))["questions"]
    for lang in handbook.LANGS:
        deck = _deck(built_site, lang)
        assert deck["lang"] == lang
        assert [q["id"] for q in deck["questions"]] == [r["id"] for r in records]
        assert {q["chapter"] for q in deck["questions"]} == {c["slug"] for c in deck["chapters"]}
        for q, r in zip(deck["questions"], records):
            assert q["answer"] == r["short_answer"][lang] and q["answer"].strip(), q["id"]
            assert q["title"] == r["title"][lang] and q["difficulty"] == r["difficulty"]
            path, _, anchor = q["url"].partition("#")
            assert anchor == q["id"] and path == r["url"][lang].partition("#")[0]
            assert f'id="{anchor}"' in (built_site / path / "index.html").read_text(encoding="utf-8"), q["url"]
        html = (built_site / _prefix(lang) / "practice" / "index.html").read_text(encoding="utf-8")
        assert "katex.min.js" not in html
        for asset in ("vendor/katex/katex.min.css", f"practice/questions.{lang}.js",
                      "vendor/ts-fsrs/ts-fsrs.umd.js", "javascripts/practice.js", "stylesheets/practice.css"):
            assert f'assets/{asset}"' in html, asset
        assert "practice/" in (built_site / _prefix(lang) / "index.html").read_text(encoding="utf-8")  # in the nav
    assert (built_site / "assets/vendor/ts-fsrs/LICENSE").is_file()


# (minutes after T0, grade): the card graded is whichever the page shows, checked against the oracle's
# queue. ts-fsrs counts the days since the last review as UTC calendar days, py-fsrs as whole 24-hour
# periods; they agree when each review of a card falls at a later time of day than the one before, as
# here (08:00-08:16 on day 0, 09:00-09:20 on day 3, 10:00 on day 12). Reviewing at 08:16 and again at
# 08:00 three days later, ts-fsrs sees 3 days and py-fsrs 2, and the new stabilities differ.
STEPS = [(0, 3), (0, 1), (0, 3), (2, 3), (15, 3), (15, 3), (16, 4),
         (3 * 1440 + 60, 2), (3 * 1440 + 60, 3), (3 * 1440 + 61, 1), (3 * 1440 + 80, 3), (12 * 1440 + 120, 3)]


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_drill_schedule_matches_py_fsrs(page, server, built_site, lang):
    """Reveal (Space) and grade (1–4) through a review log over twelve days, reloading before each
    card: the card shown is the oracle's next (earliest due, else the next new one), a graded card is
    no longer due, and every card in localStorage and every count of the chapter match py-fsrs."""
    questions = [q for q in _deck(built_site, lang)["questions"] if q["chapter"] == CHAPTER]
    url = f"{server}{_prefix(lang)}practice/"
    page.clock.set_fixed_time(T0)
    _open(page, url)
    _only_chapter(page, CHAPTER)
    log: list[tuple[str, int, datetime]] = []
    for minutes, rating in STEPS:
        now = T0 + timedelta(minutes=minutes)
        page.clock.set_fixed_time(now)
        page.reload()
        page.wait_for_selector(".hb-practice[data-ready=true]")
        cards = _oracle(log)
        order = {q["id"]: i for i, q in enumerate(questions)}       # ties: the handbook's order
        due = sorted((c.due, order[qid], qid) for qid, c in cards.items() if c.due <= now)
        expected = due[0][2] if due else next(q["id"] for q in questions if q["id"] not in cards)
        shown = page.get_attribute(".hb-practice__card", "data-question")
        assert shown == expected, (minutes, shown, expected)
        assert page.locator(".hb-practice__answer").count() == 0            # hidden until revealed
        page.keyboard.press("Space")
        page.wait_for_selector(".hb-practice__answer")
        assert page.locator(".hb-practice__answer .katex-error").count() == 0
        page.keyboard.press(str(rating))
        log.append((shown, rating, now))
        page.wait_for_function(f"document.querySelector('.hb-practice__card').dataset.question !== '{shown}'")
        cards = _oracle(log)
        assert cards[shown].due > now                                       # graded: no longer due
        _assert_same(_stored(page, lang)["cards"], cards)
        assert [(r["id"], r["rating"]) for r in _stored(page, lang)["log"]] == [(q, r) for q, r, _ in log]
    # the counts as FSRS says, now and later (every due date passes in turn)
    cards = _oracle(log)
    dues = sorted({c.due + timedelta(seconds=1) for c in cards.values()})
    for later in [T0 + timedelta(minutes=STEPS[-1][0]), dues[0], dues[len(dues) // 2], dues[-1]]:
        page.clock.set_fixed_time(later)
        page.reload()
        page.wait_for_selector(".hb-practice[data-ready=true]")
        n_due = sum(c.due <= later for c in cards.values())
        assert _counts(page, CHAPTER) == {"due": n_due, "new": len(questions) - len(cards),
                                          "learned": len(cards) - n_due}, later


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_filters_restrict_the_deck(page, server, built_site, lang):
    """Chapter, difficulty and tag filters restrict the cards the drill shows, and are kept on reload."""
    questions = _deck(built_site, lang)["questions"]
    _open(page, f"{server}{_prefix(lang)}practice/")
    assert page.locator(".hb-practice__total [data-total=new]").inner_text() == str(len(questions))
    chapter = "transformer"
    _only_chapter(page, chapter)
    page.uncheck("input[data-difficulty='1']")
    page.uncheck("input[data-difficulty='3']")
    subset = [q for q in questions if q["chapter"] == chapter and q["difficulty"] == 2]
    assert subset and page.locator(".hb-practice__total [data-total=new]").inner_text() == str(len(subset))
    tag = subset[-1]["tags"][0]
    page.select_option("select[data-filter=tag]", tag)
    tagged = [q["id"] for q in subset if tag in q["tags"]]
    page.reload()
    page.wait_for_selector(".hb-practice[data-ready=true]")
    assert page.input_value("select[data-filter=tag]") == tag
    assert not page.is_checked("input[data-difficulty='1']") and page.is_checked(f"input[data-chapter={chapter}]")
    seen = []
    for _ in tagged:
        seen.append(page.get_attribute(".hb-practice__card", "data-question"))
        page.click(".hb-practice__reveal")
        page.click(".hb-practice__grade--4")      # Easy: days away, so the next card is a new one
    assert seen == tagged
    assert page.locator(".hb-practice__card[data-question]").count() == 0     # nothing else in scope
    assert page.locator(".hb-practice__empty").count() == 1


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_export_reset_import_restores_progress(page, server, tmp_path, lang):
    """Export the progress to a JSON file, reset, import the file: the same state and counts again."""
    _open(page, f"{server}{_prefix(lang)}practice/")
    _only_chapter(page, CHAPTER)
    for rating in (1, 3, 4):
        page.click(".hb-practice__reveal")
        page.click(f".hb-practice__grade--{rating}")
    before, counts = _stored(page, lang), _counts(page, CHAPTER)
    assert len(before["cards"]) == 3 and counts["new"] > 0
    with page.expect_download() as download:
        page.click("[data-action=export]")
    saved = tmp_path / "progress.json"
    download.value.save_as(saved)
    assert json.loads(saved.read_text(encoding="utf-8"))["cards"] == before["cards"]
    page.once("dialog", lambda d: d.accept())
    page.click("[data-action=reset]")
    assert _stored(page, lang) == {}
    assert _counts(page, "basics")["new"] > 0 and _counts(page, CHAPTER)["learned"] == 0
    page.set_input_files("#hb-import-file", str(saved))
    page.wait_for_function(f"localStorage.getItem('hb-practice:{lang}') !== null")
    after = _stored(page, lang)
    assert after["cards"] == before["cards"] and after["log"] == before["log"]
    page.reload()
    page.wait_for_selector(".hb-practice[data-ready=true]")
    assert _counts(page, CHAPTER) == counts
    other = next(x for x in handbook.LANGS if x != lang)          # the other language's page refuses it
    _open(page, f"{server}{_prefix(other)}practice/")
    page.set_input_files("#hb-import-file", str(saved))
    page.wait_for_function("document.querySelector('.hb-practice__status').textContent !== ''")
    assert _stored(page, other) == {}


@pytest.mark.parametrize("lang", handbook.LANGS)
def test_mock_interview_ends_with_a_summary(page, server, built_site, lang):
    """Three random questions with a per-question timer (the second runs out), no answer shown before
    the end, then a summary with answers, links and self-grades that enter the schedule."""
    deck = {q["id"]: q for q in _deck(built_site, lang)["questions"]}
    page.clock.install(time=T0)
    _open(page, f"{server}{_prefix(lang)}practice/")
    _only_chapter(page, CHAPTER)
    page.click("#hb-tab-mock")
    page.fill("#hb-mock-count", "3")
    page.fill("#hb-mock-minutes", "0.5")
    page.click("[data-action=start-mock]")
    asked = []
    for i in range(3):
        page.wait_for_selector(f"#hb-panel-mock .hb-practice__card[data-index='{i}']")
        qid = page.get_attribute("#hb-panel-mock .hb-practice__card", "data-question")
        assert deck[qid]["chapter"] == CHAPTER and qid not in asked
        asked.append(qid)
        assert page.locator("#hb-panel-mock .hb-practice__answer").count() == 0
        if i == 1:
            page.clock.run_for(31_000)         # time is up: the page moves on by itself
        else:
            page.fill("#hb-mock-notes", f"note {i}")
            page.clock.run_for(5_000)
            page.click("#hb-panel-mock [data-action=next]")
    items = page.locator(".hb-practice__summary > li")
    page.wait_for_selector(".hb-practice__summary")
    assert items.count() == 3
    assert [items.nth(i).get_attribute("data-question") for i in range(3)] == asked
    assert "0:30" in items.nth(1).inner_text() and "note 0" in items.nth(0).inner_text()
    for i, qid in enumerate(asked):
        href = items.nth(i).locator("h3 a").get_attribute("href")
        assert href.endswith(deck[qid]["url"]) and items.nth(i).locator(".hb-practice__short").inner_text().strip()
    items.nth(0).locator(".hb-practice__grade--3").click()
    items.nth(2).locator(".hb-practice__grade--1").click()
    assert items.nth(0).locator(".hb-practice__graded").count() == 1
    stored = _stored(page, lang)
    assert set(stored["cards"]) == {asked[0], asked[2]}
    now = datetime.fromisoformat(stored["log"][0]["review"].replace("Z", "+00:00"))
    _assert_same(stored["cards"], _oracle([(asked[0], 3, now), (asked[2], 1, now)]))


def test_practice_works_from_file(offline_site, browser):
    """The offline edition from file://: the drill keeps its schedule across a reload in both languages,
    links go to the .html pages, and the mock interview ends with a summary."""
    context = browser.new_context()
    outside: list[str] = []
    context.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file://", "data:", "blob:", "about:"))
               else None)
    page = context.new_page()
    for lang in handbook.LANGS:
        _open(page, (offline_site / _prefix(lang) / "practice.html").as_uri())
        first = page.get_attribute(".hb-practice__card", "data-question")
        page.keyboard.press("Space")
        link = page.get_attribute(".hb-practice__full", "href")
        target, _, anchor = link.partition("#")
        assert target.endswith(".html") and anchor == first
        assert (offline_site / _prefix(lang) / target).resolve().is_file(), link
        page.keyboard.press("3")
        page.reload()
        page.wait_for_selector(".hb-practice[data-ready=true]")
        assert page.get_attribute(".hb-practice__card", "data-question") != first
        assert first in _stored(page, lang)["cards"]
        page.click("#hb-tab-mock")
        page.fill("#hb-mock-count", "1")
        page.click("[data-action=start-mock]")
        page.click("#hb-panel-mock [data-action=next]")
        page.wait_for_selector(".hb-practice__summary > li .katex, .hb-practice__summary > li .hb-practice__short")
        assert page.locator(".hb-practice__summary > li").count() == 1
    context.close()
    assert outside == [], f"requests to other hosts: {outside[:5]}"
