"""Bottleneck adapters (Houlsby) and (IA)^3 scaling vectors.

Pages: docs/peft/adapters.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn as nn


# --8<-- [start:adapter]
class BottleneckAdapter(nn.Module):
    """h + W_up f(W_down h + b_down) + b_up, inserted after a sub-layer.

    d_model -> bottleneck -> d_model; W_up starts at zero, so the adapter starts as
    the identity and the pre-trained network is unchanged at step 0.
    """

    def __init__(self, d_model: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(d_model, bottleneck)
        self.up = nn.Linear(bottleneck, d_model)
        self.act = nn.GELU()
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        """h: (batch, seq, d_model) -> same shape."""
        return h + self.up(self.act(self.down(h)))


def houlsby_params(d_model: int, bottleneck: int, n_layers: int, per_layer: int = 2) -> int:
    """Adapter parameters: 2 d m + d + m per adapter, `per_layer` adapters per block
    (Houlsby: after attention and after the FFN; Pfeiffer: one)."""
    return n_layers * per_layer * (2 * d_model * bottleneck + d_model + bottleneck)
# --8<-- [end:adapter]


# --8<-- [start:ia3]
class IA3Linear(nn.Module):
    """(IA)^3 on a frozen linear layer: a learned vector l, initialized to ones.

    feedforward=False (keys, values): scale the output, y = l * (W x + b).
    feedforward=True (the FFN's down projection): scale its input, y = W (l * x) + b,
    which rescales the FFN's intermediate activations.
    """

    def __init__(self, base: nn.Linear, feedforward: bool = False) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.feedforward = feedforward
        self.l = nn.Parameter(torch.ones(base.in_features if feedforward else base.out_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.feedforward:
            return self.base(x * self.l)
        return self.base(x) * self.l

    @torch.no_grad()
    def merged(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(W', b') with the scaling folded in: W diag(l) for the input side,
        diag(l) W and l * b for the output side. No extra inference cost."""
        w, b = self.base.weight, self.base.bias
        if self.feedforward:
            return w * self.l[None, :], b
        return w * self.l[:, None], (b * self.l if b is not None else None)
# --8<-- [end:ia3]


if __name__ == "__main__":
    torch.manual_seed(0)
    h = torch.randn(2, 4, 32)
    print("adapter starts as identity:", torch.equal(BottleneckAdapter(32, 8)(h), h))
    print(f"Houlsby adapters on BERT-base (d=768, m=64, 12 layers): {houlsby_params(768, 64, 12):,} params")
    print(f"(IA)^3 on a LLaMA-7B-sized model, k+v+ffn: {32 * (4096 + 4096 + 11008):,} params")
