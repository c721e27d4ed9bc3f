"""Adam and AdamW by hand, and a linear warm-up + cosine learning-rate schedule.

Pages: docs/foundations/optimizers.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:adam]
def adam_step(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, t: int,
              lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
              weight_decay: float = 0.0, decoupled: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One Adam (decoupled=False) or AdamW (decoupled=True) step; t starts at 1. Returns (p, m, v).

    Adam + L2: the decay term wd * p is added to the gradient, so it is rescaled by 1/sqrt(v_hat).
    AdamW: the decay is applied to the weights directly, p <- p - lr * wd * p, outside the moments.
    """
    b1, b2 = betas
    if weight_decay and not decoupled:
        g = g + weight_decay * p                       # L2 penalty goes through the moments
    if weight_decay and decoupled:
        p = p * (1 - lr * weight_decay)                # decoupled weight decay
    m = b1 * m + (1 - b1) * g                          # first moment (mean of g)
    v = b2 * v + (1 - b2) * g * g                      # second moment (mean of g^2)
    m_hat = m / (1 - b1 ** t)                          # bias correction: moments start at 0
    v_hat = v / (1 - b2 ** t)
    p = p - lr * m_hat / (v_hat.sqrt() + eps)
    return p, m, v
# --8<-- [end:adam]


# --8<-- [start:schedule]
def warmup_cosine_lr(step: int, max_lr: float, warmup_steps: int, total_steps: int,
                     min_lr: float = 0.0) -> float:
    """Linear warm-up from 0 to max_lr over warmup_steps, then cosine decay to min_lr at total_steps."""
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_lr + 0.5 * (max_lr - min_lr) * (1 + math.cos(math.pi * progress))
# --8<-- [end:schedule]


if __name__ == "__main__":
    torch.manual_seed(0)
    p0, g = torch.tensor([10.0, 0.01]), torch.tensor([1.0, 1.0])
    zeros = torch.zeros(2)
    pa, _, _ = adam_step(p0, g, zeros, zeros, 1, lr=0.1, weight_decay=0.1)
    pw, _, _ = adam_step(p0, g, zeros, zeros, 1, lr=0.1, weight_decay=0.1, decoupled=True)
    print("first step, weights [10, 0.01], grad [1, 1], lr 0.1, wd 0.1")
    print("  Adam + L2:", [round(v, 4) for v in pa.tolist()], " AdamW:", [round(v, 4) for v in pw.tolist()])
    lrs = [warmup_cosine_lr(s, 3e-4, 100, 1000, 3e-5) for s in range(1000)]
    print("lr at steps 0, 99, 100, 550, 999:", [f"{lrs[s]:.2e}" for s in (0, 99, 100, 550, 999)])
