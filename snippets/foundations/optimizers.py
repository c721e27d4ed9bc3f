"""Adam and AdamW by hand, a linear warm-up + cosine learning-rate schedule, and Muon (Newton–Schulz)
with QK-Clip.

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

# --8<-- [start:muon]
def newton_schulz(g: torch.Tensor, steps: int = 5,
                  coeffs: tuple[float, float, float] = (3.4445, -4.7750, 2.0315)) -> torch.Tensor:
    """Approximate the orthogonal polar factor U V^T of g = U S V^T (g: (m, n)) without an SVD.

    Each step applies the odd polynomial f(x) = a x + b x^3 + c x^5 to every singular value at once:
    X <- a X + b (X X^T) X + c (X X^T)^2 X. Dividing by the Frobenius norm first puts all singular
    values in (0, 1]. The default quintic coefficients (Jordan et al., 2024) push small singular values
    up fast and leave them roughly in [0.7, 1.2] after 5 steps; (1.5, -0.5, 0.0) is the classic cubic
    iteration, which converges to exactly 1 but needs many more steps.
    """
    a, b, c = coeffs
    x = g / (g.norm() + 1e-7)
    transposed = x.shape[0] > x.shape[1]
    if transposed:                                     # work on the wide side: X X^T is the small Gram
        x = x.T
    for _ in range(steps):
        gram = x @ x.T                                 # (min(m,n), min(m,n))
        x = a * x + (b * gram + c * gram @ gram) @ x
    return x.T if transposed else x


def muon_step(w: torch.Tensor, grad: torch.Tensor, buf: torch.Tensor, lr: float = 0.02,
              momentum: float = 0.95, weight_decay: float = 0.0,
              rms_match: float = 0.2) -> tuple[torch.Tensor, torch.Tensor]:
    """One Muon step on a 2-D weight (out, in), Nesterov momentum. Returns (w, buf).

    The orthogonalised update has RMS about 1/sqrt(max(m, n)); multiplying by rms_match * sqrt(max(m, n))
    (Moonlight, Liu et al. 2025) gives it an AdamW-like RMS of about 0.2, so AdamW learning rates and
    weight decay carry over.
    """
    buf = momentum * buf + grad
    update = newton_schulz(grad + momentum * buf)      # Nesterov: orthogonalise the look-ahead
    update = update * rms_match * max(w.shape) ** 0.5
    w = w * (1 - lr * weight_decay) - lr * update      # decoupled weight decay, as in AdamW
    return w, buf


def qk_clip(w_q: torch.Tensor, w_k: torch.Tensor, x: torch.Tensor, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """QK-Clip for one head (Kimi K2's MuonClip): if the largest attention logit on this batch exceeds
    tau, scale W_q and W_k by sqrt(tau / S_max) each, so the largest logit becomes exactly tau.

    w_q, w_k: (d_head, d_model); x: (tokens, d_model). Logits use the usual 1/sqrt(d_head) scale.
    """
    q, k = x @ w_q.T, x @ w_k.T
    s_max = float((q @ k.T).max()) / w_q.shape[0] ** 0.5
    gamma = min(1.0, tau / s_max) if s_max > 0 else 1.0
    return w_q * gamma ** 0.5, w_k * gamma ** 0.5
# --8<-- [end:muon]


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
    g = torch.randn(64, 256, generator=torch.Generator().manual_seed(0))
    sv = torch.linalg.svdvals(newton_schulz(g))
    print(f"Newton-Schulz (5 quintic steps) on a 64x256 gradient: singular values in "
          f"[{sv.min():.2f}, {sv.max():.2f}] (raw gradient: condition number {torch.linalg.cond(g):.1f})")
