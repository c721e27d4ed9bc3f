"""Tests for snippets/agents/frameworks.py: the loop-token formula against a simulated loop,
dependency closure against a hand-built graph and real package metadata, request diffs on prompts
rendered by langchain-core, percentiles against numpy, the sample size against scipy's Wilson
interval, and cost, latency and shortlist against hand-computed values."""
import importlib.metadata

import numpy as np
import pytest
from langchain_core.prompts import ChatPromptTemplate
from packaging.requirements import Requirement
from scipy.stats import binomtest

from snippets import load

fw = load("agents/frameworks")


def test_loop_input_tokens_matches_a_simulated_loop():
    for fixed, per_step, n in [(1500, 300, 5), (800, 0, 3), (100, 250, 1), (2000, 123, 12)]:
        history, total = 0, 0
        for _ in range(n):                    # each step re-sends fixed + history, then appends
            total += fixed + history
            history += per_step
        assert fw.loop_input_tokens(fixed, per_step, n) == total
    assert fw.loop_input_tokens(1500, 300, 5) == 10_500          # by hand: 7,500 + 300 * 10


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


def test_transitive_requirements_of_installed_langchain_core():
    deps = fw.transitive_requirements("langchain-core")
    direct = {Requirement(r).name.lower().replace("_", "-")
              for r in importlib.metadata.requires("langchain-core") if "extra ==" not in r}
    assert direct <= deps                                  # every direct dependency is in
    assert "pydantic-core" in deps                         # only reachable through pydantic
    assert "langchain-core" not in deps and len(deps) > len(direct)


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
    with pytest.raises(ValueError):
        fw.bakeoff_summary({"a": runs["sdk"], "b": runs["sdk"][:2]})


def test_examples_for_margin_hand_and_wilson():
    assert fw.examples_for_margin(0.07) == 196               # 1.96^2 * 0.25 / 0.0049 = 196.0
    assert fw.examples_for_margin(0.05) == 385               # 384.16 rounded up
    assert fw.examples_for_margin(0.05, p=0.9) == 139        # 138.3: rarer outcomes need fewer
    # At n = 200 and a 50% rate, scipy's Wilson interval is about +-6.8 points.
    ci = binomtest(100, 200).proportion_ci(confidence_level=0.95, method="wilson")
    assert (ci.high - ci.low) / 2 == pytest.approx(0.068, abs=0.001)


def test_cost_latency_and_shortlist_by_hand():
    # 2,000 input + 500 output tokens at $1 / $4 per million: $0.002 + $0.002 per task.
    assert fw.cost_per_1k_tasks(2000, 500, 1.0, 4.0) == pytest.approx(4.0)
    assert fw.cost_per_1k_tasks(2000, 500, 4.0, 1.0) == pytest.approx(8.5)   # prices not swapped
    assert fw.task_latency_s(0.4, 500, 50) == pytest.approx(0.4 + 499 / 50)
    assert fw.task_latency_s(0.4, 1, 50) == pytest.approx(0.4)
    models = {"big": {"quality": 0.86, "usd_per_1k": 12.0},
              "mid": {"quality": 0.84, "usd_per_1k": 3.0},
              "edge": {"quality": 0.83, "usd_per_1k": 2.0},     # exactly 0.03 below: kept
              "small": {"quality": 0.78, "usd_per_1k": 0.8}}
    assert fw.shortlist(models, 0.03) == ["edge", "mid", "big"]
    assert fw.shortlist(models, 0.0) == ["big"]
