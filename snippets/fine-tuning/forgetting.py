"""Two remedies for catastrophic forgetting: data replay and an EWC penalty.

Pages: docs/fine-tuning/forgetting.{zh,en}.md
"""
from __future__ import annotations

import random

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
