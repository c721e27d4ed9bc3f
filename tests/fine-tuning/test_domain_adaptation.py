"""Tests for snippets/fine-tuning/domain_adaptation.py with hand-made overlaps."""
import math

import pytest

from snippets import load

da = load("fine-tuning/domain_adaptation")


def test_ngrams_count():
    toks = "a b c d e".split()
    assert da.ngrams(toks, 3) == {("a", "b", "c"), ("b", "c", "d"), ("c", "d", "e")}
    assert len(da.ngrams(toks, 6)) == 0


def test_contamination_flags_by_hand():
    train = ["the patient was given 5 mg of drug x daily for two weeks".split()]
    evals = [
        "was given 5 mg of drug".split(),                  # 6 tokens, shares 4-grams
        "the doctor prescribed something else entirely".split(),
        "drug x".split(),                                  # shorter than n, occurs verbatim
        "drug y".split(),                                  # shorter than n, absent
    ]
    assert da.contaminated(evals, train, n=4) == [True, False, True, False]
    # With n = 7 the first item (6 tokens) must occur verbatim — it does.
    assert da.contaminated(evals[:1], train, n=7) == [True]
    # A 7-token item whose 7-gram is not in the document is clean at n = 7 but dirty at n = 3.
    item = ["given", "5", "mg", "of", "drug", "z", "daily"]
    assert da.contaminated([item], train, n=7) == [False]
    assert da.contaminated([item], train, n=3) == [True]


def test_contamination_default_is_gpt3_13_grams_over_every_training_doc():
    words = [f"w{i}" for i in range(40)]
    train = [words[:20], words[20:]]                       # two documents
    # eval items of 16 tokens that share exactly 13 (resp. 12) consecutive tokens with a doc
    share13_doc2 = ["x1", "x2", "x3"] + words[22:35]
    share12_doc1 = ["x1", "x2", "x3", "x4"] + words[5:17]
    assert da.contaminated([share13_doc2, share12_doc1], train) == [True, False]
    assert da.contaminated([share12_doc1], train, n=12) == [True]
    # a short item is looked for in every doc, not only the first
    assert da.contaminated([words[30:33], words[18:22]], train, n=5) == [True, False]   # 18..22 spans the two docs


# --- eval-set statistics: sample size, paired test, annotator agreement ------------------------

def test_items_for_margin_matches_scipy_quantile_and_hand_numbers():
    from scipy.stats import norm
    for p, e in ((0.5, 0.05), (0.5, 0.03), (0.8, 0.03), (0.9, 0.02)):
        z = norm.ppf(0.975)
        assert da.items_for_margin(p, e) == math.ceil(z * z * p * (1 - p) / e ** 2)
    assert da.items_for_margin(0.5, 0.05) == 385          # 1.96^2 * 0.25 / 0.0025 = 384.1
    assert da.items_for_margin(0.5, 0.03) == 1068
    assert da.items_for_margin(0.8, 0.03) == 683


