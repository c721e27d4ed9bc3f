"""Tests for snippets/fine-tuning/sft_data.py against hand-computed mixing rates."""
import math

import pytest

from snippets import load

sd = load("fine-tuning/sft_data")


def test_proportional_mixing_with_cap_by_hand():
    r = sd.mixing_rates({"a": 900, "b": 100, "c": 10}, cap=300)
    # capped sizes 300, 100, 10 -> total 410
    assert abs(r["a"] - 300 / 410) < 1e-12
    assert abs(r["b"] - 100 / 410) < 1e-12
    assert abs(r["c"] - 10 / 410) < 1e-12


def test_temperature_two_is_square_root_then_renormalize():
    r = sd.mixing_rates({"a": 400, "b": 100}, temperature=2.0)
    # rates 0.8, 0.2 -> sqrt 0.894427, 0.447214 -> 2/3, 1/3
    assert abs(r["a"] - 2 / 3) < 1e-12 and abs(r["b"] - 1 / 3) < 1e-12


def test_high_temperature_tends_to_uniform():
    r = sd.mixing_rates({"a": 10_000, "b": 10, "c": 1}, temperature=1e6)
    assert all(abs(v - 1 / 3) < 1e-4 for v in r.values())
    assert abs(sum(r.values()) - 1) < 1e-12


def test_dedup_normalizes_width_case_and_spaces():
    data = [{"prompt": "Hello  World"}, {"prompt": "hello world"}, {"prompt": "Ｈｅｌｌｏ World "},
            {"prompt": "写一首诗"}, {"prompt": "写一首诗"}, {"prompt": "写两首诗"}]
    assert [d["prompt"] for d in sd.dedup_exact(data)] == ["Hello  World", "写一首诗", "写两首诗"]


def test_dedup_uses_the_given_key():
    data = [{"prompt": "p", "response": "A"}, {"prompt": "p", "response": "B"},
            {"prompt": "q", "response": " a"}]
    assert sd.dedup_exact(data, key="response") == data[:2]    # " a" normalizes to "A"'s key
    assert sd.dedup_exact(data) == [data[0], data[2]]


def test_epochs_per_task_by_hand():
    sizes = {"big": 400, "small": 100}
    # proportional sampling: every task is seen the same number of epochs, total / sum(sizes)
    e = sd.epochs_per_task(sizes, sd.mixing_rates(sizes), 1000)
    assert e["big"] == pytest.approx(2.0) and e["small"] == pytest.approx(2.0)
    # T = 2: rates 2/3 and 1/3 (hand numbers above) -> 1000 * (2/3) / 400 and 1000 * (1/3) / 100
    e = sd.epochs_per_task(sizes, sd.mixing_rates(sizes, temperature=2.0), 1000)
    assert e["big"] == pytest.approx(5 / 3) and e["small"] == pytest.approx(10 / 3)


def test_doremi_update_by_hand():
    # weights (1/2, 1/2), excess loss (ln 3, 0): exp-gradient gives (3/4, 1/4); smoothing 0.1
    # mixes with uniform: 0.9 * 3/4 + 0.05 = 0.725
    w = sd.doremi_update([0.5, 0.5], [math.log(3), 0.0], lr=1.0, smoothing=0.1)
    assert w == pytest.approx([0.725, 0.275])
    # negative excess loss (proxy already better than reference) is clipped: no change
    assert sd.doremi_update([0.2, 0.8], [-1.0, -0.5], smoothing=0.0) == pytest.approx([0.2, 0.8])
    assert sum(sd.doremi_update([0.1, 0.3, 0.6], [0.5, 0.2, 0.0])) == pytest.approx(1.0)
    # lr scales the exponent: lr 1/2 gives exp(ln 3 / 2) = sqrt 3 -> sqrt 3 / (1 + sqrt 3)
    w = sd.doremi_update([0.5, 0.5], [math.log(3), 0.0], lr=0.5, smoothing=0.0)
    assert w == pytest.approx([3 ** 0.5 / (1 + 3 ** 0.5), 1 / (1 + 3 ** 0.5)])
    # the defaults are the paper's: step size 1, smoothing 1e-3 -> 0.999 * 3/4 + 0.001 / 2
    assert sd.doremi_update([0.5, 0.5], [math.log(3), 0.0]) == pytest.approx([0.74975, 0.25025], abs=1e-12)


# --- issue 22: audit size, cost per kept example, distinct-n, MinHash-LSH odds, scoring cost,
# gain per doubling. Oracles: scipy.stats (binomial / beta, linregress), a real MinHash simulation
# with random permutations, and hand-computed values.
import numpy as np
from scipy import stats


def test_audit_size_matches_clopper_pearson_upper_bound():
    n = sd.audit_size_zero_errors(0.01)
    assert n == 299                                   # ln 0.05 / ln 0.99 = 298.07 -> 299
    # one-sided 95% Clopper-Pearson upper bound with 0 errors in n items is 1 - 0.05^(1/n)
    assert stats.beta.ppf(0.95, 1, n) < 0.01 <= stats.beta.ppf(0.95, 1, n - 1)
    # and a 1% error rate would show no error in n items less than 5% of the time
    assert stats.binom.pmf(0, n, 0.01) <= 0.05 < stats.binom.pmf(0, n - 1, 0.01)
    assert sd.audit_size_zero_errors(0.05) == 59         # rule of three: ~3 / 0.05 = 60
    # at 99% confidence: ln 0.01 / ln 0.99 = 458.2 -> 459, again the Clopper-Pearson crossing
    n = sd.audit_size_zero_errors(0.01, confidence=0.99)
    assert n == 459 and stats.beta.ppf(0.99, 1, n) < 0.01 <= stats.beta.ppf(0.99, 1, n - 1)


