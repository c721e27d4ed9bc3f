"""Scaling laws (Kaplan 2020, Chinchilla 2022) and a toy model of "emergence" from a metric.

Pages: docs/basics/scaling.{zh,en}.md
"""
from __future__ import annotations

import math

# Hoffmann et al. (2022), approach 3 fit: L(N, D) = E + A / N^alpha + B / D^beta (N params, D tokens).
CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


# --8<-- [start:chinchilla]
def chinchilla_loss(n_params: float, n_tokens: float, c: dict[str, float] = CHINCHILLA) -> float:
    """Predicted pre-training loss (nats/token) for N parameters trained on D tokens."""
    return c["E"] + c["A"] / n_params ** c["alpha"] + c["B"] / n_tokens ** c["beta"]


def chinchilla_optimal(flops: float, c: dict[str, float] = CHINCHILLA) -> tuple[float, float]:
    """Minimise L(N, D) subject to C = 6 N D (closed form from the Lagrangian).

    N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = (C/6) / N_opt, G = (alpha A / (beta B))^(1/(alpha+beta)).
    """
    a, b = c["alpha"], c["beta"]
    G = (a * c["A"] / (b * c["B"])) ** (1 / (a + b))
    n_opt = G * (flops / 6) ** (b / (a + b))
    return n_opt, flops / 6 / n_opt


def twenty_tokens_rule(flops: float) -> tuple[float, float]:
    """Rule of thumb from Chinchilla: D = 20 N with C = 6 N D  ->  N = sqrt(C / 120)."""
    n = math.sqrt(flops / 120)
    return n, 20 * n
# --8<-- [end:chinchilla]


# --8<-- [start:emergence]
def exact_match_from_token_accuracy(per_token_acc: float, answer_len: int) -> float:
    """If each of L answer tokens is right independently with prob p, exact match = p^L.

    A smooth improvement of p looks like a sudden jump in exact match for long answers
    (Schaeffer et al., 2023: "emergence" can come from the choice of metric).
    """
    return per_token_acc ** answer_len
# --8<-- [end:emergence]


if __name__ == "__main__":
    for C in (1e21, 5.76e23, 1e25):
        n, d = chinchilla_optimal(C)
        n20, d20 = twenty_tokens_rule(C)
        print(f"C={C:.2e}: fit -> N={n/1e9:.1f}B, D={d/1e9:.0f}B tokens; 20x rule -> N={n20/1e9:.1f}B, D={d20/1e9:.0f}B")
    print("Chinchilla 70B on 1.4T vs Gopher-size 280B on 300B tokens:",
          round(chinchilla_loss(70e9, 1.4e12), 3), round(chinchilla_loss(280e9, 300e9), 3))
    for p in (0.5, 0.7, 0.8, 0.9, 0.95, 0.99):
        print(f"per-token acc {p:.2f} -> exact match on 10-token answers {exact_match_from_token_accuracy(p, 10):.3f}")
