"""RMSNorm from scratch and QK-norm attention.

Pages: docs/norms/rmsnorm.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:rms_norm]
def rms_norm(x: torch.Tensor, weight: torch.Tensor | None = None, eps: float = 1e-6) -> torch.Tensor:
    """RMSNorm over the last dimension. x: (..., d), weight (gain): (d,) or None.

    No mean subtraction and no bias: x / sqrt(mean(x^2) + eps) * g.
    """
    rms = torch.sqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)   # (..., 1)
    y = x / rms
    return y * weight if weight is not None else y
# --8<-- [end:rms_norm]


# --8<-- [start:qk_norm]
def qk_norm_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    q_weight: torch.Tensor,
    k_weight: torch.Tensor,
    eps: float = 1e-6,
    causal: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention with QK-norm (RMSNorm per head on q and k).

    q, k, v: (batch, heads, seq, head_dim); q_weight, k_weight: (head_dim,).
    Returns (output (batch, heads, seq, head_dim), logits (batch, heads, seq, seq)).
    The norm is applied to each head vector *before* the dot product (and, in
    a real model, before RoPE), as in Qwen3 / Gemma 3.
    """
    head_dim = q.shape[-1]
    q_hat = rms_norm(q, q_weight, eps)                      # RMS 1 per head vector, then gain
    k_hat = rms_norm(k, k_weight, eps)
    logits = q_hat @ k_hat.transpose(-2, -1) / math.sqrt(head_dim)   # (b, h, s, s)
    if causal:
        s = q.shape[-2]
        mask = torch.ones(s, s, dtype=torch.bool, device=q.device).triu(1)
        logits = logits.masked_fill(mask, float("-inf"))
    out = torch.softmax(logits, dim=-1) @ v
    return out, logits
# --8<-- [end:qk_norm]


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    g = torch.ones(16)
    print("RMS of rms_norm(x) per token ~1:",
          rms_norm(x, g).pow(2).mean(-1).sqrt().sub(1).abs().max().item() < 1e-4)
    print("rescaling invariant (x*7):", torch.allclose(rms_norm(7 * x, g), rms_norm(x, g), atol=1e-5))
    print("NOT re-centring invariant (x+3):", not torch.allclose(rms_norm(x + 3, g), rms_norm(x, g), atol=1e-3))

    # Blow q and k up by 1000x: plain logits explode, QK-norm logits stay bounded by sqrt(head_dim).
    b, h, s, d = 1, 2, 6, 16
    q, k, v = (torch.randn(b, h, s, d) for _ in range(3))
    plain = (1000 * q) @ (1000 * k).transpose(-2, -1) / math.sqrt(d)
    _, normed = qk_norm_attention(1000 * q, 1000 * k, v, torch.ones(d), torch.ones(d), causal=False)
    print(f"max |logit| plain {plain.abs().max().item():.3g}, "
          f"with QK-norm {normed.abs().max().item():.3f} (bound sqrt(d) = {math.sqrt(d):.3f})")
