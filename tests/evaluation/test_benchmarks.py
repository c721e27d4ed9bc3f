"""Tests for snippets/evaluation/benchmarks.py: hand-counted n-grams and hand-computed statistics; the
fresh-set gap against scipy's chi-square test on the 2x2 table."""
import itertools
import math

import pytest

from snippets import load

b = load("evaluation/benchmarks")


@pytest.fixture(autouse=True)
def _every_test_finishes_in_60_s():
    """_chi2_sf iterates until a series/continued fraction converges: a bug there must fail the test that
    hit it (whichever runs first), not hang the run. See _Deadline below."""
    with _Deadline(60):
        yield


def test_overlap_counts_by_hand():
    # test item: 6 tokens -> 4 trigrams: (a b c) (b c d) (c d e) (d e f); corpus contains "x a b c d y"
    # -> (a b c) and (b c d) are seen: 2 / 4
    assert math.isclose(b.ngram_overlap("A b, c d E f", ["x a b c d y"], n=3), 0.5)
    assert b.ngram_overlap("a b c d e f", ["f e d c b a"], n=3) == 0.0
    assert b.ngram_overlap("a b c d e f", ["zz a b c d e f zz"], n=3) == 1.0


def test_overlap_short_items_and_chinese():
    assert b.ngram_overlap("hello world", ["say hello world now"], n=13) == 1.0   # n shrinks to 2
    assert b.normalise("小明有3个苹果") == ["小", "明", "有", "3", "个", "苹", "果"]
    # 7 tokens -> 5 trigrams; corpus has 小明有 / 明有3 / 有3个 -> 3 of 5
    assert math.isclose(b.ngram_overlap("小明有3个苹果", ["今天小明有3个梨"], n=3), 3 / 5)


def test_prompt_robustness_hand_computed():
    runs = [[True, True, False, True], [True, False, False, True], [True, True, True, True]]
    r = b.prompt_robustness(runs)
    assert math.isclose(r["mean"], (0.75 + 0.5 + 1.0) / 3)
    assert r["min"] == 0.5 and r["max"] == 1.0 and r["spread"] == 0.5
    # items: (T,T,T) consistent, (T,F,T) no, (F,F,T) no, (T,T,T) consistent -> 2/4
    assert r["consistency"] == 0.5
    # an item every variant gets WRONG is consistent too (answered the same way): items
    # (T,T) yes, (F,F) yes, (T,F) no, (F,T) no, (F,F) yes -> 3/5; counting only all-right items gives 1/5
    r = b.prompt_robustness([[True, False, True, False, False], [True, False, False, True, False]])
    assert math.isclose(r["consistency"], 3 / 5)
    assert math.isclose(r["mean"], 0.4) and r["spread"] == 0.0


def _pass_hat_k_brute_force(outcomes: list[bool], k: int) -> float:
    subsets = list(itertools.combinations(outcomes, k))
    return sum(all(s) for s in subsets) / len(subsets)


def test_pass_hat_k_matches_enumeration_of_all_subsets():
    # oracle: enumerate every k-subset of the recorded trials and count the all-success ones
    for outcomes in ([True] * 5 + [False] * 3, [True, False] * 4, [True] * 8, [False] * 8, [True] + [False] * 7):
        n, c = len(outcomes), sum(outcomes)
        for k in range(1, n + 1):
            assert math.isclose(b.pass_hat_k(n, c, k), _pass_hat_k_brute_force(outcomes, k))


def test_pass_hat_k_by_hand_and_unbiased_for_p_to_the_k():
    assert math.isclose(b.pass_hat_k(8, 6, 2), 15 / 28)
    assert b.pass_hat_k(8, 3, 4) == 0.0                   # fewer successes than k
    assert b.pass_hat_k(8, 8, 8) == 1.0
    # unbiasedness: average over the binomial distribution of c equals p^k exactly
    n, k, p = 8, 3, 0.6
    expectation = sum(math.comb(n, c) * p ** c * (1 - p) ** (n - c) * b.pass_hat_k(n, c, k) for c in range(n + 1))
    assert math.isclose(expectation, p ** k)
    # benchmark level: two always-solved tasks and two coin-flip tasks
    assert math.isclose(b.benchmark_pass_hat_k([8, 8, 4, 4], 8, 1), 0.75)
    assert math.isclose(b.benchmark_pass_hat_k([8, 8, 4, 4], 8, 8), 0.5)
    with pytest.raises(ValueError):
        b.pass_hat_k(4, 2, 5)


