"""Tests for snippets/safety/ethics_bias.py: rates and gaps counted by hand."""
import math

from snippets import load

eb = load("safety/ethics_bias")


def test_counterfactual_gap_by_hand():
    score = lambda s: {"he": 0.9, "she": 0.5}[s.split()[1]]
    out = eb.counterfactual_gap(score, ["x {group} y", "z {group} w"], {"m": "he", "f": "she"})
    assert math.isclose(out["m"], 0.9) and math.isclose(out["f"], 0.5)
    assert math.isclose(out["max_gap"], 0.4)
    unbiased = eb.counterfactual_gap(lambda s: 0.7, ["a {group}"], {"m": "he", "f": "she"})
    assert unbiased["max_gap"] == 0.0


def test_fairness_gaps_by_hand():
    y_true = [1, 1, 0, 0, 1, 0, 1, 0]
    y_pred = [1, 1, 1, 0, 1, 0, 0, 0]
    group = ["a"] * 4 + ["b"] * 4
    # group a: positive rate 3/4, TPR 2/2, FPR 1/2 ; group b: positive rate 1/4, TPR 1/2, FPR 0/2
    rates = eb.group_rates(y_true, y_pred, group)
    assert rates["a"] == {"positive_rate": 0.75, "tpr": 1.0, "fpr": 0.5}
    assert rates["b"] == {"positive_rate": 0.25, "tpr": 0.5, "fpr": 0.0}
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    assert math.isclose(gaps["demographic_parity_diff"], 0.5)
    assert math.isclose(gaps["equalized_odds_diff"], 0.5)


def test_perfect_classifier_with_different_base_rates():
    # a perfect classifier has equalised odds (TPR 1, FPR 0 everywhere) but not demographic parity
    y_true = [1, 1, 1, 0, 1, 0, 0, 0]
    group = ["a"] * 4 + ["b"] * 4
    gaps = eb.fairness_gaps(y_true, y_true, group)
    assert gaps["equalized_odds_diff"] == 0.0
    assert math.isclose(gaps["demographic_parity_diff"], 0.75 - 0.25)


# --- issue 22: sample size per group, four-fifths rule, DP vs EO, regression-set statistics ---------

def test_n_per_group_by_hand_and_by_simulation():
    import numpy as np
    from scipy.stats import norm
    # (1.95996 + 0.84162)^2 * (0.25 + 0.2475) / 0.05^2 = 7.8489 * 199 = 1561.9 -> 1562
    n = eb.n_per_group(0.50, 0.45)
    assert n == 1562
    # simulate the two-proportion z-test at that n: power should be ~0.80
    rng = np.random.default_rng(0)
    k1 = rng.binomial(n, 0.50, 20000)
    k2 = rng.binomial(n, 0.45, 20000)
    p1, p2 = k1 / n, k2 / n
    se = np.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)
    power = np.mean(np.abs(p1 - p2) / se > norm.ppf(0.975))
    assert 0.78 < power < 0.82
    # a 10-point gap needs about a quarter as many
    assert eb.n_per_group(0.50, 0.40) == math.ceil(7.84887 * (0.25 + 0.24) / 0.01 - 1e-6)


def test_impact_ratio_four_fifths():
    assert math.isclose(eb.impact_ratio({"a": 0.45, "b": 0.30}), 2 / 3)      # fails the 0.8 rule
    assert math.isclose(eb.impact_ratio({"a": 0.50, "b": 0.40, "c": 0.45}), 0.8)


def test_dp_vs_eo_worked_example_from_the_page():
    # group a: 100 people, 60 qualified; group b: 100 people, 30 qualified; a perfect screener
    y_true = [1] * 60 + [0] * 40 + [1] * 30 + [0] * 70
    group = ["a"] * 100 + ["b"] * 100
    gaps = eb.fairness_gaps(y_true, y_true, group)
    assert gaps["equalized_odds_diff"] == 0.0 and math.isclose(gaps["demographic_parity_diff"], 0.30)
    # forcing equal selection (45 each): a keeps its top 45 qualified, b takes all 30 plus 15 unqualified
    y_pred = [1] * 45 + [0] * 15 + [0] * 40 + [1] * 30 + [1] * 15 + [0] * 55
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    assert gaps["demographic_parity_diff"] == 0.0
    # TPR a = 45/60 = 0.75, b = 1.0; FPR a = 0, b = 15/70 = 0.214 -> EO gap 0.25
    assert math.isclose(gaps["equalized_odds_diff"], 0.25)


