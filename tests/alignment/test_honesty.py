"""Tests for snippets/alignment/honesty.py against scikit-learn and hand-computed values."""
import numpy as np
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_auc_score

from snippets import load

ho = load("alignment/honesty")


def test_known_label_threshold_boundary():
    c = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    assert ho.known_label(c, 0.5).tolist() == [True, False, True]   # 0.5 is known (>=), 0.25 is not
    assert ho.known_label(c, 0.75).tolist() == [False, False, True]


def test_ece_by_hand_and_against_sklearn_bins():
    # bin [0.2, 0.3): conf 0.2, 0.2 with one correct -> |0.5 - 0.2| ; bin [0.9, 1.0]: 0.9, 1.0 both right
    conf = torch.tensor([0.2, 0.2, 0.9, 1.0])
    correct = torch.tensor([1, 0, 1, 1])
    expected = 0.5 * abs(0.5 - 0.2) + 0.5 * abs(1.0 - 0.95)
    assert abs(ho.ece(conf, correct) - expected) < 1e-6      # float32 inputs
    g = torch.Generator().manual_seed(1)
    conf = torch.rand(500, generator=g, dtype=torch.float64)
    correct = (torch.rand(500, generator=g, dtype=torch.float64) < conf ** 2).int()
    prob_true, prob_pred = calibration_curve(correct.numpy(), conf.numpy(), n_bins=10, strategy="uniform")
    counts = np.histogram(conf.numpy(), bins=np.linspace(0, 1, 11))[0]
    ref = float(np.sum(counts[counts > 0] / 500 * np.abs(prob_true - prob_pred)))
    assert abs(ho.ece(conf, correct) - ref) < 1e-9
    # that model is over-confident in every bin, so its ECE is mean(conf) - mean(correct) whatever the
    # binning; a flat accuracy of about 0.5 crosses the diagonal, and there the number of bins matters
    correct = (torch.rand(500, generator=g, dtype=torch.float64) < 0.5).int()
    for n_bins in (10, 7):
        prob_true, prob_pred = calibration_curve(correct.numpy(), conf.numpy(), n_bins=n_bins, strategy="uniform")
        counts = np.histogram(conf.numpy(), bins=np.linspace(0, 1, n_bins + 1))[0]
        ref = float(np.sum(counts[counts > 0] / 500 * np.abs(prob_true - prob_pred)))
        got = ho.ece(conf, correct) if n_bins == 10 else ho.ece(conf, correct, n_bins=n_bins)
        assert abs(got - ref) < 1e-9
    assert abs(ho.ece(conf, correct) - ho.ece(conf, correct, n_bins=11)) > 1e-4      # 3.5e-4 apart


def test_auroc_matches_sklearn_with_ties():
    g = torch.Generator().manual_seed(2)
    conf = torch.randint(0, 5, (300,), generator=g).double() / 4          # many ties
    correct = (torch.rand(300, generator=g, dtype=torch.float64) < conf).int()
    assert abs(ho.auroc(conf, correct) - roc_auc_score(correct.numpy(), conf.numpy())) < 1e-12


def test_selective_rates_by_hand():
    conf = torch.tensor([0.9, 0.8, 0.6, 0.3, 0.1])
    correct = torch.tensor([1, 1, 0, 1, 0])
    r = ho.selective(conf, correct, 0.5)                                 # answers the first three
    assert r == {"coverage": 0.6, "selective_acc": 2 / 3, "correct": 0.4, "incorrect": 0.2, "abstain": 0.4}
    assert ho.selective(conf, correct, 0.0)["abstain"] == 0.0
    assert abs(sum(ho.selective(conf, correct, 0.7)[k] for k in ("correct", "incorrect", "abstain")) - 1) < 1e-12


def test_known_label_default_tau_is_one_half():
    c = torch.tensor([[1, 0], [1, 1], [0, 0]])                     # 0.5 is known (>=)
    assert ho.known_label(c).tolist() == [True, True, False]
    assert ho.known_label(torch.tensor([[1, 0, 0, 0, 0], [1, 1, 1, 0, 0]])).tolist() == [False, True]   # 0.4, 0.6


def test_ece_confidence_one_is_in_the_top_bin():
    # conf 1.0, 1.0, 0.95 all fall in [0.9, 1.0]: acc 2/3, mean conf 0.98333 -> ECE = |2/3 - 0.98333|
    conf = torch.tensor([1.0, 1.0, 0.95], dtype=torch.float64)
    correct = torch.tensor([1, 0, 1])
    assert abs(ho.ece(conf, correct) - abs(2 / 3 - 2.95 / 3)) < 1e-12
    # n_bins=2 by hand: [0, 0.5) holds 0.1, 0.3 (acc 0, conf 0.2); [0.5, 1] holds 0.6, 1.0 (acc 1, conf 0.8)
    conf = torch.tensor([0.1, 0.3, 0.6, 1.0], dtype=torch.float64)
    assert abs(ho.ece(conf, torch.tensor([0, 0, 1, 1]), n_bins=2) - 0.2) < 1e-12


def test_selective_threshold_is_inclusive_and_abstaining_on_everything_is_safe():
    conf = torch.tensor([0.5, 0.5, 0.2])
    correct = torch.tensor([1, 0, 1])
    r = ho.selective(conf, correct, 0.5)                   # conf == threshold is answered
    assert r == {"coverage": 2 / 3, "selective_acc": 0.5, "correct": 1 / 3, "incorrect": 1 / 3, "abstain": 1 / 3}
    r = ho.selective(torch.tensor([0.9, 0.2]), torch.tensor([1, 0]), 0.5)     # exactly one answered, right
    assert r == {"coverage": 0.5, "selective_acc": 1.0, "correct": 0.5, "incorrect": 0.0, "abstain": 0.5}
    r = ho.selective(conf, correct, 0.9)                   # nothing answered: no division by zero
    assert r == {"coverage": 0.0, "selective_acc": 0.0, "correct": 0.0, "incorrect": 0.0, "abstain": 1.0}
