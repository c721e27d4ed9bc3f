"""Rotary position embedding (RoPE): complex form, real rotate-half form, and the relative-position property.

Pages: docs/position-encoding/rope.{zh,en}.md
Su et al., *RoFormer: Enhanced Transformer with Rotary Position Embedding*, 2021, arXiv:2104.09864.
"""
from __future__ import annotations

import torch


# --8<-- [start:freqs]
def rope_inv_freq(head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """theta_i = base^(-2i/d), i = 0 .. d/2 - 1: one rotation speed (rad per token) per 2-D pair."""
    return base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
# --8<-- [end:freqs]


# --8<-- [start:rope_complex]
def apply_rope_complex(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoPE on interleaved pairs (x0, x1), (x2, x3), ... viewed as complex numbers (Meta's LLaMA code).

    x: (..., seq, head_dim); positions: (seq,). Pair i at position m is multiplied by e^{i m theta_i}.
    """
    xc = torch.view_as_complex(x.double().reshape(*x.shape[:-1], -1, 2))      # (..., seq, d/2) complex
    angles = positions.double()[:, None] * rope_inv_freq(x.shape[-1], base)   # (seq, d/2): m * theta_i
    rotated = xc * torch.polar(torch.ones_like(angles), angles)               # rotate each pair
    return torch.view_as_real(rotated).reshape(x.shape).to(x.dtype)
# --8<-- [end:rope_complex]


# --8<-- [start:rope_rotate_half]
def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) where x1, x2 are the first and second halves of the last dim."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope_rotate_half(x: torch.Tensor, positions: torch.Tensor, base: float = 10000.0) -> torch.Tensor:
    """RoPE in the "rotate-half" layout (GPT-NeoX, Hugging Face LLaMA): pair i is (x_i, x_{i + d/2}).

    x: (..., seq, head_dim). Real arithmetic only: x * cos + rotate_half(x) * sin.
    """
    angles = positions.double()[:, None] * rope_inv_freq(x.shape[-1], base)   # (seq, d/2)
    angles = torch.cat((angles, angles), dim=-1)                               # (seq, d)
    return (x.double() * angles.cos() + rotate_half(x.double()) * angles.sin()).to(x.dtype)
# --8<-- [end:rope_rotate_half]


# --8<-- [start:layout]
def interleaved_to_half(x: torch.Tensor) -> torch.Tensor:
    """Permute the last dim from (x0, x1, x2, x3, ...) pairs to (x0, x2, ..., x1, x3, ...) halves.

    With this permutation applied to W_Q and W_K the two layouts give identical attention,
    which is what the Hugging Face LLaMA conversion script does.
    """
    return torch.cat((x[..., 0::2], x[..., 1::2]), dim=-1)
# --8<-- [end:layout]


if __name__ == "__main__":
    torch.manual_seed(0)
    q, k = torch.randn(64), torch.randn(64)
    for m, n in ((3, 1), (103, 101), (5003, 5001)):
        qm = apply_rope_rotate_half(q[None], torch.tensor([m]))[0]
        kn = apply_rope_rotate_half(k[None], torch.tensor([n]))[0]
        print(f"m={m:5d}, n={n:5d}, m-n={m - n}: <R_m q, R_n k> = {float(qm @ kn):.5f}")
    print("wavelengths 2*pi/theta (tokens), head_dim 128:",
          [round(float(w)) for w in (2 * torch.pi / rope_inv_freq(128))[[0, 16, 32, 48, 63]]])
