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


# --- issue 22: the report (ECE + Brier + AUROC) and the confidence-target score --------------------

def test_report_brier_and_auroc_match_sklearn():
    from sklearn.metrics import brier_score_loss, roc_auc_score
    g = torch.Generator().manual_seed(0)
    correct = (torch.rand(400, generator=g) < 0.6).long()
    conf = (0.5 + 0.3 * correct + 0.25 * torch.randn(400, generator=g)).clamp(0.01, 0.99)
    conf[:20] = 0.7                                     # ties across right and wrong answers
    rep = cal.calibration_report(conf, correct)
    assert math.isclose(rep["brier"], brier_score_loss(correct.numpy(), conf.numpy()), rel_tol=1e-5)
    assert math.isclose(rep["auroc"], roc_auc_score(correct.numpy(), conf.numpy()), rel_tol=1e-6)
    assert math.isclose(rep["ece"], cal.expected_calibration_error(conf, correct))


def test_constant_confidence_has_zero_ece_but_auroc_one_half():
    # the "common mistake": confidence = overall accuracy for every answer -> calibrated, useless
    correct = torch.tensor([1] * 8 + [0] * 2)
    conf = torch.full((10,), 0.8)
    rep = cal.calibration_report(conf, correct)
    assert rep["ece"] < 1e-6 and rep["auroc"] == 0.5


def test_confidence_target_score_by_hand_and_ranking_flip():
    # t = 0.75 -> a wrong answer costs 0.75 / 0.25 = 3
    assert math.isclose(cal.confidence_target_score(60, 40, 0, 0.75), (60 - 3 * 40) / 100)
    assert math.isclose(cal.confidence_target_score(50, 10, 40, 0.75), (50 - 30) / 100)
    # t = 0 is plain accuracy, and the always-answering model wins there
    assert cal.confidence_target_score(60, 40, 0, 0.0) == 0.6 > cal.confidence_target_score(50, 10, 40, 0.0)
    assert cal.confidence_target_score(60, 40, 0, 0.75) < cal.confidence_target_score(50, 10, 40, 0.75)
    # t = 0.9 -> penalty 9
    assert math.isclose(cal.confidence_target_score(1, 1, 0, 0.9), (1 - 9) / 2)


def test_lost_right_answers_pay_only_above_one_third_wrong_removed_each():
    # From A (60 right, 40 wrong) at t = 0.75: 10 fewer right needs more than 10/3 = 3.33 fewer wrong
    base = cal.confidence_target_score(60, 40, 0, 0.75)
    assert cal.confidence_target_score(50, 37, 13, 0.75) < base     # 3 fewer wrong: score falls by 1/100
    assert cal.confidence_target_score(50, 36, 14, 0.75) > base     # 4 fewer wrong: score rises by 2/100
    assert math.isclose(cal.confidence_target_score(50, 37, 13, 0.75) - base, -0.01)
    # abstaining on everything scores exactly 0, below B's +0.20
    assert cal.confidence_target_score(0, 0, 100, 0.75) == 0 < cal.confidence_target_score(50, 10, 40, 0.75)


def test_answering_pays_exactly_above_the_target():
    for t in (0.5, 0.75, 0.9):
        assert abs(cal.expected_score_if_answering(t, t)) < 1e-12
        assert cal.expected_score_if_answering(t + 0.01, t) > 0 > cal.expected_score_if_answering(t - 0.01, t)


def test_temperature_needs_only_hundreds_of_items():
    # the page's claim: T is one scalar, so a few hundred held-out items pin it down (true T = 3)
    for n, tol in ((300, 0.2), (1000, 0.1)):
        fitted = []
        for seed in range(20):
            torch.manual_seed(seed)
            true_logits = torch.randn(n, 4) * 2
            labels = torch.distributions.Categorical(logits=true_logits).sample()
            fitted.append(cal.fit_temperature(true_logits * 3.0, labels))
        assert all(abs(t - 3.0) < tol * 3.0 for t in fitted), (n, min(fitted), max(fitted))