def test_both_gaps_zero_only_for_a_chance_level_screener():
    # same base rates as above (60% vs 30% qualified)
    y_true = [1] * 60 + [0] * 40 + [1] * 30 + [0] * 70
    group = ["a"] * 100 + ["b"] * 100
    # TPR = FPR = 0.5 in both groups: selects 30 + 20 in a and 15 + 35 in b -> both gaps 0
    y_pred = [1] * 30 + [0] * 30 + [1] * 20 + [0] * 20 + [1] * 15 + [0] * 15 + [1] * 35 + [0] * 35
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    assert gaps["demographic_parity_diff"] == 0.0 and gaps["equalized_odds_diff"] == 0.0
    # an informative screener with equal odds (TPR 0.8, FPR 0.2 in both groups) must break parity:
    # positive rate = FPR + base_rate * (TPR - FPR) -> a: 0.2 + 0.6 * 0.6 = 0.56, b: 0.2 + 0.3 * 0.6 = 0.38
    y_pred = [1] * 48 + [0] * 12 + [1] * 8 + [0] * 32 + [1] * 24 + [0] * 6 + [1] * 14 + [0] * 56
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    assert math.isclose(gaps["equalized_odds_diff"], 0.0, abs_tol=1e-12)
    assert math.isclose(gaps["demographic_parity_diff"], 0.18)


def test_zero_failure_bound_against_beta_quantile():
    from scipy.stats import beta
    for n in (30, 100, 300, 1000):
        # Clopper-Pearson upper bound with 0 failures = Beta(1, n) quantile
        assert math.isclose(eb.zero_failure_upper_bound(n), beta.ppf(0.95, 1, n), rel_tol=1e-9)
        assert abs(eb.zero_failure_upper_bound(n) - 3 / n) < 0.2 * 3 / n       # rule of three
    n = eb.n_for_zero_failure(0.01)
    assert n == 299
    assert eb.zero_failure_upper_bound(n) <= 0.01 < eb.zero_failure_upper_bound(n - 1)


def test_wilson_interval_against_scipy():
    from scipy.stats import binomtest
    for k, n in ((18, 60), (0, 50), (3, 200), (50, 50)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        lo, hi = eb.wilson_interval(k, n, z=1.959963984540054)
        assert math.isclose(lo, ci.low, abs_tol=1e-9) and math.isclose(hi, ci.high, abs_tol=1e-9)


def test_about_80_to_100_cases_put_a_class_rate_within_10_points():
    # page: sample enough cases that the class rate's 95% interval is within +-10 points
    for k, n in ((24, 81), (48, 97), (49, 97)):          # ~30% at n = 81; ~50% (worst case) at n = 97
        lo, hi = eb.wilson_interval(k, n)
        assert (hi - lo) / 2 < 0.10
    lo, hi = eb.wilson_interval(18, 60)                  # the 60-case example is wider: +-11 points
    assert (hi - lo) / 2 > 0.10


def test_fisher_exact_against_scipy():
    from scipy.stats import fisher_exact
    for kb, nb, ka, na in ((18, 60, 0, 300), (5, 40, 2, 40), (3, 20, 3, 20), (0, 10, 4, 30)):
        ref = fisher_exact([[kb, nb - kb], [ka, na - ka]], alternative="greater").pvalue
        assert math.isclose(eb.fisher_exact_greater(kb, nb, ka, na), ref, rel_tol=1e-9)
    # the page's example: 18/60 before vs 0/300 after -> C(60,18) / C(360,18) = 8.8e-16
    assert math.isclose(eb.fisher_exact_greater(18, 60, 0, 300), math.comb(60, 18) / math.comb(360, 18))


def test_equalized_odds_takes_the_larger_of_unequal_gaps_over_three_groups():
    # a: TPR 3/3, FPR 1/3 ; b: TPR 1/3, FPR 0/3 ; c: TPR 2/3, FPR 2/3 (3 positives, 3 negatives each)
    y_true = [1, 1, 1, 0, 0, 0] * 3
    y_pred = [1, 1, 1, 1, 0, 0] + [1, 0, 0, 0, 0, 0] + [1, 1, 0, 1, 1, 0]
    group = ["a"] * 6 + ["b"] * 6 + ["c"] * 6
    rates = eb.group_rates(y_true, y_pred, group)
    assert rates["c"] == {"positive_rate": 4 / 6, "tpr": 2 / 3, "fpr": 2 / 3}
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    # TPR gap = 1 - 1/3 (a vs b); FPR gap = 2/3 - 0 (c vs b): both 2/3, taken over all three groups
    assert math.isclose(gaps["equalized_odds_diff"], 2 / 3)
    # positive rates 4/6, 1/6, 4/6 -> demographic parity gap 3/6 (max over all groups, not a vs b only)
    assert math.isclose(gaps["demographic_parity_diff"], 0.5)
    # unequal gaps: TPR gap 0.5 (1 vs 0.5), FPR gap 0.25 (0.5 vs 0.25): the max is 0.5, the mean 0.375
    y_true = [1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0]
    y_pred = [1, 1, 1, 1, 0, 0, 1, 0, 1, 0, 0, 0]
    group = ["a"] * 6 + ["b"] * 6
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    assert math.isclose(gaps["equalized_odds_diff"], 0.5)
    # positive rates 4/6 and 2/6 -> 1/3
    assert math.isclose(gaps["demographic_parity_diff"], 1 / 3)
    # now the FPR gap is the larger one: TPR gap 0, FPR gap 0.5 (mean of the two would be 0.25)
    y_pred_b = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1]      # a: TPR 1, FPR 0.5 ; b: TPR 1, FPR 1
    assert math.isclose(eb.fairness_gaps(y_true, y_pred_b, group)["equalized_odds_diff"], 0.5)