def test_items_for_margin_gives_the_promised_ci_width():
    """The binomial (Wilson) interval and a seeded bootstrap both come out at about +-3 points."""
    import numpy as np
    from scipy.stats import binomtest
    n = da.items_for_margin(0.5, 0.03)
    ci = binomtest(n // 2, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (ci.high - ci.low) / 2 == pytest.approx(0.03, abs=0.001)
    rng = np.random.default_rng(0)
    scores = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n - n // 2)])
    boots = rng.choice(scores, size=(4000, n), replace=True).mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    assert (hi - lo) / 2 == pytest.approx(0.03, abs=0.003)


@pytest.mark.parametrize("b,c", [(40, 22), (10, 10), (0, 7), (25, 5), (3, 0)])
def test_mcnemar_matches_scipy_binomtest(b, c):
    from scipy.stats import binomtest
    assert da.mcnemar_exact_p(b, c) == pytest.approx(binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)


def test_cohen_kappa_matches_sklearn_and_hand_value():
    import random
    from sklearn.metrics import cohen_kappa_score
    a = ["ok", "ok", "bad", "ok", "bad", "ok", "ok", "bad"]
    b = ["ok", "bad", "bad", "ok", "bad", "ok", "ok", "ok"]
    assert da.cohen_kappa(a, b) == pytest.approx(7 / 15)    # (0.75 - 34/64) / (1 - 34/64)
    rng = random.Random(0)
    for _ in range(5):
        x = [rng.choice("abc") for _ in range(50)]
        y = [xi if rng.random() < 0.6 else rng.choice("abc") for xi in x]
        assert da.cohen_kappa(x, y) == pytest.approx(cohen_kappa_score(x, y))


def test_fleiss_kappa_by_hand_and_against_scotts_pi():
    # 5 items, 3 raters: P_i = 1, 1/3, 1, 1/3, 1 -> P_bar = 11/15; p_j = 0.6, 0.4 -> P_e = 0.52
    assert da.fleiss_kappa([[3, 0], [2, 1], [0, 3], [1, 2], [3, 0]]) == pytest.approx((11 / 15 - 0.52) / 0.48)
    assert da.fleiss_kappa([[3, 0, 0], [0, 3, 0], [0, 0, 3]]) == pytest.approx(1.0)
    # a single item: P_1 = (4 + 1 - 3) / 6 = 1/3, p_j = 2/3, 1/3 -> P_e = 5/9 -> (1/3 - 5/9) / (4/9)
    assert da.fleiss_kappa([[2, 1]]) == pytest.approx(-0.5)
    # with 2 raters Fleiss' kappa is Scott's pi: chance agreement from the pooled marginals
    a = list("aabbcacbab")
    b = list("abbbcacaab")
    cats = "abc"
    counts = [[(x == k) + (y == k) for k in cats] for x, y in zip(a, b)]
    p_o = sum(x == y for x, y in zip(a, b)) / len(a)
    pooled = [(a.count(k) + b.count(k)) / (2 * len(a)) for k in cats]
    p_e = sum(q * q for q in pooled)
    assert da.fleiss_kappa(counts) == pytest.approx((p_o - p_e) / (1 - p_e))


# --- issue 22: cost of domain adaptation. Oracles: hand-computed values and the defining property
# of a break-even point (both options cost the same there).
def test_train_gpu_hours_by_hand():
    # 6 * 7e9 * 1e9 = 4.2e19 FLOPs at 0.4 * 989e12 = 3.956e14 FLOP/s -> 29.49 h
    assert da.train_gpu_hours(7e9, 1e9) == pytest.approx(29.49, abs=0.01)
    # BloombergGPT-sized run: 6 * 50.6e9 * 569e9 = 303.6 * 569 e18 = 1.727484e23 FLOPs
    assert da.train_gpu_hours(50.6e9, 569e9, peak_flops=1.0, utilization=1.0) * 3600 == pytest.approx(1.727484e23, rel=1e-6)
    assert da.train_gpu_hours(7e9, 200e9) == pytest.approx(200 * da.train_gpu_hours(7e9, 1e9))
    # the defaults are the documented H100 SXM dense BF16 peak (989 TFLOP/s) at 40%
    assert da.train_gpu_hours(7e9, 1e9) == da.train_gpu_hours(7e9, 1e9, peak_flops=989e12, utilization=0.4)


def test_api_cost_and_breakeven_by_hand():
    # 3,000 input tokens at USD 2/M + 300 output tokens at USD 10/M = 0.006 + 0.003
    assert da.api_cost_per_query(3000, 300, 2.0, 10.0) == pytest.approx(0.009)
    # prices are per million tokens: a million of each costs exactly the listed price
    assert da.api_cost_per_query(1_000_000, 0, 2.0, 10.0) == 2.0
    assert da.api_cost_per_query(0, 1_000_000, 2.0, 10.0) == 10.0
    q = da.breakeven_queries_per_day(2, 2.5, 3000, 300, 2.0, 10.0)
    assert q == pytest.approx(120 / 0.009)                 # 2 GPUs * 24 h * USD 2.5 = USD 120 a day
    # at the break-even volume the API bill equals the GPU bill
    assert q * da.api_cost_per_query(3000, 300, 2.0, 10.0) == pytest.approx(2 * 24 * 2.5)


def test_breakeven_with_engineering_cost_by_hand():
    # GPUs USD 120/day = USD 3,600 per 30-day month; + USD 10,000 of staff = USD 13,600 a month
    # = USD 453.33 a day; / USD 0.009 per query = 50,370 queries a day
    q = da.breakeven_queries_per_day(2, 2.5, 3000, 300, 2.0, 10.0, other_usd_per_month=10_000)
    assert q == pytest.approx(13_600 / 30 / 0.009)
    assert round(q) == 50_370
    # the staff term alone moves break-even by 10,000 / 30 / 0.009 = 37,037 queries a day
    q0 = da.breakeven_queries_per_day(2, 2.5, 3000, 300, 2.0, 10.0)
    assert q - q0 == pytest.approx(37_037, abs=1)


def test_decode_bound_by_hand():
    # 14 GB of weights read per step at 3.35 TB/s -> 239.3 steps/s; batch 32 -> 7,657 tokens/s
    assert da.decode_tokens_per_s_bound(14e9, 3.35e12, 1) == pytest.approx(239.29, abs=0.01)
    assert da.decode_tokens_per_s_bound(14e9, 3.35e12, 32) == pytest.approx(32 * 3.35e12 / 14e9)


def test_contains_is_a_contiguous_span_test():
    doc = "the cat sat on the mat".split()
    assert da._contains(doc, ["sat", "on"]) and da._contains(doc, ["the", "mat"])
    assert not da._contains(doc, ["cat", "on"])                        # a subsequence, not a span
    assert da._contains(doc, doc) and not da._contains(["a"], ["a", "b"])
    assert da._contains(doc, [])                                       # the empty span is everywhere