# --- fresh-set gap. Oracles: scipy's chi-square test on the 2x2 table (chi2 = z^2 without continuity
# correction, same p-value) and a hand computation of the detectable gap.
import numpy as np
from scipy import stats


@pytest.mark.parametrize("k1,n1,k2,n2", [(1108, 1319, 975, 1250), (500, 1000, 480, 1000), (90, 120, 70, 110)])
def test_fresh_gap_matches_chi_square(k1, n1, k2, n2):
    gap, z, p = b.fresh_set_gap(k1, n1, k2, n2)
    chi2, p_ref, dof, _ = stats.chi2_contingency(np.array([[k1, n1 - k1], [k2, n2 - k2]]), correction=False)
    assert dof == 1
    assert math.isclose(z * z, chi2, rel_tol=1e-9)
    assert math.isclose(p, p_ref, rel_tol=1e-7)
    assert math.isclose(gap, k1 / n1 - k2 / n2)


def test_detectable_gap_by_hand():
    # 1.96 * sqrt(0.16 * (1/1319 + 1/1250)) = 1.96 * sqrt(0.16 * 0.0015582) = 1.96 * 0.015790 = 0.03095
    assert abs(b.detectable_gap(0.8, 1319, 1250) - 0.03095) < 2e-5
    # a gap exactly at the detectable size gives |z| ~ 1.96 (pooled rate ~ p)
    assert abs(b.detectable_gap(0.5, 10_000, 10_000) - 1.96 * math.sqrt(0.25 * 2e-4)) < 1e-12


# --- Cochran's Q. Oracles: a hand-worked 3 x 4 table, McNemar's statistic for K = 2, and
# scipy.stats.chi2.sf for the tail probability.
def test_chi2_tail_matches_scipy():
    for df in (1, 2, 3, 9, 30):
        for x in (0.01, 0.5, 1.0, 3.0, 8.0, 20.0, 60.0):
            assert math.isclose(b._chi2_sf(x, df), stats.chi2.sf(x, df), rel_tol=1e-9, abs_tol=1e-14)


def test_cochran_q_by_hand():
    correct = [[1, 1, 0, 1], [1, 0, 0, 1], [0, 0, 0, 1]]
    # C = (3, 2, 1), T = 6, sum R^2 = 14: Q = 2 (3 * 14 - 36) / (18 - 14) = 3.0; df 2 -> p = exp(-1.5)
    q, p = b.cochran_q([[bool(x) for x in row] for row in correct])
    assert math.isclose(q, 3.0) and math.isclose(p, math.exp(-1.5))


def test_cochran_q_reduces_to_mcnemar_for_two_variants():
    rng = np.random.default_rng(3)
    a = rng.random(400) < 0.7
    c = np.where(rng.random(400) < 0.15, ~a, a)
    q, p = b.cochran_q([a.tolist(), c.tolist()])
    n01, n10 = int((a & ~c).sum()), int((~a & c).sum())
    assert math.isclose(q, (n01 - n10) ** 2 / (n01 + n10))
    assert math.isclose(p, stats.chi2.sf(q, 1), rel_tol=1e-9)


def test_cochran_q_zero_when_variants_agree():
    same = [[True, False, True]] * 4
    assert b.cochran_q(same) == (0.0, 1.0)


