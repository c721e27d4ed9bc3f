"""Tests for snippets/agents/frameworks.py: the loop-token formula against a simulated loop,
dependency closure against a hand-built graph and real package metadata, request diffs on prompts
rendered by langchain-core, percentiles against numpy, the sample size against scipy's Wilson
interval, the paired gap against exact McNemar and a simulation, the ReAct scaffold size by hand
and by langchain-core rendering, the dependency counts against the pinned requirements, and cost,
latency and shortlist against hand-computed values."""
import importlib.metadata
from pathlib import Path

import numpy as np
import pytest
from langchain_core.prompts import ChatPromptTemplate, PromptTemplate
from packaging.requirements import Requirement
from scipy.stats import binomtest

from snippets import load

fw = load("agents/frameworks")
ROOT = Path(__file__).resolve().parents[2]


def test_loop_input_tokens_matches_a_simulated_loop():
    for fixed, per_step, n in [(1500, 300, 5), (800, 0, 3), (100, 250, 1), (2000, 123, 12)]:
        history, total = 0, 0
        for _ in range(n):                    # each step re-sends fixed + history, then appends
            total += fixed + history
            history += per_step
        assert fw.loop_input_tokens(fixed, per_step, n) == total
    assert fw.loop_input_tokens(1500, 300, 5) == 10_500          # by hand: 7,500 + 300 * 10
    # exact integers past 2**53, where true division would round: n * fixed + per_step * C(n, 2)
    import math
    got = fw.loop_input_tokens(1, 1_001, 10**8)
    assert isinstance(got, int) and got == 10**8 + 1_001 * math.comb(10**8, 2)


def test_transitive_requirements_on_a_hand_built_graph():
    graph = {
        "app": ["Lib_A>=1", "lib-b; python_version >= '3.0'", "lib-c; extra == 'docs'",
                "lib-d; python_version < '3.0'"],
        "lib-a": ["lib-e", "app"],            # a cycle back to the root
        "lib-b": ["lib-e", "lib.f"],
        "lib-e": [],
        "lib-f": None,
    }
    got = fw.transitive_requirements("app", requires=lambda n: graph.get(n, []))
    # extras-only (lib-c) and markers false here (lib-d) are skipped; names are normalised
    assert got == {"lib-a", "lib-b", "lib-e", "lib-f"}


def test_transitive_requirements_skips_extras_and_false_markers_in_any_position():
    import importlib.metadata as md
    graph = {
        "My_App": ["old-lib; python_version < '3.0'",          # skipped, and the walk goes on
                   "docs-lib; extra == 'docs'", "x-lib; extra == 'xxxx'",   # extras, whatever the name
                   "core.Lib", "gone-lib"],
        "core-lib": ["my.app", "leaf"],                        # a cycle back to the root, spelt differently
        "leaf": [],
    }

    def requires(name):
        if name not in graph:                                  # like importlib.metadata for a missing dist
            raise md.PackageNotFoundError(name)
        return graph[name]
    assert fw.transitive_requirements("My_App", requires=requires) == {"core-lib", "leaf", "gone-lib"}


def test_transitive_requirements_of_installed_langchain_core():
    deps = fw.transitive_requirements("langchain-core")
    direct = {Requirement(r).name.lower().replace("_", "-")
              for r in importlib.metadata.requires("langchain-core") if "extra ==" not in r}
    assert direct <= deps                                  # every direct dependency is in
    assert "pydantic-core" in deps                         # only reachable through pydantic
    assert "langchain-core" not in deps and len(deps) > len(direct)


def test_react_scaffold_size_by_hand_and_by_rendering():
    size = fw.scaffold_size(fw.REACT_PROMPT)
    assert size == {"words": 86, "chars": 534, "tokens": 133.5}      # counted by hand
    # placeholders in any case are removed, as langchain-core fills them
    mixed = "Hi {Name}, use {TOOL_list} for {x}."
    rendered = PromptTemplate.from_template(mixed).format(Name="", TOOL_list="", x="")
    assert fw.scaffold_size(mixed) == {"words": 5, "chars": len(rendered), "tokens": len(rendered) / 4}
    assert rendered == "Hi , use  for ."
    tmpl = PromptTemplate.from_template(fw.REACT_PROMPT)               # langchain-core parses it
    assert sorted(tmpl.input_variables) == ["agent_scratchpad", "input", "tool_names", "tools"]
    assert len(tmpl.format(**{v: "" for v in tmpl.input_variables})) == size["chars"]


def _pins():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("#")[0].strip().split("==")
            pins[name.strip().lower().replace("_", "-").replace(".", "-")] = version.strip()
    return pins


def test_dependency_counts_quoted_on_the_page_hold_for_the_pinned_versions():
    deps = fw.transitive_requirements("langchain-core")
    pins = _pins()
    for dist in deps | {"langchain-core"}:                 # the environment IS the lockfile
        assert pins.get(dist) == importlib.metadata.version(dist), dist
    direct = [r for r in importlib.metadata.requires("langchain-core") if "extra ==" not in r]
    assert (len(direct), len(deps)) == (10, 32)
    assert len(fw.transitive_requirements("langsmith")) == 24
    assert len(fw.transitive_requirements("jsonschema")) == 5


