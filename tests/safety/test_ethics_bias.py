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