def _template_runs(seed: int, drop: float):
    rng = np.random.default_rng(seed)
    base = rng.random(500) < 0.7
    same = np.where(rng.random((10, 500)) < 0.1, ~base, base)          # 10 equivalent templates
    hurt = same.copy()
    hurt[0] &= rng.random(500) > drop                                   # template 0 loses ~drop x 66%
    return same.tolist(), hurt.tolist()


def test_chance_spread_of_equivalent_templates_is_about_4_points():
    """Median over 200 runs, not one seed. Oracle: the expected range of 10 normal draws is
    d2 = 3.078 standard deviations (control-chart constant), sigma = sqrt(0.1 * 0.9 / 500)."""
    spreads = [b.prompt_robustness(_template_runs(s, 0.08)[0])["spread"] for s in range(200)]
    assert np.median(spreads) == pytest.approx(3.078 * math.sqrt(0.09 / 500), abs=0.004)   # ~4.1 points
    assert np.percentile(spreads, 2.5) < 0.03 and np.percentile(spreads, 97.5) > 0.055


def test_power_to_detect_a_5_point_worse_template_is_about_three_quarters():
    hits = [b.cochran_q(_template_runs(s, 0.08)[1])[1] < 0.05 for s in range(200)]
    assert 0.62 <= np.mean(hits) <= 0.86                        # page: ~75%, borderline, not "always"
    size = [b.cochran_q(_template_runs(s, 0.08)[0])[1] < 0.05 for s in range(200)]
    assert np.mean(size) <= 0.10                                # equivalent templates: ~5% false alarms


# --- issue 22: error bars, paired comparison and the cost of an eval run ---------------------------

def test_margin_and_sample_size_against_scipy_and_hand():
    from scipy.stats import norm
    z = norm.ppf(0.975)
    # 1,000 items at 50%: 1.959964 * 0.0158114 = 0.0309898 -> "+-3 points"
    assert math.isclose(b.margin_of_error(0.5, 1000, z), 0.0309898, rel_tol=1e-5)
    # +-2 points at 50% needs 1.96^2 * 0.25 / 0.0004 = 2400.9 -> 2401 items (an off-by-one would give 2400)
    n = b.items_for_margin(0.5, 0.02)
    assert n == 2401
    assert b.margin_of_error(0.5, n) <= 0.02 < b.margin_of_error(0.5, n - 1)
    # at 90% accuracy the same margin needs far fewer items: 1.96^2 * 0.09 / 0.0004 = 864.4 -> 865
    assert b.items_for_margin(0.9, 0.02) == 865
    # factuality page: SimpleQA 4,326 items at 40% -> +-1.5 points; 500 items -> +-4.3;
    # sycophancy probe: 400 initially correct items at a 20% flip rate -> 1.96 * 0.02 = +-3.9 points
    assert round(100 * b.margin_of_error(0.4, 4326, z), 1) == 1.5
    assert round(100 * b.margin_of_error(0.4, 500, z), 1) == 4.3
    assert round(100 * b.margin_of_error(0.2, 400, z), 1) == 3.9


def test_paired_ci_matches_sample_variance_of_differences():
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.random(500) < 0.7
    bb = np.where(rng.random(500) < 0.1, ~a, a)
    diff, half = b.paired_diff_ci(a.tolist(), bb.tolist())
    d = a.astype(float) - bb.astype(float)
    assert math.isclose(diff, d.mean())
    assert math.isclose(half, 1.96 * d.std(ddof=0) / math.sqrt(len(d)), rel_tol=1e-9)
    # identical models: zero difference and zero width; hand case: 3 items A-only, 1 B-only of 10
    assert b.paired_diff_ci([True, False], [True, False]) == (0.0, 0.0)
    A = [True] * 3 + [False] + [True] * 6
    B = [False] * 3 + [True] + [True] * 6
    diff, half = b.paired_diff_ci(A, B)
    # d = (1,1,1,-1,0*6): mean 0.2, E[d^2] = 0.4, var = 0.4 - 0.04 = 0.36, se = 0.6 / sqrt(10)
    assert math.isclose(diff, 0.2) and math.isclose(half, 1.96 * 0.6 / math.sqrt(10))


