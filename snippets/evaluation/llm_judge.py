"""LLM-as-a-judge: position-swap debiasing, bias measurements (position consistency, a length-controlled
win rate, an agreement interval for judge calibration) and Bradley-Terry (Elo-scale) ratings.

Pages: docs/evaluation/llm_judge.{zh,en}.md
"""
from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Callable

import torch

Judge = Callable[[str, str, str], str]       # (question, answer shown first, answer shown second) -> "1" | "2" | "tie"


# --8<-- [start:swap]
def judge_with_swap(judge: Judge, question: str, a: str, b: str) -> str:
    """Ask the judge twice with the answers in both orders; keep a verdict only if it is consistent.

    Returns "A", "B" or "tie". A judge that always prefers the first (or second) slot
    contradicts itself after the swap, so its vote becomes a tie instead of a biased win.
    """
    first = judge(question, a, b)           # "1" means a wins
    second = judge(question, b, a)          # "1" means b wins
    a_wins = (first == "1") + (second == "2")
    b_wins = (first == "2") + (second == "1")
    if a_wins == 2 or (a_wins == 1 and b_wins == 0):
        return "A"
    if b_wins == 2 or (b_wins == 1 and a_wins == 0):
        return "B"
    return "tie"
# --8<-- [end:swap]


# --8<-- [start:judge_checks]
def position_consistency(order_ab: list[str], order_ba: list[str]) -> float:
    """Share of pairs whose verdict survives the swap. order_ab[i] is the verdict with A shown
    first, order_ba[i] with B shown first ("1", "2" or "tie"); consistent means
    ("1", "2"), ("2", "1") or ("tie", "tie")."""
    same = {("1", "2"), ("2", "1"), ("tie", "tie")}
    return sum((x, y) in same for x, y in zip(order_ab, order_ba)) / len(order_ab)


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion, e.g. judge-human agreement on k of n labelled pairs.
    Better than p +- z*sqrt(p(1-p)/n) near 0 or 1 and for small n."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def length_controlled_win_rate(wins: list[float], len_diff: list[float],
                               iters: int = 50) -> tuple[float, float, float]:
    """Fit P(win) = sigmoid(a + b * len_diff) by Newton's method (logistic regression).

    wins[i] in {0, 1} (1 = the candidate beat the baseline), len_diff[i] = candidate length minus
    baseline length (e.g. in hundreds of tokens). Returns (raw win rate, length slope b,
    length-controlled win rate sigmoid(a) = predicted win rate at equal length). AlpacaEval's
    LC win rate follows the same idea with extra terms for model and instruction difficulty.
    """
    a = b = 0.0
    for _ in range(iters):
        g0 = g1 = h00 = h01 = h11 = 0.0
        for y, x in zip(wins, len_diff):
            p = 1 / (1 + math.exp(-(a + b * x)))
            w = p * (1 - p)
            g0, g1 = g0 + (y - p), g1 + (y - p) * x
            h00, h01, h11 = h00 + w, h01 + w * x, h11 + w * x * x
        det = h00 * h11 - h01 * h01
        a += (h11 * g0 - h01 * g1) / det               # Newton step: H^-1 g
        b += (h00 * g1 - h01 * g0) / det
    return sum(wins) / len(wins), b, 1 / (1 + math.exp(-a))
# --8<-- [end:judge_checks]


# --8<-- [start:bradley_terry]
def bradley_terry_ratings(battles: list[tuple[int, int, float]], num_models: int,
                          scale: float = 400.0, base: float = 1000.0) -> torch.Tensor:
    """Fit Bradley-Terry strengths from battles (i, j, s), s = 1 if i won, 0 if j won, 0.5 for a tie.

    P(i beats j) = sigmoid(theta_i - theta_j), fitted by maximum likelihood (a logistic
    regression; the objective is convex, so L-BFGS converges in a few iterations).
    Ratings are reported on the Elo scale: rating = base + scale / ln(10) * theta,
    so a 400-point gap means 10:1 odds. Chatbot Arena fits this model instead of online Elo.
    """
    wins = torch.zeros(num_models, num_models, dtype=torch.float64)     # wins[i, j]: score of i vs j
    for i, j, s in battles:
        wins[i, j] += s
        wins[j, i] += 1 - s
    theta = torch.zeros(num_models, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([theta], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        diff = theta[:, None] - theta[None, :]                               # (M, M)
        nll = -(wins * torch.nn.functional.logsigmoid(diff)).sum() + 1e-6 * theta.pow(2).sum()
        nll.backward()
        return nll

    opt.step(closure)
    theta = theta.detach() - theta.detach().mean()       # only differences are identified
    return base + scale / math.log(10) * theta
# --8<-- [end:bradley_terry]


if __name__ == "__main__":
    def first_slot_judge(q: str, x: str, y: str) -> str:
        return "1"                                          # pure position bias

    def length_judge(q: str, x: str, y: str) -> str:
        return "1" if len(x) > len(y) else "2"              # pure verbosity bias

    print("position-biased judge, single order:", first_slot_judge("q", "short", "a much longer answer"),
          "-> with swap:", judge_with_swap(first_slot_judge, "q", "short", "a much longer answer"))
    print("verbosity-biased judge survives the swap:",
          judge_with_swap(length_judge, "q", "short", "a much longer answer"))
    lo, hi = wilson_interval(160, 200)
    print(f"judge agrees with humans on 160/200 pairs: 95% CI [{lo:.3f}, {hi:.3f}]")
    rng = random.Random(0)
    diffs = [rng.uniform(-3, 3) for _ in range(2000)]          # length difference, 100s of tokens
    # a verbose candidate: 200 tokens longer on average; the judge adds 0.5 logits per 100 tokens
    verbose = [d + 2 for d in diffs]
    wins_v = [float(rng.random() < 1 / (1 + math.exp(-(0.5 * d + 0.3)))) for d in verbose]
    raw, slope, lc = length_controlled_win_rate(wins_v, verbose)
    print(f"verbose candidate: raw win rate {raw:.3f}, slope {slope:.2f} per 100 tokens, "
          f"length-controlled {lc:.3f} (true sigmoid(0.3) = {1 / (1 + math.exp(-0.3)):.3f})")
    torch.manual_seed(0)
    true = torch.tensor([0.0, 1.0, 2.0])
    battles = []
    for _ in range(3000):
        a, b = torch.randperm(3)[:2].tolist()
        battles.append((a, b, float(torch.rand(()) < torch.sigmoid(true[a] - true[b]))))
    print("Elo-scale ratings (true gaps 1 and 2 nats = 174 and 347 points):",
          bradley_terry_ratings(battles, 3).numpy().round(0))