def _payload(template, question):
    msgs = template.invoke({"question": question}).to_messages()
    return {"model": "m", "messages": [{"role": m.type, "content": m.content} for m in msgs]}


def test_changed_requests_catches_a_prompt_change_from_an_upgrade():
    v1 = ChatPromptTemplate.from_messages([("system", "Answer briefly."), ("human", "{question}")])
    v2 = ChatPromptTemplate.from_messages([("system", "Answer briefly. "), ("human", "{question}")])
    questions = {"q1": "What is RAG?", "q2": "What is MCP?"}
    before = {i: _payload(v1, q) for i, q in questions.items()}
    same = {i: _payload(v1, q) for i, q in questions.items()}
    after = {i: _payload(v2, q) for i, q in questions.items()}
    assert fw.changed_requests(before, same) == []
    assert fw.changed_requests(before, after) == ["q1", "q2"]     # one trailing space is enough
    # key order inside the payload is not a change; a missing example is
    reordered = {i: dict(reversed(list(p.items()))) for i, p in before.items()}
    assert fw.changed_requests(before, reordered) == []
    assert fw.changed_requests(before, {"q1": before["q1"]}) == ["q2"]


@pytest.mark.parametrize("n", [1, 7, 20, 99, 100, 101, 1000])
def test_nearest_rank_percentile_matches_numpy(n):
    rng = np.random.default_rng(n)
    xs = rng.lognormal(0, 1, n).tolist()
    for q in (50, 90, 95, 99):
        assert fw.nearest_rank_percentile(xs, q) == np.percentile(xs, q, method="inverted_cdf")


def test_bakeoff_summary_by_hand_and_requires_same_examples():
    runs = {"sdk": [{"passed": True, "tokens": 1000, "latency_s": 1.0},
                    {"passed": False, "tokens": 1200, "latency_s": 3.0},
                    {"passed": True, "tokens": 800, "latency_s": 2.0}],
            "framework": [{"passed": True, "tokens": 1500, "latency_s": 1.5},
                          {"passed": True, "tokens": 1500, "latency_s": 4.0},
                          {"passed": True, "tokens": 1800, "latency_s": 2.5}]}
    out = fw.bakeoff_summary(runs)
    assert out["sdk"] == {"pass_rate": pytest.approx(2 / 3), "mean_tokens": 1000.0, "p95_latency_s": 3.0}
    assert out["framework"] == {"pass_rate": 1.0, "mean_tokens": 1600.0, "p95_latency_s": 4.0}
    with pytest.raises(ValueError, match="^every candidate must run the same examples$"):
        fw.bakeoff_summary({"a": runs["sdk"], "b": runs["sdk"][:2]})
    # 100 examples: p95 is the 95th smallest latency (numpy's inverted_cdf), not the 96th
    import random
    lat = [float(i) for i in range(1, 101)]
    random.Random(0).shuffle(lat)
    hundred = [{"passed": i % 4 != 0, "tokens": 10 * i, "latency_s": t} for i, t in enumerate(lat)]
    out = fw.bakeoff_summary({"m": hundred})["m"]
    assert out == {"pass_rate": 0.75, "mean_tokens": 495.0,
                   "p95_latency_s": np.percentile(lat, 95, method="inverted_cdf")}
    assert out["p95_latency_s"] == 95.0


def test_examples_for_margin_hand_and_wilson():
    assert fw.examples_for_margin(0.07) == 196               # 1.96^2 * 0.25 / 0.0049 = 196.0
    assert fw.examples_for_margin(0.05) == 385               # 384.16 rounded up
    assert fw.examples_for_margin(0.05, p=0.9) == 139        # 138.3: rarer outcomes need fewer
    # At n = 200 and a 50% rate, scipy's Wilson interval is about +-6.8 points.
    ci = binomtest(100, 200).proportion_ci(confidence_level=0.95, method="wilson")
    assert (ci.high - ci.low) / 2 == pytest.approx(0.068, abs=0.001)


def test_cost_latency_and_shortlist_by_hand():
    # 2,000 input + 500 output tokens at $1 / $4 per million: $0.002 + $0.002 per task.
    assert fw.cost_per_1k_tasks(2000, 500, 1.0, 4.0) == pytest.approx(4.0, rel=1e-12)
    assert fw.cost_per_1k_tasks(2000, 500, 4.0, 1.0) == pytest.approx(8.5, rel=1e-12)   # prices not swapped
    assert fw.task_latency_s(0.4, 500, 50) == pytest.approx(0.4 + 499 / 50)
    assert fw.task_latency_s(0.4, 1, 50) == pytest.approx(0.4)


