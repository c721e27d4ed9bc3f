"""Memory-saving training techniques: gradient accumulation (with correct loss normalisation),
activation checkpointing written as an autograd.Function, and fp16 loss scaling.

Pages: docs/distributed/memory_saving.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


# --8<-- [start:grad_accum]
def accumulate_gradients(model: nn.Module, micro_batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> None:
    """Token-level cross-entropy over several micro-batches, same gradient as one big batch.

    Each micro-batch is (inputs (b, d), targets (b, seq), mask (b, seq)). The loss of each micro-batch is
    its *sum* over valid tokens divided by the valid-token count of the *whole* accumulated batch,
    so micro-batches with more padding do not get more weight per token.
    """
    total_tokens = sum(int(m.sum()) for _, _, m in micro_batches)
    for x, y, m in micro_batches:
        logits = model(x)                                                # (b, seq, vocab)
        nll = nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
        loss = (nll * m.flatten()).sum() / total_tokens
        loss.backward()                                                  # grads add up in .grad
# --8<-- [end:grad_accum]


# --8<-- [start:checkpoint]
class Checkpoint(torch.autograd.Function):
    """Activation checkpointing: run `fn` without saving its intermediate activations and
    run it again during backward to rebuild them (one extra forward of `fn`)."""

    @staticmethod
    def forward(ctx, fn: Callable[..., torch.Tensor], x: torch.Tensor, *params: torch.Tensor) -> torch.Tensor:
        ctx.fn = fn
        ctx.save_for_backward(x, *params)                # only the block input is kept
        with torch.no_grad():
            return fn(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, *params = ctx.saved_tensors
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            y = ctx.fn(x)                                # recompute the block
        grads = torch.autograd.grad(y, (x, *params), grad_out, allow_unused=True)
        return (None, *grads)


def checkpointed(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return Checkpoint.apply(block, x, *block.parameters())
# --8<-- [end:checkpoint]


# --8<-- [start:loss_scaling]
class DynamicLossScaler:
    """fp16 loss scaling as in torch.amp.GradScaler: multiply the loss by `scale` so small gradients
    do not underflow, unscale before the step, skip the step and halve the scale on inf/NaN,
    double it after `growth_interval` clean steps."""

    def __init__(self, init_scale: float = 2.0**16, growth_interval: int = 2000) -> None:
        self.scale, self.growth_interval, self._good = init_scale, growth_interval, 0

    def unscale_and_check(self, grads: list[torch.Tensor]) -> bool:
        """Divide grads by the scale in fp32; return True if the step may be taken."""
        finite = all(torch.isfinite(g).all() for g in grads)
        for g in grads:
            g.div_(self.scale)
        self.update(finite)
        return finite

    def update(self, finite: bool) -> None:
        if not finite:
            self.scale, self._good = self.scale / 2, 0
        else:
            self._good += 1
            if self._good == self.growth_interval:
                self.scale, self._good = self.scale * 2, 0
# --8<-- [end:loss_scaling]


if __name__ == "__main__":
    tiny = torch.tensor(1e-8)
    print("1e-8 in fp16:", tiny.half().item(), "| (1e-8 * 2^16) in fp16, unscaled in fp32:",
          (tiny * 2**16).half().float().item() / 2**16)
    print("bf16 keeps it:", tiny.bfloat16().item(), "| fp16 max", torch.finfo(torch.float16).max,
          "bf16 max", f"{torch.finfo(torch.bfloat16).max:.3g}")
    torch.manual_seed(0)
    block = nn.Sequential(nn.Linear(32, 128), nn.GELU(), nn.Linear(128, 32))
    x = torch.randn(4, 32, requires_grad=True)
    checkpointed(block, x).pow(2).sum().backward()
    g_ckpt = x.grad.clone()
    x.grad = None
    block(x).pow(2).sum().backward()
    print("checkpointed grads == normal grads:", torch.allclose(g_ckpt, x.grad))
