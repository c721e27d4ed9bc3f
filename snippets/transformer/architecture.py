"""The Transformer block, token embeddings and why residual connections keep gradients alive.

Pages: docs/transformer/architecture.{zh,en}.md
Vaswani et al., *Attention Is All You Need*, 2017, arXiv:1706.03762.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# --8<-- [start:embedding]
def embed(token_ids: torch.Tensor, table: torch.Tensor, scale_by_sqrt_d: bool = False) -> torch.Tensor:
    """Embedding lookup. token_ids: (batch, seq) ints; table: (vocab, d) -> (batch, seq, d).

    A lookup is the same as one_hot(ids) @ table, i.e. a linear layer on one-hot
    inputs, so the rows are ordinary trainable weights. The original Transformer
    multiplies by sqrt(d); GPT-2 / LLaMA-style models do not.
    """
    x = table[token_ids]                                   # row gather, no matmul needed
    return x * math.sqrt(table.shape[1]) if scale_by_sqrt_d else x


def init_embedding(vocab: int, d: int, std: float = 0.02, seed: int = 0) -> torch.Tensor:
    """GPT-2 / LLaMA-style init: N(0, std^2) with std = 0.02. Returns (vocab, d)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(vocab, d, generator=g) * std
# --8<-- [end:embedding]


# --8<-- [start:block]
class TransformerBlock(nn.Module):
    """One encoder block: self-attention + FFN, each wrapped in a residual connection.

    norm_first=False is the original Post-LN block: x = LN(x + Sublayer(x)).
    norm_first=True is the Pre-LN block used by GPT-2 and later LLMs: x = x + Sublayer(LN(x)).
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, norm_first: bool = False) -> None:
        super().__init__()
        assert d_model % n_heads == 0
        self.h, self.dh, self.norm_first = n_heads, d_model // n_heads, norm_first
        self.qkv = nn.Linear(d_model, 3 * d_model)     # W_Q, W_K, W_V stacked: (3d, d)
        self.out = nn.Linear(d_model, d_model)         # W_O
        self.ff1, self.ff2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)

    def attention(self, x: torch.Tensor, causal: bool) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)                       # 3 x (b, s, d)
        q, k, v = (t.view(b, s, self.h, self.dh).transpose(1, 2) for t in (q, k, v))  # (b, h, s, dh)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dh)        # (b, h, s, s)
        if causal:                                                   # token i sees only j <= i
            future = torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(future, float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v                        # (b, h, s, dh)
        return self.out(o.transpose(1, 2).reshape(b, s, d))          # concat heads, then W_O

    def ffn(self, x: torch.Tensor) -> torch.Tensor:
        return self.ff2(F.relu(self.ff1(x)))

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        # x: (batch, seq, d_model)
        if self.norm_first:                                          # Pre-LN
            x = x + self.attention(self.ln1(x), causal)
            return x + self.ffn(self.ln2(x))
        x = self.ln1(x + self.attention(x, causal))                  # Post-LN (2017)
        return self.ln2(x + self.ffn(x))
# --8<-- [end:block]


# --8<-- [start:residual]
def deep_stack(x: torch.Tensor, weights: list[torch.Tensor], residual: bool) -> torch.Tensor:
    """Apply L layers f_l(x) = tanh(x W_l), with or without a residual connection.

    x: (batch, d); weights: L tensors of shape (d, d).
    With residuals each layer is x + f(x), whose Jacobian is I + J_f: the identity
    term gives the gradient a path that no product of small J_f can shrink to zero.
    """
    for w in weights:
        fx = torch.tanh(x @ w)
        x = x + fx if residual else fx
    return x


def input_grad_norm(depth: int, d: int = 64, residual: bool = True, std: float = 0.5, seed: int = 0) -> float:
    """||dL/dx|| at the input of a depth-layer stack, L = sum of outputs."""
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(d, d, generator=g) * std / math.sqrt(d) for _ in range(depth)]
    x = torch.randn(1, d, generator=g, requires_grad=True)
    deep_stack(x, weights, residual).sum().backward()
    return x.grad.norm().item()
# --8<-- [end:residual]


if __name__ == "__main__":
    torch.manual_seed(0)
    table = init_embedding(vocab=100, d=16)
    ids = torch.tensor([[3, 14, 15, 92]])
    print("embedding output shape:", tuple(embed(ids, table).shape), f"table std {table.std():.4f}")
    block = TransformerBlock(d_model=16, n_heads=4, d_ff=64, norm_first=True)
    print("block output shape:", tuple(block(torch.randn(2, 5, 16), causal=True).shape))
    for depth in (4, 16, 64):
        print(f"depth {depth:3d}: |grad| with residual {input_grad_norm(depth, residual=True):9.3e}, "
              f"without {input_grad_norm(depth, residual=False):9.3e}")
