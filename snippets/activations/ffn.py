"""Position-wise feed-forward network (FFN) of the original Transformer, its size and cost, and ReLU.

FFN(x) = act(x W1 + b1) W2 + b2, applied to every token independently
(Vaswani et al., 2017, arXiv:1706.03762).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


# --8<-- [start:ffn]
class DenseFFN(nn.Module):
    """Two-layer position-wise FFN: d -> d_ff -> d, with an activation in between.

    The same weights are applied to every position, so the block mixes
    features inside a token but never mixes tokens (that is attention's job).
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int | None = None,
        activation: Callable[[torch.Tensor], torch.Tensor] = F.relu,
        bias: bool = True,
    ) -> None:
        super().__init__()
        d_ff = 4 * d_model if d_ff is None else d_ff  # 4d in the original Transformer
        self.w1 = nn.Linear(d_model, d_ff, bias=bias)  # up-projection W1: (d, d_ff)
        self.w2 = nn.Linear(d_ff, d_model, bias=bias)  # down-projection W2: (d_ff, d)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (batch, seq, d) -> hidden: (batch, seq, d_ff) -> out: (batch, seq, d)
        hidden = self.activation(self.w1(x))
        return self.w2(hidden)
# --8<-- [end:ffn]


# --8<-- [start:ffn_cost]
def ffn_param_count(d_model: int, d_ff: int, bias: bool = True) -> int:
    """Parameters of a dense FFN: two weight matrices plus (optionally) two bias vectors."""
    return 2 * d_model * d_ff + ((d_ff + d_model) if bias else 0)


def ffn_flops_per_token(d_model: int, d_ff: int) -> int:
    """Forward matmul FLOPs per token (one multiply-add = 2 FLOPs); biases and activation ignored."""
    return 2 * d_model * d_ff + 2 * d_ff * d_model  # x W1, then h W2
# --8<-- [end:ffn_cost]


# --8<-- [start:relu]
def relu(x: torch.Tensor) -> torch.Tensor:
    """ReLU(x) = max(0, x)."""
    return torch.clamp(x, min=0.0)


def relu_grad(x: torch.Tensor) -> torch.Tensor:
    """dReLU/dx: 1 where x > 0, 0 where x < 0; at x = 0 we use 0 (PyTorch's convention)."""
    return (x > 0).to(x.dtype)
# --8<-- [end:relu]


if __name__ == "__main__":
    torch.manual_seed(0)
    d, d_ff = 512, 2048  # Transformer-base sizes
    ffn = DenseFFN(d, d_ff)
    x = torch.randn(2, 10, d)  # (batch, seq, d)
    print("output shape:", tuple(ffn(x).shape))
    print("params (formula):", ffn_param_count(d, d_ff), " params (module):", sum(p.numel() for p in ffn.parameters()))
    print("forward FLOPs per token:", ffn_flops_per_token(d, d_ff), "= 16 d^2 =", 16 * d * d)

    # A "dead" unit: its pre-activation is negative for every input, so it gets no gradient.
    with torch.no_grad():
        ffn.w1.bias[0] = -1e3
    ffn(x).sum().backward()
    print("grad norm of W1 row 0 (dead unit):", ffn.w1.weight.grad[0].norm().item())
    print("grad norm of W1 row 1 (live unit):", round(ffn.w1.weight.grad[1].norm().item(), 4))
    print("relu_grad([-1, 0, 2]) =", relu_grad(torch.tensor([-1.0, 0.0, 2.0])).tolist())
