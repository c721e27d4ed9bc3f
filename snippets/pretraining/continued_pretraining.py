"""Continued pre-training and annealing arithmetic: how many held-out questions an evaluation
needs to see a gain, and the warmup-stable-decay (WSD) learning-rate schedule.

Pages: docs/pretraining/continued_pretraining.{zh,en}.md
"""
from __future__ import annotations

import math
from statistics import NormalDist


# --8<-- [start:eval_size]
def questions_needed(p_base: float, p_new: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Questions per model for a two-sided two-proportion z-test to detect p_base -> p_new.

    n = (z_{1-a/2} sqrt(2 pbar (1 - pbar)) + z_{power} sqrt(p1 q1 + p2 q2))^2 / (p1 - p2)^2.
    Unpaired, so an upper bound: scoring both models on the same questions (paired, McNemar)
    needs fewer when their errors are correlated."""
    z = NormalDist().inv_cdf
    pbar = (p_base + p_new) / 2
    num = (z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
           + z(power) * math.sqrt(p_base * (1 - p_base) + p_new * (1 - p_new)))
    return math.ceil(num ** 2 / (p_new - p_base) ** 2)
# --8<-- [end:eval_size]


# --8<-- [start:wsd]
def wsd_lr(step: int, peak: float, warmup: int, total: int, decay_frac: float = 0.1,
           final: float = 0.0) -> float:
    """Warmup-stable-decay: linear warmup to `peak`, constant, then a linear decay to `final`
    over the last `decay_frac` of the steps (MiniCPM; the decay is where the anneal data goes)."""
    decay_start = total - round(decay_frac * total)
    if not (0 <= warmup <= decay_start < total and 0 <= step <= total):   # else 0/0 or LR < final
        raise ValueError(f"wsd_lr: need 0 <= warmup {warmup} <= decay start {decay_start} < total {total} "
                         f"and 0 <= step {step} <= total")
    if step < warmup:
        return peak * step / warmup
    if step < decay_start:
        return peak
    return peak + (final - peak) * (step - decay_start) / (total - decay_start)
# --8<-- [end:wsd]


if __name__ == "__main__":
    for base, new in ((0.40, 0.50), (0.40, 0.45), (0.50, 0.52)):
        print(f"closed-book QA {base:.0%} -> {new:.0%}: {questions_needed(base, new):,} questions per model")
    steps = [0, 1000, 50_000, 90_000, 95_000, 100_000]
    print("WSD, peak 3e-4, 1k warmup, last 10% decay:",
          [f"{wsd_lr(s, 3e-4, 1000, 100_000):.1e}" for s in steps])
