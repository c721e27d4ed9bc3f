"""LoRA linear layer from scratch: zero-init B, alpha/r scaling, merge, parameter counts.

Pages: docs/peft/lora.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


# --8<-- [start:lora_linear]
class LoRALinear(nn.Module):
    """y = W0 x + b + (alpha / r) * B A x, with W0 and b frozen.

    A: (r, in_features), Kaiming-uniform like nn.Linear; B: (out_features, r), zeros,
    so the wrapped layer starts exactly equal to the frozen one.
    rslora=True uses alpha / sqrt(r) (rank-stabilized LoRA).
    """

    def __init__(self, base: nn.Linear, r: int = 8, alpha: float = 16.0,
                 dropout: float = 0.0, rslora: bool = False) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.A = nn.Parameter(torch.empty(r, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.A, a=math.sqrt(5))
        self.scaling = alpha / math.sqrt(r) if rslora else alpha / r
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, seq, in_features) -> (batch, seq, out_features)."""
        # Never form B @ A during training: two thin matmuls cost r * (in + out) per token.
        return self.base(x) + self.scaling * (self.dropout(x) @ self.A.T) @ self.B.T

    @torch.no_grad()
    def merged(self) -> nn.Linear:
        """A plain nn.Linear with W = W0 + (alpha / r) B A: zero extra inference latency."""
        out = nn.Linear(self.base.in_features, self.base.out_features,
                        bias=self.base.bias is not None)
        out.weight.copy_(self.base.weight + self.scaling * self.B @ self.A)
        if self.base.bias is not None:
            out.bias.copy_(self.base.bias)
        return out
# --8<-- [end:lora_linear]


# --8<-- [start:lora_params]
def lora_params(shapes: list[tuple[int, int]], r: int) -> int:
    """Trainable LoRA parameters for target layers given as (in_features, out_features)."""
    return sum(r * (d_in + d_out) for d_in, d_out in shapes)


def chatglm6b_lora(r: int = 8, bytes_per_param: int = 2) -> tuple[int, float]:
    """LoRA on ChatGLM-6B's fused query_key_value (4096 -> 3 * 4096) in all 28 layers.

    Returns (parameter count, size in MB). Config: hidden 4096, 28 layers.
    """
    hidden, layers = 4096, 28
    n = layers * lora_params([(hidden, 3 * hidden)], r)
    return n, n * bytes_per_param / 1e6


def llama7b_lora(r: int = 8, targets: tuple[str, ...] = ("q", "v")) -> int:
    """LoRA parameters on LLaMA-7B (hidden 4096, FFN 11008, 32 layers) for chosen projections."""
    h, f = 4096, 11008
    shape = {"q": (h, h), "k": (h, h), "v": (h, h), "o": (h, h),
             "gate": (h, f), "up": (h, f), "down": (f, h)}
    return 32 * lora_params([shape[t] for t in targets], r)
# --8<-- [end:lora_params]


if __name__ == "__main__":
    torch.manual_seed(0)
    base = nn.Linear(64, 32)
    layer = LoRALinear(base, r=4, alpha=8)
    x = torch.randn(2, 5, 64)
    print("zero-init B -> identical to frozen layer:", torch.equal(layer(x), base(x)))
    nn.init.normal_(layer.B)
    print("merged == unmerged:", torch.allclose(layer.merged()(x), layer(x), atol=1e-5))
    trainable = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    print(f"trainable {trainable} = r*(in+out) = {4 * (64 + 32)}; frozen {64 * 32 + 32}")
    n, mb = chatglm6b_lora(r=8)
    print(f"ChatGLM-6B LoRA r=8 on query_key_value: {n:,} params, {mb:.1f} MB in fp16")
    print(f"LLaMA-7B LoRA r=8 on q,v: {llama7b_lora(8):,} params; all 7 projections r=16: "
          f"{llama7b_lora(16, ('q', 'k', 'v', 'o', 'gate', 'up', 'down')):,}")
