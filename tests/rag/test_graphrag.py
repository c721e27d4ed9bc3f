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


# --- issue 22: GraphRAG indexing cost and a swap-debiased pairwise evaluation ---

def test_n_chunks_matches_actual_windowing():
    ch = load("rag/chunking")
    for total, size, overlap in ((10, 4, 1), (1_000, 600, 100), (1_100, 600, 100),
                                 (12_345, 600, 100), (600, 600, 100), (5, 600, 100)):
        windows = ch.fixed_size_chunks("x" * total, size, overlap)
        assert g.n_chunks(total, size, overlap) == len(windows)
    assert g.n_chunks(1_000_000, 600, 100) == 2_000              # (1e6 - 100) / 500, rounded up


def test_graphrag_index_tokens_by_hand():
    # Edge et al. Podcast corpus: 1,669 chunks of 600 tokens, 1 gleaning
    tin, tout = g.graphrag_index_tokens(1_669)
    extraction_in = 1_669 * (2_300 + 600)                         # 4,840,100
    gleaning_in = 1_669 * (2_300 + 600 + 1_000)                   # 6,509,100
    reports_in = 2_680 * 8_000                                    # 21,440,000
    assert tin == extraction_in + gleaning_in + reports_in == 32_789_200
    assert tout == 1_669 * 1_000 + 1_669 * 500 + 2_680 * 584 == 4_068_620
    # Claude Sonnet 5.5 (Dec 2026), $2 / $10: 65.5784 + 40.6862 = ~$106
    assert g.usd(tin, tout, 2, 10) == pytest.approx(65.5784 + 40.6862, abs=1e-3)
    # Claude Haiku 5.5, $0.10 / $0.50 (every call < 100k tokens): 3.2789 + 2.0343 = ~$5.3
    assert g.usd(tin, tout, 0.10, 0.50) == pytest.approx(3.27892 + 2.03431, abs=1e-4)
    # C2 global query: 565,720 input tokens at $2/M; plain-RAG baseline: 8,000 tokens
    assert g.usd(565_720, 0, 2, 0) == pytest.approx(1.13144)
    assert g.usd(8_000, 0, 2, 0) == pytest.approx(0.016)
    assert g.usd(1_000_000, 1_000_000, 2, 10) == 12.0              # prices are per million tokens, exactly
    # embeddings for the ~1M-token corpus at $0.02/M, and the ratio to Haiku 5.5 indexing
    emb = g.usd(1_669 * 600, 0, 0.02, 0)
    assert emb == pytest.approx(0.020028)
    assert g.usd(tin, tout, 0.10, 0.50) / 0.02 == pytest.approx(265.7, abs=0.1)
    # a second gleaning round re-reads the first gleaning's output too
    tin2, tout2 = g.graphrag_index_tokens(10, gleanings=2, reports=0)
    assert tin2 == 10 * (2_900 + 3_900 + 4_400) and tout2 == 10 * (1_000 + 500 + 500)
    assert g.graphrag_index_tokens(10, gleanings=0, reports=0) == (29_000, 10_000)


def test_debiased_wins_by_hand():
    ab = [1, 1, -1, 0, 1, -1]
    ba = [-1, 1, 1, -1, 0, -1]
    # q0: A wins both orders; q1: first-shown wins both times -> position bias -> tie;
    # q2: B wins both; q3, q4: tie in one order -> tie; q5: second-shown wins twice -> tie
    assert g.debiased_wins(ab, ba) == (1, 1, 4)
    # a judge that always prefers the first-shown answer produces no wins at all
    assert g.debiased_wins([1] * 50, [1] * 50) == (0, 0, 50)
    # several wins each, and B's win needs the swap to agree too (B first, B wins: ba = +1)
    assert g.debiased_wins([1, 1, -1, -1, -1, -1], [-1, -1, 1, 1, 1, -1]) == (2, 3, 1)
    assert g.debiased_wins([-1, -1], [1, -1]) == (0, 1, 1)


def test_sign_test_matches_scipy():
    from scipy.stats import binomtest
    for a, b in ((70, 20), (30, 20), (9, 1), (5, 5), (0, 12), (1, 0)):
        assert g.sign_test_p(a, b) == pytest.approx(binomtest(a, a + b, 0.5).pvalue, rel=1e-9)
    assert g.sign_test_p(0, 0) == 1.0
