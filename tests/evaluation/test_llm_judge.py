"""Tests for snippets/evaluation/llm_judge.py: fake judges with known behaviour, closed-form BT fit."""
import math

import pytest
import torch

from snippets import load

lj = load("evaluation/llm_judge")


def test_swap_turns_position_bias_into_tie():
    always_first = lambda q, x, y: "1"
    always_second = lambda q, x, y: "2"
    assert lj.judge_with_swap(always_first, "q", "a", "b") == "tie"
    assert lj.judge_with_swap(always_second, "q", "a", "b") == "tie"


def test_swap_keeps_consistent_verdicts():
    # an unbiased judge that prefers the answer containing "correct"
    fair = lambda q, x, y: "1" if "correct" in x else ("2" if "correct" in y else "tie")
    assert lj.judge_with_swap(fair, "q", "correct answer", "wrong") == "A"
    assert lj.judge_with_swap(fair, "q", "wrong", "correct answer") == "B"
    assert lj.judge_with_swap(fair, "q", "meh", "meh too") == "tie"
    # one decisive vote + one tie counts as a win
    half = lambda q, x, y: "1" if x == "good" else "tie"
    assert lj.judge_with_swap(half, "q", "good", "bad") == "A"
    assert lj.judge_with_swap(half, "q", "bad", "good") == "B"           # same, B's side
    half2 = lambda q, x, y: "2" if y == "good" else "tie"                   # decisive only in one order
    assert lj.judge_with_swap(half2, "q", "good", "bad") == "A"
    assert lj.judge_with_swap(half2, "q", "bad", "good") == "B"


def test_swap_shows_the_judge_the_question_in_both_orders():
    # the judge must see the question each time (a rubric depends on it), answers in both orders
    calls = []

    def recording(q, x, y):
        calls.append((q, x, y))
        return "1" if q == "which is longer?" and len(x) > len(y) else "2" if len(y) > len(x) else "tie"

    assert lj.judge_with_swap(recording, "which is longer?", "long answer", "short") == "A"
    assert calls == [("which is longer?", "long answer", "short"), ("which is longer?", "short", "long answer")]


def test_bt_two_models_closed_form():
    # model 0 wins 30 of 40 games -> MLE gap theta = log(30/10), i.e. 400*log10(3) Elo points
    battles = [(0, 1, 1.0)] * 30 + [(0, 1, 0.0)] * 10
    r = lj.bradley_terry_ratings(battles, 2)
    assert math.isclose((r[0] - r[1]).item(), 400 * math.log10(3), rel_tol=1e-3)
    assert math.isclose(r.mean().item(), 1000.0, abs_tol=1e-6)
    assert r.dtype == torch.float64           # fitted and reported in float64 (float32 resolves 1e-4 points at 1000)


def test_bt_ties_count_half_a_win_each():
    # 20 wins, 10 losses, 10 ties for model 0: the likelihood is that of 25 wins and 15 losses,
    # so the MLE gap is log(25 / 15) (a tie counted as a loss for either side would move it)
    battles = [(0, 1, 1.0)] * 20 + [(0, 1, 0.0)] * 10 + [(0, 1, 0.5)] * 10
    r = lj.bradley_terry_ratings(battles, 2)
    assert math.isclose((r[0] - r[1]).item(), 400 * math.log10(25 / 15), rel_tol=1e-3)
    # the same battles written from model 1's side give the same ratings
    flipped = [(j, i, 1 - s) for i, j, s in battles]
    torch.testing.assert_close(lj.bradley_terry_ratings(flipped, 2), r, rtol=0, atol=1e-3)
    # scale and base: 10:1 odds -> a gap of `scale` points around `base`
    r = lj.bradley_terry_ratings([(0, 1, 1.0)] * 100 + [(0, 1, 0.0)] * 10, 2, scale=100.0, base=0.0)
    assert math.isclose((r[0] - r[1]).item(), 100.0, rel_tol=1e-3) and abs(r.sum().item()) < 1e-6


def test_bt_recovers_strength_ordering_from_simulated_votes():
    torch.manual_seed(0)
    true = torch.tensor([0.0, 0.8, 1.6, -0.5])
    battles = []
    for _ in range(4000):
        a, b = torch.randperm(4)[:2].tolist()
        battles.append((a, b, float(torch.rand(()) < torch.sigmoid(true[a] - true[b]))))
    r = lj.bradley_terry_ratings(battles, 4)
    assert torch.argsort(r).tolist() == torch.argsort(true).tolist()
    est_gap = (r[2] - r[0]).item() * math.log(10) / 400
    assert abs(est_gap - 1.6) < 0.2


def test_bt_long_chain_converges_to_per_edge_closed_form():
    # 40 models in a chain, each beats the one below 3 times in 5: on a tree the likelihood splits per
    # edge, so every MLE gap is log(3/2) = 70.44 points. Ill-conditioned (path Laplacian): L-BFGS needs
    # about 30 iterations, so a cap left at its default of 20 stops far from it (one gap off by 59 points).
    chain = [b for k in range(39) for b in [(k + 1, k, 1.0)] * 3 + [(k + 1, k, 0.0)] * 2]
    r = lj.bradley_terry_ratings(chain, 40)
    gaps = r[1:] - r[:-1]
    assert (gaps - 400 * math.log10(1.5)).abs().max().item() < 0.1
    assert math.isclose(r.mean().item(), 1000.0, abs_tol=1e-6)


