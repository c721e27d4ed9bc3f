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