def test_paired_gap_by_hand_and_against_mcnemar():
    n = 200
    best = [True] * 160 + [False] * 40
    one_way = [False] * 10 + [True] * 150 + [False] * 40          # loses 10, wins 0
    two_way = [False] * 30 + [True] * 150 + [False] * 20          # loses 30, wins 20
    gap, half = fw.paired_gap(best, one_way)
    assert gap == pytest.approx(0.05)
    assert half == pytest.approx(1.96 * np.sqrt((10 / n - 0.05 ** 2) / n))   # 0.0302, by hand
    d = np.array(best, int) - np.array(two_way, int)
    gap2, half2 = fw.paired_gap(best, two_way)
    assert gap2 == pytest.approx(0.05) and half2 == pytest.approx(1.96 * d.std() / np.sqrt(n))
    # Same 5-point gap, opposite verdicts, and exact McNemar (binomial test on the discordant
    # pairs) agrees: 10 vs 0 is significant, 30 vs 20 is not.
    assert gap - half > 0 and binomtest(10, 10).pvalue < 0.05
    assert gap2 - half2 < 0 and binomtest(30, 50).pvalue > 0.05
    for a, b in [(best, one_way[:-1]), ([], [])]:
        with pytest.raises(ValueError, match="^both models must be scored on the same examples$"):
            fw.paired_gap(a, b)
    # one example is enough to compute (a zero-width interval: no spread to estimate)
    assert fw.paired_gap([True], [False]) == (1.0, 0.0)


def test_paired_margin_matches_a_simulation():
    assert fw.examples_for_paired_margin(0.03, 0.2) == 854          # 1.96^2 * 0.2 / 0.0009 = 853.7
    assert fw.examples_for_paired_margin(0.03, 0.1) == 427
    # 200 examples, 20% discordant split evenly, no true gap: the spread of the observed gap
    # matches +-6.2 points; two independent 50% rates would give +-9.8.
    rng = np.random.default_rng(0)
    u = rng.random((20_000, 200))
    gaps = ((u < 0.1).astype(int) - ((u >= 0.1) & (u < 0.2)).astype(int)).mean(axis=1)
    assert 1.96 * gaps.std() == pytest.approx(1.96 * np.sqrt(0.2 / 200), rel=0.03)   # 0.062
    unpaired = rng.binomial(200, 0.5, 20_000) / 200 - rng.binomial(200, 0.5, 20_000) / 200
    assert 1.96 * unpaired.std() == pytest.approx(0.098, rel=0.03)


def test_shortlist_keeps_only_models_not_significantly_worse():
    big = [True] * 160 + [False] * 40                                 # 80%, most expensive
    mid = [False] * 10 + [True] * 150 + [False] * 40                  # 75%, loses 10 / wins 0
    small = [False] * 30 + [True] * 150 + [False] * 20                # 75%, loses 30 / wins 20
    cost = {"big": 12.0, "mid": 3.0, "small": 0.8}
    assert fw.shortlist({"big": big, "mid": mid, "small": small}, cost) == ["small", "big"]
    assert fw.shortlist({"big": big, "twin": list(big)}, {"big": 12.0, "twin": 1.0}) == ["twin", "big"]
    # equal prices: the higher pass rate comes first, whatever the names' alphabetical order
    one_less = [False] + big[1:]                                     # 79.5%: loses 1 example, not significant
    assert fw.shortlist({"big": big, "beta": list(big), "alpha": one_less},
                        {"big": 12.0, "beta": 1.0, "alpha": 1.0}) == ["beta", "alpha", "big"]
    # two models tie for the best rate (80%) but disagree on 60 examples: the cheaper one is the
    # reference. "c" loses 10 examples and wins none against the dear one (significant: exact
    # McNemar 10 vs 0) but loses 40 and wins 30 against the cheap one (not significant), so it stays.
    cheap = [True] * 160 + [False] * 40
    dear = [False] * 30 + [True] * 160 + [False] * 10
    c = [False] * 40 + [True] * 150 + [False] * 10
    assert binomtest(10, 10).pvalue < 0.05 < binomtest(40, 70).pvalue
    kept = fw.shortlist({"dear": dear, "cheap": cheap, "c": c}, {"dear": 9.0, "cheap": 2.0, "c": 1.0})
    assert kept == ["c", "cheap", "dear"]


def test_request_fingerprint_is_sha256_of_the_canonical_request():
    import hashlib
    request = {"model": "m", "messages": [{"role": "user", "content": "你好"}], "temperature": 0}
    # canonical form written out by hand: keys sorted, UTF-8 kept, default separators
    canonical = '{"messages": [{"content": "你好", "role": "user"}], "model": "m", "temperature": 0}'
    assert fw.request_fingerprint(request) == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert fw.request_fingerprint(dict(reversed(list(request.items())))) == fw.request_fingerprint(request)
    changed = {**request, "messages": [{"role": "user", "content": "你好 "}]}       # one trailing space
    assert fw.request_fingerprint(changed) != fw.request_fingerprint(request)
