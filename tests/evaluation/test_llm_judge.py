"""Tests for snippets/evaluation/llm_judge.py: fake judges with known behaviour, closed-form BT fit."""
import math

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


def test_bt_two_models_closed_form():
    # model 0 wins 30 of 40 games -> MLE gap theta = log(30/10), i.e. 400*log10(3) Elo points
    battles = [(0, 1, 1.0)] * 30 + [(0, 1, 0.0)] * 10
    r = lj.bradley_terry_ratings(battles, 2)
    assert math.isclose((r[0] - r[1]).item(), 400 * math.log10(3), rel_tol=1e-3)
    assert math.isclose(r.mean().item(), 1000.0, abs_tol=1e-6)


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