def test_paired_ci_is_narrower_than_unpaired_when_models_agree():
    import numpy as np
    rng = np.random.default_rng(1)
    a = rng.random(2000) < 0.75
    bb = np.where(rng.random(2000) < 0.05, ~a, a)
    _, half = b.paired_diff_ci(a.tolist(), bb.tolist())
    unpaired = 1.96 * math.sqrt(2 * 0.75 * 0.25 / 2000)
    assert half < unpaired / 2


def test_noninferiority_rule_by_hand_and_by_simulation():
    from scipy.stats import norm
    # 1,500 items, 10% discordant: se = sqrt(0.1 / 1500) = 0.0081650, half-width 1.96 * se = 0.0160 (1.6 points)
    se = math.sqrt(0.1 / 1500)
    assert round(100 * 1.96 * se, 1) == 1.6
    # an equal model passes iff observed diff >= -0.02 + 0.0160 = -0.004 -> P = Phi(0.004 / se) = Phi(0.49)
    assert math.isclose(b.noninferiority_pass_rate(0.0, 0.10, 1500), norm.cdf((0.02 - 1.96 * se) / se), rel_tol=1e-9)
    assert 0.68 < b.noninferiority_pass_rate(0.0, 0.10, 1500) < 0.70
    assert 0.95 < b.noninferiority_pass_rate(0.01, 0.10, 1500) < 0.96
    # 80% pass for an equal model: (1.96 + 0.8416)^2 * 0.1 / 0.0004 = 1962.3 -> 1963 items
    assert b.items_for_noninferiority(0.10) == 1963
    assert b.noninferiority_pass_rate(0.0, 0.10, 1963) >= 0.8 > b.noninferiority_pass_rate(0.0, 0.10, 1962)
    # independent check: simulate two equally good models through paired_diff_ci; per item, 5% only the
    # candidate is right, 5% only production is right (10% discordant), otherwise they agree
    import random
    rng = random.Random(7)
    passes, reps = 0, 1500
    for _ in range(reps):
        u = [rng.random() for _ in range(1500)]
        cand = [x < 0.05 or x >= 0.35 for x in u]           # right on [0, 0.05) and [0.35, 1)
        prod = [0.05 <= x < 0.10 or x >= 0.35 for x in u]   # right on [0.05, 0.10) and [0.35, 1)
        d, h = b.paired_diff_ci(cand, prod)
        passes += (d - h) >= -0.02
    assert abs(passes / reps - 0.688) < 0.04


def test_false_block_rate():
    assert math.isclose(b.false_block_rate(6), 1 - 0.95 ** 6)
    assert round(b.false_block_rate(6), 3) == 0.265
    assert math.isclose(b.false_block_rate(1), 0.05)


def test_eval_run_cost_by_hand():
    # 8,000 items x 4 samples x 600 tokens = 19.2 M tokens; / 2,500 tok/s = 7,680 s = 2.1333 GPU-h; x $2.5
    hours, usd = b.eval_run_cost(8000, 4, 600, 2500, 2.5)
    assert math.isclose(hours, 7680 / 3600) and math.isclose(usd, 7680 / 3600 * 2.5)


# --- mutation-testing follow-up (issue 18): defaults, boundaries and error messages ------------------

def test_normalise_lower_cases_and_splits_chinese_by_hand():
    assert b.normalise("Hello, WORLD! 你好") == ["hello", "world", "你", "好"]
    # case must not hide overlap, whichever side is upper-case
    assert b.ngram_overlap("THE QUICK BROWN", ["the quick brown fox"], n=3) == 1.0


def test_overlap_default_n_is_13_as_in_gpt3():
    # 14 distinct tokens -> two 13-grams; the corpus holds only the first 13 tokens -> 1 of 2 seen.
    # With n = 14 the only 14-gram is unseen (0.0); with n = 12 two of three 12-grams are seen.
    words = [f"w{i}" for i in range(14)]
    item, corpus = " ".join(words), [" ".join(["x"] + words[:13] + ["y"])]
    assert b.ngram_overlap(item, corpus) == 0.5
    assert b.ngram_overlap(item, corpus, n=13) == 0.5
    assert b.ngram_overlap(item, corpus, n=14) == 0.0
    assert math.isclose(b.ngram_overlap(item, corpus, n=12), 2 / 3)


