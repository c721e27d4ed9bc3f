"""Scripted random draws for the MLM masking tests (basics/lm_types and pretraining/objectives).

Both snippets' ``mlm_mask`` draw ``torch.rand(shape)`` twice: first u (a position is chosen iff u < p), then
r (a chosen position becomes [MASK] for r in [0, 0.8), a random token for [0.8, 0.9), stays unchanged for
[0.9, 1)). Scripting those draws puts values exactly on the interval edges, which real draws hit with
probability 2^-24.
"""
from __future__ import annotations

import torch


def script_draws(monkeypatch, draws: list[torch.Tensor]) -> list[torch.Tensor]:
    """Replace torch.rand with one that returns the given float32 tensors in order (checking each shape),
    and torch.randint with one that returns high - 1 for every draw, so a random replacement shows up as
    the id vocab_size - 1. Returns the list of draws not yet consumed (empty once both were used)."""
    left = list(draws)

    def rand(*size, generator=None, **kwargs):
        shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else tuple(size)
        d = left.pop(0)
        assert tuple(d.shape) == shape
        return d.clone()

    def randint(*args, generator=None, **kwargs):          # randint([low,] high, size)
        return torch.full(tuple(args[-1]), args[-2] - 1, dtype=torch.int64)

    monkeypatch.setattr(torch, "rand", rand)
    monkeypatch.setattr(torch, "randint", randint)
    return left


def float32_below(t: float) -> float:
    """The largest float32 below float32(t)."""
    x = torch.tensor([t], dtype=torch.float32)
    return float(torch.nextafter(x, torch.zeros(1)))
