"""Tests for snippets/rag/graphrag.py: the expected-rounds closed form against a Monte Carlo
simulation of the stopping rule, and token and latency totals against hand sums."""
import numpy as np
import pytest

from snippets import load

g = load("rag/graphrag")


def test_expected_rounds_matches_simulation_of_the_stopping_rule():
    rng = np.random.default_rng(0)
    for p, cap in ((0.5, 5), (0.3, 4), (0.9, 3)):
        enough = rng.random((200_000, cap)) < p                       # round k finds enough?
        first = np.where(enough.any(axis=1), enough.argmax(axis=1) + 1, cap)
        assert g.expected_rounds(p, cap) == pytest.approx(first.mean(), abs=0.01)
    assert g.expected_rounds(0.5, 5) == pytest.approx(1.9375)        # 1 + .5 + .25 + .125 + .0625
    assert g.expected_rounds(1.0, 5) == 1.0


def test_tokens_and_latency_by_hand():
    s = g.LoopShape()
    # each earlier round stays in context: 100 output + 1,500 observation = 1,600 tokens
    # rounds read 2000, 3600, 5200; the answer reads 2000 + 3 * 1600 = 6800; total 17,600
    assert g.agentic_tokens(3, s) == (2_000 + 3_600 + 5_200 + 6_800, 600) == (17_600, 600)
    # 5 rounds: 2000 + 3600 + 5200 + 6800 + 8400 = 26,000, answer 10,000
    assert g.agentic_tokens(5, s) == (36_000, 800)
    assert 17_600 / 2_500 == pytest.approx(7.04) and 36_000 / 2_500 == pytest.approx(14.4)
    # per round 0.5 + 100 * 0.04 + 0.2 = 4.7 s; answer 0.5 + 300 * 0.04 = 12.5 s
    assert g.agentic_latency(3, s) == pytest.approx(3 * 4.7 + 12.5)
    assert g.one_shot(s) == (2_500, pytest.approx(12.7))
    assert g.agentic_tokens(0, s) == (2_000, 300)                     # no search: just answer


def test_blended_cost_is_linear_between_the_two_pipelines():
    assert g.blended(0.0, 2_500, 17_600) == 2_500
    assert g.blended(1.0, 2_500, 17_600) == 17_600
    assert g.blended(0.2, 2_500, 17_600) == pytest.approx(5_520)     # 2,000 + 3,520; 2.2x