def test_cost_per_kept_by_hand():
    # USD 0.01 per generated example, 40% pass the gates, USD 0.05 review per kept one
    assert sd.cost_per_kept(0.01, 0.4, 0.05) == pytest.approx(0.075)
    assert sd.cost_per_kept(10.0, 1.0) == 10.0
    for bad in (0.0, -0.5, 1.5):             # a pass rate is a share: outside (0, 1] is a typo
        with pytest.raises(ValueError, match=r"^pass_rate must be in \(0, 1\]$"):
            sd.cost_per_kept(1.0, bad)


def test_distinct_n_by_hand():
    a = "the answer is yes".split()
    b = "the answer is no".split()
    # bigrams: (the answer) x2, (answer is) x2, (is yes), (is no) -> 4 unique / 6
    assert sd.distinct_n([a, b], 2) == pytest.approx(4 / 6)
    assert sd.distinct_n([a, b], 1) == pytest.approx(5 / 8)
    assert sd.distinct_n([a, a], 4) == pytest.approx(1 / 2)
    assert sd.distinct_n([["x"]], 2) == 0.0
    assert sd.distinct_n([a, b]) == pytest.approx(4 / 6)          # the default is distinct-2


def test_lsh_probability_matches_a_minhash_simulation():
    # Two sets with Jaccard exactly 0.6 (60 shared of 100 in the union); 128 random permutations
    # of the universe give 128 MinHashes; count how often some band of 8 rows agrees fully.
    rng = np.random.default_rng(0)
    universe = 100
    a = np.zeros(universe, bool); a[:80] = True           # 0..79
    b = np.zeros(universe, bool); b[20:] = True           # 20..99 -> shared 60 / union 100
    hits, trials, bands, rows = 0, 2000, 16, 8
    for _ in range(trials):
        ranks = np.argsort(rng.random((bands * rows, universe)), axis=1)   # random permutations
        ha = np.where(a[ranks], np.arange(universe), universe).min(axis=1)  # first element of A
        hb = np.where(b[ranks], np.arange(universe), universe).min(axis=1)
        agree = (ranks[np.arange(bands * rows), ha] == ranks[np.arange(bands * rows), hb])
        hits += agree.reshape(bands, rows).all(axis=1).any()
    expected = sd.lsh_candidate_prob(0.6, bands, rows)      # 0.6^8 = 0.016796; 1 - 0.983204^16 = 0.2374
    assert expected == pytest.approx(0.2374, abs=1e-3)
    assert abs(hits / trials - expected) < 3 * (expected * (1 - expected) / trials) ** 0.5


def test_lsh_s_curve_hand_values():
    assert sd.lsh_candidate_prob(0.8, 16, 8) == pytest.approx(1 - (1 - 0.8 ** 8) ** 16)
    assert sd.lsh_candidate_prob(0.8, 16, 8) == pytest.approx(0.947, abs=1e-3)
    assert sd.lsh_candidate_prob(0.5, 16, 8) == pytest.approx(0.0606, abs=1e-3)
    assert sd.lsh_threshold(16, 8) == pytest.approx(0.7071, abs=1e-4)   # 16^(-1/8) = 2^(-1/2)
    assert sd.lsh_candidate_prob(1.0, 4, 4) == 1.0 and sd.lsh_candidate_prob(0.0, 4, 4) == 0.0


def test_scoring_flops_by_hand():
    # 100k examples, 300 prompt + 500 answer tokens, 7B: 2 * 7e9 * 1e5 * (800 + 500) = 1.82e18
    assert sd.scoring_flops(100_000, 300, 500, 7e9) == pytest.approx(1.82e18)
    # the second pass covers the answer only, not the prompt: doubling the prompt adds 300 tokens
    assert sd.scoring_flops(1, 600, 500, 1.0) - sd.scoring_flops(1, 300, 500, 1.0) == pytest.approx(600)


def test_gain_per_doubling_matches_scipy_linregress():
    sizes, scores = [1000, 2000, 4000, 8000, 16000], [52.0, 55.5, 57.0, 60.0, 61.0]
    ref = stats.linregress(np.log2(sizes), scores).slope
    assert sd.gain_per_doubling(sizes, scores) == pytest.approx(ref)
    # exactly +2 points per doubling
    assert sd.gain_per_doubling([1, 2, 4], [10.0, 12.0, 14.0]) == pytest.approx(2.0)


def test_normalize_folds_width_case_and_whitespace():
    assert sd.normalize("  ＨＥＬＬＯ，\u3000World\t!  ") == "hello, world !"            # NFKC: full-width → ASCII
    assert sd.normalize("Ｐｙｔｈｏｎ３") == "python3"


def test_low_temperature_gives_the_largest_task_almost_everything():
    # rates are proportional to n_i^(1/T): T = 0.02 -> (300k / 1M)^50 = 0.3^50 ~ 7.2e-27 relative to "a".
    # Powers of the fractions n_i / total stay <= 1; a power of any count above ~1.5e6 (1e308^(1/50)) overflows.
    r = sd.mixing_rates({"a": 1_000_000, "b": 300_000}, temperature=0.02)
    q = 0.3 ** 50
    assert r["a"] == pytest.approx(1 / (1 + q), rel=1e-12)
    assert r["b"] == pytest.approx(q / (1 + q), rel=1e-9)
    assert r["b"] > 0 and abs(sum(r.values()) - 1) < 1e-12
