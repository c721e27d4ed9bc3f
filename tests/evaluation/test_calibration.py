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


def test_ece_confidence_one_and_bin_edges_by_hand():
    # bins are (b/10, (b+1)/10]: 1.0 is in the last bin, 0.5 in (0.4, 0.5], 0.0 in the first bin
    conf = torch.tensor([1.0, 1.0, 0.5, 0.5, 0.55, 0.0], dtype=torch.float64)
    correct = torch.tensor([0, 1, 1, 1, 0, 0])
    # (0.9,1]: 2/6 * |0.5 - 1| ; (0.4,0.5]: 2/6 * |1 - 0.5| ; (0.5,0.6]: 1/6 * 0.55 ; [0,0.1]: 0
    expected = 2 / 6 * 0.5 + 2 / 6 * 0.5 + 1 / 6 * 0.55
    assert math.isclose(cal.expected_calibration_error(conf, correct), expected, rel_tol=1e-6)   # correct is cast to float32
    # a wrong answer at confidence 1.0 alone is an ECE of 1
    assert cal.expected_calibration_error(torch.tensor([1.0]), torch.tensor([0])) == 1.0


def test_ece_matches_a_numpy_reference_on_random_data():
    import numpy as np
    rng = np.random.default_rng(0)
    for n_bins in (5, 10, 15):
        conf = rng.beta(5, 2, 500)
        correct = (rng.random(500) < conf ** 1.5).astype(int)
        edges = np.linspace(0, 1, n_bins + 1)
        ref = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            m = (conf > lo) & (conf <= hi)
            if m.any():
                ref += m.mean() * abs(correct[m].mean() - conf[m].mean())
        got = cal.expected_calibration_error(torch.from_numpy(conf), torch.from_numpy(correct), n_bins)
        assert math.isclose(got, ref, rel_tol=1e-6)


def test_temperature_matches_scipy_minimiser_of_nll():
    from scipy.optimize import minimize_scalar
    torch.manual_seed(1)
    logits = torch.randn(1500, 4, dtype=torch.float64) * 4
    labels = torch.distributions.Categorical(logits=logits / 1.7).sample()     # true T = 1.7
    nll = lambda t: torch.nn.functional.cross_entropy(logits / t, labels).item()
    ref = minimize_scalar(nll, bounds=(0.05, 20), method="bounded", options={"xatol": 1e-6}).x
    t = cal.fit_temperature(logits.float(), labels)
    assert abs(t - ref) < 1e-2 * ref