def test_group_rates_match_sklearn_confusion_matrices():
    import random
    from sklearn.metrics import confusion_matrix
    rnd = random.Random(0)
    y_true = [rnd.randint(0, 1) for _ in range(300)]
    y_pred = [rnd.randint(0, 1) if rnd.random() < 0.5 else t for t in y_true]
    group = [rnd.choice("xyz") for _ in range(300)]
    rates = eb.group_rates(y_true, y_pred, group)
    assert sorted(rates) == ["x", "y", "z"]
    for g, r in rates.items():
        idx = [i for i, x in enumerate(group) if x == g]
        tn, fp, fn, tp = confusion_matrix([y_true[i] for i in idx], [y_pred[i] for i in idx]).ravel()
        assert math.isclose(r["tpr"], tp / (tp + fn)) and math.isclose(r["fpr"], fp / (fp + tn))
        assert math.isclose(r["positive_rate"], (tp + fp) / len(idx))
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    vals = [r["positive_rate"] for r in rates.values()]
    assert math.isclose(gaps["demographic_parity_diff"], max(vals) - min(vals))
    assert math.isclose(gaps["equalized_odds_diff"], max(
        max(r["tpr"] for r in rates.values()) - min(r["tpr"] for r in rates.values()),
        max(r["fpr"] for r in rates.values()) - min(r["fpr"] for r in rates.values())))


def test_counterfactual_gap_averages_over_templates_and_three_groups():
    table = {("a", "he"): 0.9, ("b", "he"): 0.5, ("a", "she"): 0.2, ("b", "she"): 0.4,
             ("a", "they"): 0.6, ("b", "they"): 0.6}
    score = lambda s: table[tuple(s.split())]
    out = eb.counterfactual_gap(score, ["a {group}", "b {group}"], {"m": "he", "f": "she", "n": "they"})
    assert math.isclose(out["m"], 0.7) and math.isclose(out["f"], 0.3) and math.isclose(out["n"], 0.6)
    assert math.isclose(out["max_gap"], 0.4)                   # 0.7 - 0.3


def test_a_group_without_positives_or_negatives_has_no_tpr_or_fpr():
    # group "n" has only negatives (no TPR), group "p" only positives (no FPR); counted by hand
    y_true = [1, 1, 0, 0] + [0, 0, 0] + [1, 1]
    y_pred = [1, 0, 1, 0] + [1, 0, 0] + [1, 1]
    group = ["m"] * 4 + ["n"] * 3 + ["p"] * 2
    rates = eb.group_rates(y_true, y_pred, group)
    assert math.isnan(rates["n"]["tpr"]) and math.isclose(rates["n"]["fpr"], 1 / 3)
    assert math.isnan(rates["p"]["fpr"]) and rates["p"]["tpr"] == 1.0
    assert rates["m"] == {"positive_rate": 0.5, "tpr": 0.5, "fpr": 0.5}
    assert math.isclose(rates["n"]["positive_rate"], 1 / 3) and rates["p"]["positive_rate"] == 1.0


