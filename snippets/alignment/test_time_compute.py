"""Test-time compute with verifiers: PRM step labels, answer selection, step-level beam search,
and the FLOPs-matched exchange between test-time compute and a larger model.

Pages: docs/alignment/test_time_compute.{zh,en}.md
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Hashable, Sequence


# --8<-- [start:math_shepherd_labels]
def math_shepherd_labels(rollout_correct: Sequence[Sequence[bool]]) -> tuple[list[int], list[float]]:
    """Monte-Carlo step labels in the style of Math-Shepherd.

    rollout_correct[k][j] is True if the j-th completion started after step k of the
    solution reached the gold answer (N completions per step).
    Hard estimation (HE): 1 if any completion is correct, else 0.
    Soft estimation (SE): the fraction of completions that are correct.
    """
    hard = [int(any(row)) for row in rollout_correct]
    soft = [sum(row) / len(row) for row in rollout_correct]
    return hard, soft
# --8<-- [end:math_shepherd_labels]


# --8<-- [start:select_answer]
def aggregate_steps(step_scores: Sequence[float], how: str = "min") -> float:
    """One score for a whole solution from its PRM step scores (each in [0, 1]).

    min:  the weakest step decides (Math-Shepherd);  prod: probability that every step is correct
    (Lightman et al. 2023);  last: the score of the final step (Snell et al. 2024).
    """
    if how == "min":
        return min(step_scores)
    if how == "prod":
        return math.prod(step_scores)
    if how == "last":
        return step_scores[-1]
    raise ValueError(f"unknown aggregation {how!r}")


def majority_vote(answers: Sequence[Hashable]) -> Hashable:
    """Self-consistency: the most frequent final answer (ties: the one seen first)."""
    counts: dict[Hashable, int] = defaultdict(int)
    for a in answers:
        counts[a] += 1
    return max(counts, key=counts.get)          # dicts keep insertion order -> first seen wins ties


def best_of_n(answers: Sequence[Hashable], scores: Sequence[float]) -> Hashable:
    """Best-of-N: the answer of the single highest-scoring sample."""
    return answers[max(range(len(scores)), key=scores.__getitem__)]


def weighted_vote(answers: Sequence[Hashable], scores: Sequence[float]) -> Hashable:
    """Weighted majority vote (best-of-N weighted): sum verifier scores per distinct answer."""
    totals: dict[Hashable, float] = defaultdict(float)
    for a, s in zip(answers, scores):
        totals[a] += s
    return max(totals, key=totals.get)
# --8<-- [end:select_answer]


# --8<-- [start:step_beam_search]
def step_beam_search(children: Callable[[tuple], list], prm: Callable[[tuple], float],
                     beam_width: int, depth: int) -> tuple:
    """Beam search over reasoning steps guided by a PRM.

    A state is the tuple of steps so far (the root is ()). children(state) proposes next
    steps (in a real system: sample from the policy, one step = up to a newline).
    prm(state) scores the partial solution. Keep the beam_width best states per depth;
    return the best complete state. beam_width=1 is greedy step-by-step search.
    """
    beam: list[tuple] = [()]
    for _ in range(depth):
        candidates = [s + (c,) for s in beam for c in children(s)]
        candidates.sort(key=prm, reverse=True)   # stable sort: ties keep proposal order
        beam = candidates[:beam_width]
    return max(beam, key=prm)
# --8<-- [end:step_beam_search]


# --8<-- [start:flops_exchange]
def matched_inference_multiplier(m: float, r: float) -> float:
    """FLOPs-matched exchange of Snell et al. (2024, Sec. 7).

    A model m times larger (same pretraining tokens) costs m times more FLOPs for both
    pretraining (6 N D_pretrain) and inference (2 N D_inference, greedy answers).
    Returns k: how many times more tokens the small model may generate at inference so
    that its total FLOPs equal the larger model's. r = D_inference / D_pretrain.
        6 N Dp + 2 N Di k = m (6 N Dp + 2 N Di)   =>   k = m + 3 (m - 1) / r
    """
    if r <= 0:
        raise ValueError("r = D_inference / D_pretrain must be positive")
    return m + 3.0 * (m - 1.0) / r
# --8<-- [end:flops_exchange]


if __name__ == "__main__":
    hard, soft = math_shepherd_labels([[True, True, False, True], [False, True, False, False], [False] * 4])
    print("Math-Shepherd labels  hard:", hard, " soft:", soft)

    steps = [0.9, 0.3, 0.8]
    print("aggregate", steps, {h: round(aggregate_steps(steps, h), 3) for h in ("min", "prod", "last")})

    answers = [12, 12, 12, 15, 15, 9]
    scores = [0.2, 0.3, 0.25, 0.6, 0.5, 0.9]
    print("majority:", majority_vote(answers), " best-of-N:", best_of_n(answers, scores),
          " weighted vote:", weighted_vote(answers, scores))

    tree = {(): ["a", "b"], ("a",): ["c", "d"], ("b",): ["e", "f"]}
    value = {("a",): 0.6, ("b",): 0.5, ("a", "c"): 0.2, ("a", "d"): 0.3, ("b", "e"): 0.9, ("b", "f"): 0.1}
    for k in (1, 2):
        print(f"beam width {k}:", step_beam_search(lambda s: tree.get(s, []), value.__getitem__, k, 2))
    for r in (0.16, 0.79, 22):
        print(f"14x larger model, R = {r}: small model may generate",
              f"{matched_inference_multiplier(14, r):.1f}x its greedy inference tokens")
