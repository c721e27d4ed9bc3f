"""Remedies for catastrophic forgetting (data replay, an EWC penalty), a paired regression gate
that tells forgetting apart from evaluation noise, and the compute of a continual refresh vs a retrain.

Pages: docs/fine-tuning/forgetting.{zh,en}.md
"""
from __future__ import annotations

import math
import random
from statistics import NormalDist

import torch
import torch.nn as nn
import torch.nn.functional as F


# --8<-- [start:replay]
def mix_with_replay(new_data: list, old_data: list, replay_ratio: float, seed: int = 0) -> list:
    """Add replayed general-domain samples so they make up `replay_ratio` of the result.

    n_old = round(n_new * ratio / (1 - ratio)); samples are drawn with replacement
    from old_data and the mixture is shuffled.
    """
    if not 0.0 <= replay_ratio < 1.0:
        raise ValueError("replay_ratio must be in [0, 1)")
    rng = random.Random(seed)
    n_old = round(len(new_data) * replay_ratio / (1.0 - replay_ratio))
    mixed = list(new_data) + [rng.choice(old_data) for _ in range(n_old)]
    rng.shuffle(mixed)
    return mixed
# --8<-- [end:replay]


# --8<-- [start:ewc]
def fisher_diagonal(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Empirical Fisher diagonal: mean over samples of the squared per-sample gradient
    of the NLL, for every trainable parameter. inputs: (n, d_in), targets: (n,)."""
    fisher = {n: torch.zeros_like(p) for n, p in model.named_parameters() if p.requires_grad}
    for x, y in zip(inputs, targets):
        model.zero_grad()
        F.cross_entropy(model(x[None]), y[None]).backward()
        for n, p in model.named_parameters():
            if p.requires_grad:
                fisher[n] += p.grad.detach() ** 2
    return {n: f / len(inputs) for n, f in fisher.items()}


def ewc_penalty(model: nn.Module, old_params: dict[str, torch.Tensor],
                fisher: dict[str, torch.Tensor], lam: float) -> torch.Tensor:
    """(lam / 2) * sum_i F_i (theta_i - theta_old_i)^2 — pulls important weights back."""
    loss = torch.zeros(())
    for n, p in model.named_parameters():
        if n in fisher:
            loss = loss + (fisher[n] * (p - old_params[n]) ** 2).sum()
    return 0.5 * lam * loss
# --8<-- [end:ewc]


# --8<-- [start:regression_gate]
def paired_drop_ci(before: list[int], after: list[int], confidence: float = 0.95) -> tuple[float, float, float]:
    """Accuracy drop (before - after) on the SAME items, with a normal-approximation CI.

    before[i], after[i] in {0, 1}: item i correct for the base / fine-tuned model. The per-item
    difference d_i is in {-1, 0, 1}; its variance is (discordant rate) - drop^2, so only the
    items on which the two models disagree widen the interval.
    """
    n = len(before)
    d = [b - a for b, a in zip(before, after)]
    drop = sum(d) / n
    var = sum((x - drop) ** 2 for x in d) / (n - 1)        # sample variance of d_i
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * math.sqrt(var / n)
    return drop, drop - half, drop + half


def noise_floor(n_items: int, discordant_rate: float, confidence: float = 0.95) -> float:
    """Half-width of the paired CI when the true drop is ~0: z * sqrt(q / n), q = share of items
    on which the two checkpoints disagree. A drop smaller than this is not detectable."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return z * math.sqrt(discordant_rate / n_items)


def items_for_floor(floor: float, discordant_rate: float, confidence: float = 0.95) -> int:
    """Items needed so that noise_floor(n, q) <= floor: n = z^2 q / floor^2."""
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    return math.ceil(z * z * discordant_rate / floor ** 2)


def passes_gate(before: list[int], after: list[int], tolerance: float, confidence: float = 0.95) -> bool:
    """Ship only if the upper end of the drop's CI is within `tolerance` (e.g. 0.01 = 1 point):
    "no drop observed" is not enough when the suite is too small to see one."""
    return paired_drop_ci(before, after, confidence)[2] <= tolerance
# --8<-- [end:regression_gate]


# --8<-- [start:refresh_cost]
def refresh_tokens(new_tokens: float, replay_share: float) -> float:
    """Tokens in a continued pre-training refresh when `replay_share` of them is old data:
    new / (1 - share). 50B new tokens at 25% replay -> 66.7B tokens."""
    if not 0.0 <= replay_share < 1.0:
        raise ValueError("replay_share must be in [0, 1)")
    return new_tokens / (1.0 - replay_share)


def gpu_hours(params: float, tokens: float, peak_flops: float = 989e12, utilization: float = 0.4) -> float:
    """Training GPU-hours from C = 6 N D FLOPs at `utilization` of `peak_flops`
    (default: H100 SXM dense BF16, 989 TFLOP/s, at 40%)."""
    return 6.0 * params * tokens / (peak_flops * utilization) / 3600.0


def refresh_vs_retrain(params: float, old_tokens: float, new_tokens: float, replay_share: float) -> tuple[float, float]:
    """GPU-hours of (a) a continual refresh on the new data plus replay and (b) retraining from
    scratch on old + new data."""
    return (gpu_hours(params, refresh_tokens(new_tokens, replay_share)),
            gpu_hours(params, old_tokens + new_tokens))
# --8<-- [end:refresh_cost]


if __name__ == "__main__":
    mixed = mix_with_replay([f"domain{i}" for i in range(80)], [f"general{i}" for i in range(1000)], 0.2)
    print(f"{len(mixed)} samples, replayed share = {sum(s.startswith('general') for s in mixed) / len(mixed):.2f}")
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    fisher = fisher_diagonal(model, x, y)
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    with torch.no_grad():
        model.weight.add_(0.1)
    print("EWC penalty after shifting all weights by 0.1:",
          round(ewc_penalty(model, old, fisher, lam=100.0).item(), 4))
    print(f"noise floor, MMLU-size suite (14,042 items, 6% discordant): "
          f"±{100 * noise_floor(14042, 0.06):.2f} points")
    print(f"noise floor, 500-item suite (10% discordant): ±{100 * noise_floor(500, 0.10):.2f} points; "
          f"items for ±1 point: {items_for_floor(0.01, 0.10)}")
    rng = random.Random(0)
    before = [int(rng.random() < 0.70) for _ in range(4000)]
    after = [b if rng.random() > 0.10 else 1 - b for b in before]       # 10% of items flip
    drop, lo, hi = paired_drop_ci(before, after)
    print(f"simulated gate: drop {100 * drop:.2f} pt, 95% CI [{100 * lo:.2f}, {100 * hi:.2f}], "
          f"passes 1-pt gate: {passes_gate(before, after, 0.01)}")
    refresh, retrain = refresh_vs_retrain(7e9, 2e12, 50e9, 0.25)
    print(f"7B, 50B new tokens + 25% replay: {refresh:,.0f} H100-hours; "
          f"retrain on 2T + 50B: {retrain:,.0f} H100-hours ({retrain / refresh:.0f}x)")
