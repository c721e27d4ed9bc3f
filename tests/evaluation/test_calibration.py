"""Tests for snippets/evaluation/calibration.py: a toy set computed by hand, and a known temperature."""
import math

import torch

from snippets import load

cal = load("evaluation/calibration")


def test_ece_toy_set_by_hand():
    conf = torch.tensor([0.95, 0.92, 0.91, 0.65, 0.62, 0.3])
    correct = torch.tensor([1, 1, 0, 1, 0, 0])
    # 10 bins: bin (0.9,1.0]: conf mean 0.9267, acc 2/3 -> gap 0.26; weight 3/6
    #          bin (0.6,0.7]: conf mean 0.635, acc 1/2 -> gap 0.135; weight 2/6
    #          bin (0.2,0.3]: conf 0.3, acc 0 -> gap 0.3; weight 1/6
    expected = 3 / 6 * abs(2 / 3 - (0.95 + 0.92 + 0.91) / 3) + 2 / 6 * abs(0.5 - 0.635) + 1 / 6 * 0.3
    assert math.isclose(cal.expected_calibration_error(conf, correct), expected, rel_tol=1e-5)


def test_ece_zero_for_perfectly_calibrated_bins_and_bin_edges():
    # 10 answers at confidence 0.8, 8 of them right -> ECE 0
    conf = torch.full((10,), 0.8)
    correct = torch.tensor([1] * 8 + [0] * 2)
    assert cal.expected_calibration_error(conf, correct) < 1e-6
    # confidence 1.0 right, confidence 0.0 wrong: both perfectly calibrated
    assert cal.expected_calibration_error(torch.tensor([1.0, 0.0]), torch.tensor([1, 0])) == 0.0


def test_brier_by_hand():
    assert math.isclose(cal.brier_score(torch.tensor([0.9, 0.2]), torch.tensor([1, 1])),
                        (0.01 + 0.64) / 2, rel_tol=1e-6)


def test_temperature_scaling_recovers_known_temperature():
    torch.manual_seed(0)
    true_logits = torch.randn(8000, 5) * 2
    labels = torch.distributions.Categorical(logits=true_logits).sample()
    t = cal.fit_temperature(true_logits * 3.0, labels)          # logits inflated 3x
    assert abs(t - 3.0) < 0.15
    conf, pred = torch.softmax(true_logits * 3.0, -1).max(-1)
    conf_t, pred_t = torch.softmax(true_logits * 3.0 / t, -1).max(-1)
    assert torch.equal(pred, pred_t)                               # accuracy unchanged
    assert cal.expected_calibration_error(conf_t, pred == labels) < cal.expected_calibration_error(conf, pred == labels)
