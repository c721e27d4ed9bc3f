"""LoRA variants: DoRA (magnitude / direction) and AdaLoRA (SVD form, orthogonality, budget).

Pages: docs/peft/lora_variants.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


# --8<-- [start:dora]
class DoRALinear(nn.Module):
    """W' = m * (W0 + s B A) / ||W0 + s B A||_row ; y = W' x + b.

    m (out_features,) is trainable and starts at the row norms of W0, so W' = W0 at
    init. The norm is detached (treated as a constant in backward), as the DoRA paper
    suggests to save memory. Row = one output feature in PyTorch's (out, in) layout.
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scaling = alpha / r
        self.m = nn.Parameter(base.weight.detach().norm(dim=1).clone())   # (out,)

    def weight(self) -> torch.Tensor:
        """The merged weight W' (out, in)."""
        v = self.base.weight + self.scaling * self.B @ self.A
        return self.m[:, None] * v / v.norm(dim=1, keepdim=True).detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight(), self.base.bias)
# --8<-- [end:dora]


# --8<-- [start:adalora]
def adalora_delta(P: torch.Tensor, lam: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """AdaLoRA update in SVD form: Delta W = P diag(lam) Q.
    P: (out, r), lam: (r,), Q: (r, in). Pruning a rank = zeroing one lam entry."""
    return P @ torch.diag(lam) @ Q


def orthogonal_regularizer(P: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """||P^T P - I||_F^2 + ||Q Q^T - I||_F^2 keeps P, Q close to orthonormal."""
    r = P.shape[1]
    eye = torch.eye(r, dtype=P.dtype, device=P.device)
    return (P.T @ P - eye).pow(2).sum() + (Q @ Q.T - eye).pow(2).sum()


def adalora_budget(step: int, total_steps: int, b_init: int, b_target: int,
                   t_init: int, t_final: int) -> int:
    """Cubic schedule of the total rank budget: b_init for the first t_init steps,
    then b_target + (b_init - b_target) (1 - (t - t_i) / (T - t_i - t_f))^3,
    then b_target for the last t_final steps."""
    if step < t_init:
        return b_init
    if step >= total_steps - t_final:
        return b_target
    frac = (step - t_init) / (total_steps - t_init - t_final)
    return int(b_target + (b_init - b_target) * (1 - frac) ** 3)
# --8<-- [end:adalora]


# --8<-- [start:adapter_cost]
def adapter_params(shapes: list[tuple[int, int]], r: int, adalora: bool = False) -> int:
    """Trainable adapter parameters over weight matrices of shape (d_out, d_in):
    LoRA r (d_in + d_out) each; AdaLoRA adds its r singular values lambda."""
    return sum(r * (d_in + d_out) + (r if adalora else 0) for d_out, d_in in shapes)


def dora_saved_direction_bytes(shapes: list[tuple[int, int]], bytes_per_elem: int = 2) -> int:
    """What autograd would keep if ||W0 + BA|| were NOT detached: the full V = W0 + BA of every
    adapted matrix, i.e. a second copy of the adapted weights."""
    return sum(d_out * d_in for d_out, d_in in shapes) * bytes_per_elem


def adapter_train_bytes(n_params: int, adalora: bool = False) -> int:
    """fp32 training state per adapter parameter: weight, gradient, AdamW m and v (16 bytes);
    peft's AdaLoRA RankAllocator adds sensitivity, its EMA and the uncertainty EMA (12 more)."""
    return n_params * (28 if adalora else 16)
# --8<-- [end:adapter_cost]


if __name__ == "__main__":
    torch.manual_seed(0)
    base = nn.Linear(16, 8)
    dora = DoRALinear(base, r=2, alpha=4)
    x = torch.randn(3, 16)
    print("DoRA at init equals frozen layer:", torch.allclose(dora(x), base(x), atol=1e-6))
    nn.init.normal_(dora.B)
    print("row norms of W' equal m:", torch.allclose(dora.weight().norm(dim=1), dora.m, atol=1e-5))
    P, _ = torch.linalg.qr(torch.randn(8, 4))
    print("orthogonal regularizer of an orthonormal P, Q:",
          round(orthogonal_regularizer(P, P.T.contiguous()).item(), 8))
    print("budget:", [adalora_budget(t, 1000, 96, 48, 100, 200) for t in (0, 100, 300, 500, 800, 999)])
    # LLaMA-7B-shaped layer (h 4096, FFN 11008), all 7 linear matrices adapted, 32 layers
    layer = [(4096, 4096)] * 4 + [(11008, 4096)] * 2 + [(4096, 11008)]
    shapes = layer * 32
    lora8, ada12 = adapter_params(shapes, 8), adapter_params(shapes, 12, adalora=True)
    print(f"LoRA r=8: {lora8 / 1e6:.1f}M params, {adapter_train_bytes(lora8) / 1e6:.0f} MB of training state; "
          f"AdaLoRA init_r=12: {ada12 / 1e6:.1f}M, {adapter_train_bytes(ada12, True) / 1e6:.0f} MB")
    print(f"DoRA without detaching ||V||: {dora_saved_direction_bytes(shapes) / 1e9:.1f} GB kept for backward")