def test_bt_undefeated_model_gets_a_finite_top_rating():
    # A model that won every game has no finite MLE; the shown code's ridge 1e-6 * theta^2 keeps it
    # finite. Two models, 10 wins: theta_0 = -theta_1 = d / 2 with d the root of
    # -10 * sigmoid(-d) + 1e-6 * d = 0 (brentq) -> d = 13.5, a 2348-point gap. L-BFGS stops on its
    # loss-change tolerance in the flat tail, within a point or two of it.
    from scipy.optimize import brentq
    d = brentq(lambda d: -10 / (1 + math.exp(d)) + 1e-6 * d, 0, 100)
    r = lj.bradley_terry_ratings([(0, 1, 1.0)] * 10, 2)
    assert torch.isfinite(r).all() and abs((r[0] - r[1]).item() - 400 / math.log(10) * d) < 5
    # three models, 0 beat 1 and 1 beat 2 every time: finite, ordered, centred
    r = lj.bradley_terry_ratings([(0, 1, 1.0)] * 5 + [(1, 2, 1.0)] * 5, 3)
    assert torch.isfinite(r).all() and r[0] > r[1] > r[2] and (r[0] - r[2]).item() > 1000
    assert math.isclose(r.mean().item(), 1000.0, abs_tol=1e-6)


# --- judge checks. Oracles: hand-counted verdicts, scipy's Wilson interval, sklearn's unpenalised
# logistic regression, and a simulation with a known length effect.
import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression


def test_position_consistency_by_hand():
    ab = ["1", "1", "2", "tie", "1"]
    ba = ["2", "1", "1", "tie", "tie"]     # consistent: 1st, 3rd, 4th -> 3 / 5
    assert lj.position_consistency(ab, ba) == 0.6
    always_first = ["1"] * 4
    assert lj.position_consistency(always_first, always_first) == 0.0


def test_wilson_matches_scipy_and_hand_value():
    for k, n in [(160, 200), (400, 500), (3, 20), (20, 20)]:
        ours = lj.wilson_interval(k, n)
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert abs(ours[0] - ref.low) < 1e-9 and abs(ours[1] - ref.high) < 1e-9
        ours = lj.wilson_interval(k, n, confidence=0.9)
        ref = stats.binomtest(k, n).proportion_ci(confidence_level=0.9, method="wilson")
        assert abs(ours[0] - ref.low) < 1e-9 and abs(ours[1] - ref.high) < 1e-9
    # by hand, p = 0.8, n = 200, z^2 = 3.8415: centre = (0.8 + 0.009604) / 1.019207 = 0.79435,
    # half = 1.96 * sqrt(0.0008 + 0.000024) / 1.019207 = 0.05520 -> [0.7391, 0.8496]
    lo, hi = lj.wilson_interval(160, 200)
    assert abs(lo - 0.7391) < 2e-4 and abs(hi - 0.8496) < 2e-4


def test_length_regression_matches_sklearn():
    rng = np.random.default_rng(0)
    x = rng.uniform(-3, 3, 1500)
    y = (rng.random(1500) < 1 / (1 + np.exp(-(0.2 + 0.7 * x)))).astype(float)
    raw, slope, lc = lj.length_controlled_win_rate(y.tolist(), x.tolist())
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(x[:, None], y)
    assert abs(slope - ref.coef_[0, 0]) < 1e-4
    assert abs(lc - 1 / (1 + np.exp(-ref.intercept_[0]))) < 1e-5
    assert raw == y.mean()


def test_length_regression_is_newtons_method():
    # One step from (a, b) = (0, 0), where p = 1/2 and w = 1/4: (a, b) = (X^T W X)^-1 X^T (y - 1/2)
    # (numpy's solve); a damped or mis-scaled step (a wrong determinant) still ends at the MLE after 50
    # steps but not after one. Newton converges quadratically: 8 steps already equal the default 50.
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 4, 300)
    y = (rng.random(300) < 1 / (1 + np.exp(-(-0.4 + 0.9 * x)))).astype(float)
    X = np.stack([np.ones_like(x), x], 1)
    a1, b1 = np.linalg.solve(0.25 * X.T @ X, X.T @ (y - 0.5))
    raw, slope, lc = lj.length_controlled_win_rate(y.tolist(), x.tolist(), iters=1)
    assert abs(slope - b1) < 1e-12 and abs(lc - 1 / (1 + math.exp(-a1))) < 1e-12
    assert lj.length_controlled_win_rate(y.tolist(), x.tolist(), iters=8) == \
        pytest.approx(lj.length_controlled_win_rate(y.tolist(), x.tolist()), abs=1e-12)


def test_length_control_removes_a_verbosity_advantage():
    # Same true quality (logit 0.3 at equal length), judge adds 0.5 logits per 100 tokens.
    # A candidate 200 tokens longer on average wins far more often raw; LC recovers sigmoid(0.3).
    rng = np.random.default_rng(1)
    x = rng.uniform(-3, 3, 4000) + 2.0
    y = (rng.random(4000) < 1 / (1 + np.exp(-(0.3 + 0.5 * x)))).astype(float)
    raw, slope, lc = lj.length_controlled_win_rate(y.tolist(), x.tolist())
    target = 1 / (1 + math.exp(-0.3))            # 0.574
    assert raw > target + 0.12
    assert abs(lc - target) < 0.04 and abs(slope - 0.5) < 0.08
    # no length effect: LC and raw agree
    y0 = (rng.random(4000) < target).astype(float)
    raw0, slope0, lc0 = lj.length_controlled_win_rate(y0.tolist(), x.tolist())
    assert abs(slope0) < 0.08 and abs(lc0 - raw0) < 0.08
