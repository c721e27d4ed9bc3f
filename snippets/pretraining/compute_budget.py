"""Compute budgets for pre-training: C ≈ 6ND, Chinchilla-optimal sizes, wall-clock
estimates, and the value of repeated tokens.

Pages: docs/pretraining/compute_budget.{zh,en}.md
"""
from __future__ import annotations

import math


# --8<-- [start:six_nd]
def training_flops(n_params: float, n_tokens: float) -> float:
    """C ≈ 6 N D: per token, forward ≈ 2N FLOPs (one multiply-add per weight),
    backward ≈ 4N (gradients w.r.t. activations and w.r.t. weights). Attention
    score FLOPs and element-wise ops are ignored."""
    return 6.0 * n_params * n_tokens


def gpu_hours(flops: float, peak_flops_per_gpu: float, mfu: float) -> float:
    """GPU-hours at a given model-FLOPs utilisation (MFU, typically 0.3-0.5 for dense LLMs)."""
    return flops / (peak_flops_per_gpu * mfu) / 3600.0
# --8<-- [end:six_nd]


# --8<-- [start:chinchilla]
def chinchilla_rule_of_thumb(compute: float, tokens_per_param: float = 20.0) -> tuple[float, float]:
    """Compute-optimal (N, D) with D = r N and C = 6 N D  =>  N = sqrt(C / (6 r))."""
    n = math.sqrt(compute / (6.0 * tokens_per_param))
    return n, tokens_per_param * n


# Hoffmann et al. (2022), approach 3: L(N, D) = E + A / N^alpha + B / D^beta
HOFFMANN = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)


def parametric_loss(n: float, d: float, E: float, A: float, B: float, alpha: float, beta: float) -> float:
    return E + A / n ** alpha + B / d ** beta


def parametric_optimum(compute: float, E: float, A: float, B: float, alpha: float, beta: float) -> tuple[float, float]:
    """Minimise L(N, C / 6N) over N in closed form:
    N_opt = G (C/6)^(beta/(alpha+beta)),  G = (alpha A / (beta B))^(1/(alpha+beta))."""
    g = (alpha * A / (beta * B)) ** (1.0 / (alpha + beta))
    n = g * (compute / 6.0) ** (beta / (alpha + beta))
    return n, compute / (6.0 * n)
# --8<-- [end:chinchilla]


# --8<-- [start:repetition]
def effective_tokens(unique_tokens: float, epochs: float, r_star: float = 15.4) -> float:
    """Muennighoff et al. (2023): value of U unique tokens seen `epochs` times,
    D' = U + U R* (1 - exp(-R / R*)),  R = epochs - 1 repetitions.
    Small R: each repeat is worth almost a fresh token; large R: D' -> U (1 + R*)."""
    r = epochs - 1.0
    return unique_tokens + unique_tokens * r_star * (1.0 - math.exp(-r / r_star))
# --8<-- [end:repetition]


if __name__ == "__main__":
    c = training_flops(6.74e9, 2e12)                     # LLaMA-2-7B on 2T tokens
    print(f"LLaMA-2-7B: C = {c:.2e} FLOPs, "
          f"{gpu_hours(c, 312e12, 0.40):,.0f} A100-hours at 40% MFU (paper: 184,320)")
    n, d = chinchilla_rule_of_thumb(5.76e23)            # Gopher's budget
    print(f"Chinchilla rule at 5.76e23 FLOPs: N = {n / 1e9:.0f} B, D = {d / 1e12:.2f} T tokens")
    n3, d3 = parametric_optimum(5.76e23, **HOFFMANN)
    print(f"Hoffmann approach-3 fit at the same budget: N = {n3 / 1e9:.0f} B, D = {d3 / 1e12:.2f} T")
    print(f"LLaMA-3-8B on 15T tokens: {15e12 / 8.03e9:.0f} tokens per parameter (Chinchilla ~20)")
    for e in (1, 2, 4, 16, 64):
        print(f"{e:3d} epochs of 100B unique tokens ~ {effective_tokens(100e9, e) / 1e9:6.0f} B fresh tokens")