def test_auroc_matches_sklearn_with_ties_and_by_hand():
    from sklearn.metrics import roc_auc_score
    conf = torch.tensor([0.9, 0.8, 0.8, 0.6, 0.4, 0.8, 0.3])
    correct = torch.tensor([1, 1, 0, 1, 0, 1, 0])
    # by hand: right {0.9, 0.8, 0.6, 0.8} vs wrong {0.8, 0.4, 0.3}: 12 pairs, wins 0.9>all (3),
    # 0.8: beats 0.4, 0.3 and ties 0.8 (2.5) twice, 0.6 beats 0.4, 0.3 (2) → 3 + 2.5 + 2.5 + 2 = 10 → 10/12
    assert math.isclose(cal.auroc(conf, correct), 10 / 12, rel_tol=1e-6)
    assert math.isclose(cal.auroc(conf, correct), roc_auc_score(correct.numpy(), conf.numpy()), rel_tol=1e-6)
    assert math.isclose(cal.auroc(-conf, correct), 1 - 10 / 12, rel_tol=1e-6)    # reversed ranking


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


# --- mutation-testing follow-up (issue 18): the two lowest bins, n_bins in the report, the optimiser ----

def test_ece_keeps_the_two_lowest_bins_apart():
    # 0.05 is in [0, 0.1], 0.15 in (0.1, 0.2]: two bins of one answer each -> 1/2 * 0.95 + 1/2 * 0.15 = 0.55.
    # Merging them (an off-by-one bin index) would give |1/2 - 0.1| = 0.4.
    conf = torch.tensor([0.05, 0.15], dtype=torch.float64)
    assert math.isclose(cal.expected_calibration_error(conf, torch.tensor([1, 0])), 0.55, rel_tol=1e-6)
    # 0.0 and 0.1 both belong to the first bin [0, 0.1]: one bin, |1/2 - 0.05| = 0.45
    conf = torch.tensor([0.0, 0.1], dtype=torch.float64)
    assert math.isclose(cal.expected_calibration_error(conf, torch.tensor([1, 0])), 0.45, rel_tol=1e-6)


def test_report_passes_n_bins_through():
    # 2 bins: (0, 0.5] holds 0.3 (wrong), (0.5, 1] holds 0.6 (right) and 0.9 (wrong)
    # -> 1/3 * 0.3 + 2/3 * |1/2 - 0.75| = 0.1 + 1/6; the default 10 bins give (0.3 + 0.4 + 0.9) / 3
    conf, correct = torch.tensor([0.3, 0.6, 0.9], dtype=torch.float64), torch.tensor([0, 1, 0])
    assert math.isclose(cal.calibration_report(conf, correct, n_bins=2)["ece"], 0.1 + 1 / 6, rel_tol=1e-6)
    assert math.isclose(cal.calibration_report(conf, correct)["ece"], 1.6 / 3, rel_tol=1e-6)


def _nll_minimiser(logits, labels):
    from scipy.optimize import minimize_scalar
    nll = lambda t: torch.nn.functional.cross_entropy(logits.double() / t, labels).item()
    return minimize_scalar(nll, bounds=(0.005, 50), method="bounded", options={"xatol": 1e-7}).x, nll


def test_temperature_for_a_very_underconfident_model():
    # logits ~10x too small (true T = 0.1): at T = 1 the NLL is nearly flat in log T, so fixed unit steps
    # crawl (still far off after 100 of them); the line search must extrapolate to reach T ~ 0.11.
    # Oracle: scipy's bounded scalar minimiser of the same NLL.
    torch.manual_seed(2)
    logits = torch.randn(2000, 10, dtype=torch.float64) * 0.03
    labels = torch.distributions.Categorical(logits=logits / 0.1).sample()
    ref, _ = _nll_minimiser(logits, labels)
    assert 0.05 < ref < 0.5                                      # an interior minimum, not the search bound
    assert abs(cal.fit_temperature(logits, labels) - ref) < 1e-2 * ref


def test_temperature_steps_bounds_the_optimiser_iterations():
    # one L-BFGS iteration from T = 1 moves towards the minimiser but does not reach it; more steps lower the
    # NLL further, and the default (100) converges to the scipy minimiser
    torch.manual_seed(1)
    logits = torch.randn(1500, 4, dtype=torch.float64) * 4
    labels = torch.distributions.Categorical(logits=logits / 1.7).sample()
    ref, nll = _nll_minimiser(logits, labels)
    t1, t3, t_def = (cal.fit_temperature(logits, labels, steps=s) for s in (1, 3, 100))
    assert 1.0 < t1 < ref and abs(t1 - ref) > 0.1 * ref
    assert nll(t1) > nll(t3) > nll(t_def) - 1e-12
    assert abs(t_def - ref) < 1e-3 * ref and cal.fit_temperature(logits, labels) == t_def
