"""Training stability: gradient-norm clipping, initialization scale, fp16 vs bf16.

Pages: docs/foundations/stability.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:clip]
def clip_grad_norm(grads: list[torch.Tensor], max_norm: float, eps: float = 1e-6) -> tuple[list[torch.Tensor], float]:
    """Global L2-norm clipping: if ||g|| > max_norm, scale ALL gradients by max_norm / ||g||.

    The norm is over all parameters together, so the update direction is preserved.
    Returns (clipped grads, total norm before clipping).
    """
    total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
    coef = min(1.0, max_norm / (total + eps))
    return [g * coef for g in grads], total
# --8<-- [end:clip]


# --8<-- [start:init]
def init_std(fan_in: int, fan_out: int, scheme: str) -> float:
    """Standard deviation of common initializations for a linear layer.

    xavier: sqrt(2 / (fan_in + fan_out)) keeps variance in forward and backward for linear/tanh;
    kaiming: sqrt(2 / fan_in) compensates ReLU zeroing half the inputs.
    """
    if scheme == "xavier":
        return math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "kaiming":
        return math.sqrt(2.0 / fan_in)
    raise ValueError(scheme)


def activation_scale_through_depth(depth: int, width: int, std: float, seed: int = 0) -> list[float]:
    """RMS of activations after each Linear+ReLU layer (no norm, no residual) for weights ~ N(0, std^2).

    From a torch.Generator seeded with seed: a batch of 256 inputs ~ N(0, I) of size width, then one
    (width, width) weight per layer, h <- relu(h @ W); the RMS is over the whole batch.
    """
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(256, width, generator=g)
    out = []
    for _ in range(depth):
        W = torch.randn(width, width, generator=g) * std
        h = torch.relu(h @ W)
        out.append(float(h.pow(2).mean().sqrt()))
    return out
# --8<-- [end:init]


# --8<-- [start:formats]
def float_format(exp_bits: int, mantissa_bits: int) -> dict[str, float]:
    """Largest finite value, smallest normal value and machine epsilon of an IEEE-style format."""
    bias = 2 ** (exp_bits - 1) - 1
    return {
        "max": (2 - 2.0 ** -mantissa_bits) * 2.0 ** bias,
        "tiny": 2.0 ** (1 - bias),
        "eps": 2.0 ** -mantissa_bits,
    }
# --8<-- [end:formats]


if __name__ == "__main__":
    grads = [torch.tensor([3.0, 0.0]), torch.tensor([[0.0, 4.0]])]
    clipped, norm = clip_grad_norm(grads, max_norm=1.0)
    print(f"total norm {norm:.1f} -> clipped to", [c.tolist() for c in clipped])
    for name, (e, m) in {"fp16": (5, 10), "bf16": (8, 7), "fp32": (8, 23)}.items():
        f = float_format(e, m)
        print(f"{name}: max {f['max']:.4g}, smallest normal {f['tiny']:.3g}, eps {f['eps']:.3g}")
    w = 512
    for label, std in [("std 0.02 ", 0.02), ("xavier  ", init_std(w, w, "xavier")), ("kaiming ", init_std(w, w, "kaiming"))]:
        rms = activation_scale_through_depth(20, w, std)
        print(f"{label} activation RMS after 1, 10, 20 layers: {rms[0]:.3g}, {rms[9]:.3g}, {rms[19]:.3g}")
