"""Where the norm goes: Post-LN, Pre-LN and Sandwich-LN blocks sharing one set of weights,
plus a gradient-norm-at-initialisation experiment (Xiong et al. 2020, arXiv:2002.04745).

Pages: docs/norms/placement.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# --8<-- [start:block]
class Block(nn.Module):
    """One Transformer layer (causal self-attention + FFN) whose norm placement is chosen at call time.

    post:     x = LN1(x + Attn(x));          x = LN2(x + FFN(x))
    pre:      x = x + Attn(LN1(x));          x = x + FFN(LN2(x))
    sandwich: x = x + LN1o(Attn(LN1(x)));    x = x + LN2o(FFN(LN2(x)))
    x: (batch, seq, d). The attention / FFN weights are the same for all three.
    """

    def __init__(self, d: int, n_heads: int, d_ff: int) -> None:
        super().__init__()
        self.h = n_heads
        self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.fc1, self.fc2 = nn.Linear(d, d_ff), nn.Linear(d_ff, d)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ln1_out, self.ln2_out = nn.LayerNorm(d), nn.LayerNorm(d)   # used by sandwich only

    def attn(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.h, d // self.h).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.h)          # (b, h, s, s)
        causal = torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1)
        att = torch.softmax(scores.masked_fill(causal, float("-inf")), dim=-1)
        return self.proj((att @ v).transpose(1, 2).reshape(b, s, d))

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))

    def forward(self, x: torch.Tensor, placement: str = "pre") -> torch.Tensor:
        if placement == "post":
            x = self.ln1(x + self.attn(x))
            return self.ln2(x + self.ffn(x))
        if placement == "pre":
            x = x + self.attn(self.ln1(x))
            return x + self.ffn(self.ln2(x))
        if placement == "sandwich":
            x = x + self.ln1_out(self.attn(self.ln1(x)))
            return x + self.ln2_out(self.ffn(self.ln2(x)))
        raise ValueError(placement)
# --8<-- [end:block]


# --8<-- [start:grad_demo]
def last_layer_grad_norm(placement: str, n_layers: int, d: int = 64, seed: int = 0) -> float:
    """Gradient norm of the last layer's fc2 weight at initialisation.

    Stack n_layers Blocks (Pre-LN also gets the usual final LayerNorm), read
    out with a fixed random linear head and take cross-entropy on random labels.
    Xiong et al. 2020: for Post-LN this gradient does not shrink with depth,
    for Pre-LN it shrinks with depth (like 1/sqrt(n_layers) in the large-depth limit).
    """
    torch.manual_seed(seed)
    blocks = nn.ModuleList(Block(d, n_heads=4, d_ff=4 * d) for _ in range(n_layers))
    final_ln = nn.LayerNorm(d)
    head = nn.Linear(d, 100)
    x = torch.randn(8, 16, d)                         # (batch, seq, d)
    labels = torch.randint(0, 100, (8, 16))
    for blk in blocks:
        x = blk(x, placement)
    if placement == "pre":
        x = final_ln(x)
    loss = F.cross_entropy(head(x).flatten(0, 1), labels.flatten())
    loss.backward()
    return blocks[-1].fc2.weight.grad.norm().item()
# --8<-- [end:grad_demo]


if __name__ == "__main__":
    for n in (2, 6, 24):
        post = last_layer_grad_norm("post", n)
        pre = last_layer_grad_norm("pre", n)
        print(f"L={n:2d}  last-layer grad norm  Post-LN {post:.4f}  Pre-LN {pre:.4f}  ratio {post / pre:.2f}")
