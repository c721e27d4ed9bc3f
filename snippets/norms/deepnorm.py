"""DeepNorm (Wang et al. 2022, DeepNet, arXiv:2203.00555): constants, residual block, init.

Pages: docs/norms/deepnorm.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --8<-- [start:constants]
def deepnorm_constants(arch: str, n_enc: int = 0, n_dec: int = 0) -> dict[str, tuple[float, float]]:
    """DeepNorm (alpha, beta) from Figure 2(b) / Section 4.3 of the DeepNet paper.

    arch: "encoder" (N = n_enc layers), "decoder" (M = n_dec layers) or
    "encoder-decoder" (both). Returns {"encoder": (alpha, beta), "decoder": (alpha, beta)}
    with only the parts that exist. alpha up-weights the residual x_l,
    beta is the Xavier gain for the FFN, value and output projections.
    """
    N, M = n_enc, n_dec
    if arch in ("encoder", "encoder-decoder") and N < 1:
        raise ValueError(f"arch {arch!r} needs n_enc >= 1 encoder layers, got {N}")
    if arch in ("decoder", "encoder-decoder") and M < 1:
        raise ValueError(f"arch {arch!r} needs n_dec >= 1 decoder layers, got {M}")
    if arch == "encoder":
        return {"encoder": ((2 * N) ** 0.25, (8 * N) ** -0.25)}
    if arch == "decoder":
        return {"decoder": ((2 * M) ** 0.25, (8 * M) ** -0.25)}
    if arch == "encoder-decoder":
        return {
            "encoder": (0.81 * (N**4 * M) ** (1 / 16), 0.87 * (N**4 * M) ** (-1 / 16)),
            "decoder": ((3 * M) ** 0.25, (12 * M) ** -0.25),
        }
    raise ValueError(f"unknown arch {arch!r}")
# --8<-- [end:constants]


# --8<-- [start:sublayers]
class SelfAttention(nn.Module):
    """Causal multi-head self-attention with separate q/k/v/out projections. x: (batch, seq, d)."""

    def __init__(self, d: int, n_heads: int) -> None:
        super().__init__()
        self.h = n_heads
        self.q_proj, self.k_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.v_proj, self.out_proj = nn.Linear(d, d), nn.Linear(d, d)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        b, s, d = t.shape
        return t.view(b, s, self.h, d // self.h).transpose(1, 2)          # (b, h, s, hd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self._heads(self.q_proj(x)), self._heads(self.k_proj(x)), self._heads(self.v_proj(x))
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.h)          # (b, h, s, s)
        future = torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1)
        att = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        return self.out_proj((att @ v).transpose(1, 2).reshape(b, s, d))


class FeedForward(nn.Module):
    """Position-wise FFN: fc2(gelu(fc1(x)))."""

    def __init__(self, d: int, d_ff: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))
# --8<-- [end:sublayers]


# --8<-- [start:deepnorm_block]
class DeepNormResidual(nn.Module):
    """One DeepNorm sub-layer: x_{l+1} = LayerNorm(alpha * x_l + G(x_l)).

    Same place as Post-LN (norm after the residual add); the only change is alpha.
    """

    def __init__(self, sublayer: nn.Module, d: int, alpha: float) -> None:
        super().__init__()
        self.sublayer, self.alpha = sublayer, alpha
        self.norm = nn.LayerNorm(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:   # x: (batch, seq, d)
        return self.norm(self.alpha * x + self.sublayer(x))


def deepnorm_init_(model: nn.Module, beta: float) -> None:
    """DeepNorm init: Xavier-normal with gain beta for fc1 / fc2 / v_proj / out_proj,
    gain 1 for q_proj / k_proj, zero biases. Other modules (embeddings, heads) are left alone."""
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("fc1", "fc2", "v_proj", "out_proj"):
            gain = beta
        elif leaf in ("q_proj", "k_proj"):
            gain = 1.0
        else:
            continue
        nn.init.xavier_normal_(module.weight, gain=gain)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


class DeepNormDecoderLayer(nn.Module):
    """Decoder-only layer (causal attention + FFN), both sub-layers wrapped by DeepNorm."""

    def __init__(self, d: int, n_heads: int, d_ff: int, alpha: float) -> None:
        super().__init__()
        self.attn = DeepNormResidual(SelfAttention(d, n_heads), d, alpha)
        self.ffn = DeepNormResidual(FeedForward(d, d_ff), d, alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn(self.attn(x))
# --8<-- [end:deepnorm_block]


if __name__ == "__main__":
    for m in (6, 12, 24, 100, 1000):
        a, b = deepnorm_constants("decoder", n_dec=m)["decoder"]
        print(f"decoder-only M={m:4d}: alpha={a:.3f}, beta={b:.3f}")
    torch.manual_seed(0)
    M, d = 12, 64
    alpha, beta = deepnorm_constants("decoder", n_dec=M)["decoder"]
    layers = nn.Sequential(*[DeepNormDecoderLayer(d, 4, 4 * d, alpha) for _ in range(M)])
    deepnorm_init_(layers, beta)
    y = layers(torch.randn(2, 10, d))
    print("output shape", tuple(y.shape), "per-token std", round(y.std(-1).mean().item(), 3))