def test_overlap_one_token_and_empty_items():
    # a one-token item uses n = 1: it is dirty iff that token occurs in the corpus
    assert b.ngram_overlap("Hello!", ["well hello there"]) == 1.0
    assert b.ngram_overlap("hello", ["goodbye"]) == 0.0
    assert b.ngram_overlap("a b c", ["c"], n=1) == 1 / 3
    # an item with no word tokens has no n-grams: overlap 0, not 1 and not a ZeroDivisionError
    assert b.ngram_overlap("", ["a b c"]) == 0.0
    assert b.ngram_overlap("?! ...", ["a b c"]) == 0.0


def test_chi2_tail_at_zero_and_cochran_q_zero_statistic():
    # Q = 0 with informative items: each variant gets one item right -> C = (1, 1), Q = 0, p = 1
    assert b.cochran_q([[True, False], [False, True]]) == (0.0, 1.0)
    for df in (1, 2, 5):
        assert b._chi2_sf(0.0, df) == 1.0 == stats.chi2.sf(0.0, df)


class _Deadline:
    """Fail (instead of hanging) if the body runs longer than `seconds` of wall time: a series that never
    converges (e.g. a term that is not multiplied by its ratio) must be a test failure, not a stuck run."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def _fire(self, *_):
        raise TimeoutError(f"did not finish within {self.seconds} s")

    def __enter__(self):
        import signal
        self._old = signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc):
        import signal
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._old)


def test_chi2_tail_matches_mpmath_to_near_machine_precision():
    # oracle: mpmath's regularised upper incomplete gamma Q(df/2, x/2) at 40 digits; both the series branch
    # (x/2 < df/2 + 1) and the continued fraction must be accurate, and both must terminate quickly
    import mpmath
    mpmath.mp.dps = 40
    for df in (1, 2, 3, 7, 20, 40):
        for x in (0.05, 1.0, df - 0.5, df + 2.0, df + 2.5, 2.0 * df + 5, 80.0):
            ref = float(mpmath.gammainc(df / 2, x / 2, mpmath.inf, regularized=True))
            assert math.isclose(b._chi2_sf(x, df), ref, rel_tol=1e-13), (x, df)
    # large df (x near df, p near 1/2): the series must run until its terms are 1e-15 of the sum
    for x in (99_000.0, 100_000.0, 100_003.0):
        ref = float(mpmath.gammainc(50_000, x / 2, mpmath.inf, regularized=True))
        assert math.isclose(b._chi2_sf(x, 100_000), ref, rel_tol=4e-10), x


def test_pass_hat_k_rejects_bad_k_with_a_clear_message():
    for n, c, k in ((4, 2, 5), (4, 2, 0), (4, 2, -1)):
        with pytest.raises(ValueError, match=r"^need 1 <= k <= n$"):
            b.pass_hat_k(n, c, k)


def test_items_for_noninferiority_exact_integer_case_and_defaults():
    # power 0.5 -> z_power = 0; z = 2: 2^2 * 0.1 / 0.02^2 = 1000 exactly, and at n = 1000 an equal model
    # passes with probability Phi((0.02 - 2 * 0.01) / 0.01) = 1/2 = power, so 1000 (not 1001) is the answer
    assert b.items_for_noninferiority(0.10, margin=0.02, power=0.5, z=2.0) == 1000
    assert b.noninferiority_pass_rate(0.0, 0.10, 1000, margin=0.02, z=2.0) == pytest.approx(0.5, abs=1e-12)
    assert b.items_for_noninferiority(0.10) == b.items_for_noninferiority(0.10, 0.02, 0.8, 1.96) == 1963
