"""LLM-as-a-judge: position-swap debiasing and Bradley-Terry (Elo-scale) ratings from pairwise votes.

Pages: docs/evaluation/llm_judge.{zh,en}.md
"""
from __future__ import annotations

import math
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
    torch.manual_seed(0)
    true = torch.tensor([0.0, 1.0, 2.0])
    battles = []
    for _ in range(3000):
        a, b = torch.randperm(3)[:2].tolist()
        battles.append((a, b, float(torch.rand(()) < torch.sigmoid(true[a] - true[b]))))
    print("Elo-scale ratings (true gaps 1 and 2 nats = 174 and 347 points):",
          bradley_terry_ratings(battles, 3).numpy().round(0))