def test_gaps_skip_missing_rates_whatever_the_group_names():
    # TPR defined for two groups (1.0 and 0.5: gap 0.5), FPR for two (0.5 and 1/3: gap 1/6); the third
    # group has no positives. Python's max/min over a NaN depend on where it sits, so name the
    # positive-free group first, in the middle and last (groups are visited in sorted order).
    y_true = [1, 1, 0, 0] + [0, 0, 0] + [1, 1]
    y_pred = [1, 0, 1, 0] + [1, 0, 0] + [1, 1]
    for names in (("b", "a", "c"), ("a", "b", "c"), ("a", "c", "b")):
        group = [names[0]] * 4 + [names[1]] * 3 + [names[2]] * 2
        gaps = eb.fairness_gaps(y_true, y_pred, group)
        assert math.isclose(gaps["equalized_odds_diff"], 0.5), names
        assert math.isclose(gaps["demographic_parity_diff"], 1.0 - 1 / 3), names
    # FPR gap the larger one, with a positive-only group present: FPR 1.0 vs 0.0, TPR 0.5 vs 1.0
    y_true = [1, 1, 0] + [0, 1] + [1, 1]
    y_pred = [1, 0, 1] + [0, 1] + [1, 1]
    for names in (("a", "b", "c"), ("a", "c", "b"), ("b", "c", "a")):
        group = [names[0]] * 3 + [names[1]] * 2 + [names[2]] * 2
        assert math.isclose(eb.fairness_gaps(y_true, y_pred, group)["equalized_odds_diff"], 1.0), names


def test_no_positives_anywhere_leaves_only_the_fpr_gap():
    # equal TPR is vacuous with no positives at all: the equalised-odds gap is the FPR gap (2/3 - 1/4)
    y_true = [0] * 7
    y_pred = [1, 1, 0] + [1, 0, 0, 0]
    group = ["a"] * 3 + ["b"] * 4
    gaps = eb.fairness_gaps(y_true, y_pred, group)
    assert math.isclose(gaps["equalized_odds_diff"], 2 / 3 - 1 / 4)
    assert math.isclose(gaps["demographic_parity_diff"], 2 / 3 - 1 / 4)
    # and with no negatives anywhere, the TPR gap alone: 1 - 1/2
    gaps = eb.fairness_gaps([1] * 4, [1, 1, 1, 0], ["a", "a", "b", "b"])
    assert math.isclose(gaps["equalized_odds_diff"], 0.5)
    # a single group has no gap
    assert eb.fairness_gaps([1, 0, 1], [1, 1, 0], ["a"] * 3) == {"demographic_parity_diff": 0.0,
                                                                  "equalized_odds_diff": 0.0}


def test_n_for_zero_failure_at_exact_powers():
    # dyadic inputs where (1 - max_rate)^n equals 1 - confidence exactly: n itself qualifies
    # (the bound 1 - (1 - confidence)^(1/n) is then max_rate, not above it), so the answer is that n,
    # not n + 1; oracle: the smallest n with (1 - max_rate)^n <= 1 - confidence in exact fractions
    from fractions import Fraction
    for max_rate, confidence, n in ((0.5, 0.75, 2), (0.5, 0.875, 3), (0.25, 0.578125, 3),
                                    (0.5, 1 - 2 ** -10, 10), (0.125, 0.125, 1)):
        q, tail = 1 - Fraction(max_rate), 1 - Fraction(confidence)
        assert n == next(m for m in range(1, 100) if q ** m <= tail)
        assert eb.n_for_zero_failure(max_rate, confidence) == n, (max_rate, confidence)
    # not at an exact power: 0.1 at 90% -> log 0.1 / log 0.9 = 21.85 -> 22
    assert eb.n_for_zero_failure(0.1, 0.9) == 22 == next(m for m in range(1, 100) if 0.9 ** m <= 0.1)
