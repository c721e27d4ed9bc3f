"""Scaled dot-product attention, padding / causal masks, and why the scores are divided by sqrt(d_k).

Pages: docs/transformer/attention.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:sdpa]
def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(Q K^T / sqrt(d_k)) V.

    q: (batch, heads, q_len, d_k); k: (batch, heads, k_len, d_k); v: (batch, heads, k_len, d_v).
    mask: bool, broadcastable to (batch, heads, q_len, k_len); True = may attend.
    Returns (output (batch, heads, q_len, d_v), weights (batch, heads, q_len, k_len)).
    """
    d_k = q.shape[-1]
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)       # similarity of every query with every key
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))     # exp(-inf) = 0 after softmax
    weights = torch.softmax(scores, dim=-1)                 # each row sums to 1
    return weights @ v, weights
# --8<-- [end:sdpa]


# --8<-- [start:masks]
def padding_mask(lengths: torch.Tensor, k_len: int) -> torch.Tensor:
    """Key-padding mask from true lengths (batch,) -> (batch, 1, 1, k_len); True = real token."""
    return (torch.arange(k_len)[None, :] < lengths[:, None])[:, None, None, :]


def causal_mask(q_len: int, k_len: int | None = None) -> torch.Tensor:
    """(q_len, k_len) lower-triangular mask; True = may attend.

    Aligned to the bottom-right: query i is the (k_len - q_len + i)-th token, so with
    a KV cache (q_len < k_len) the new queries still see every earlier key.
    """
    k_len = q_len if k_len is None else k_len
    offset = k_len - q_len
    return torch.ones(q_len, k_len, dtype=torch.bool).tril(diagonal=offset)
# --8<-- [end:masks]


# --8<-- [start:scaling]
def logit_std_and_max_weight(d_k: int, n_keys: int = 64, scale: bool = True, trials: int = 200,
                             seed: int = 0) -> tuple[float, float]:
    """q, k with i.i.d. N(0, 1) entries: return (std of q.k [/ sqrt(d_k)], mean max softmax weight).

    Without scaling Var(q.k) = d_k, so the logits spread out as sqrt(d_k) and softmax
    approaches one-hot (its gradient approaches zero). Dividing by sqrt(d_k) keeps Var = 1.
    """
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(trials, 1, d_k, generator=g)
    k = torch.randn(trials, n_keys, d_k, generator=g)
    logits = (q @ k.transpose(-2, -1)).squeeze(1)          # (trials, n_keys)
    if scale:
        logits = logits / math.sqrt(d_k)
    return logits.std().item(), torch.softmax(logits, -1).max(-1).values.mean().item()
# --8<-- [end:scaling]


if __name__ == "__main__":
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 1, 4, 8) for _ in range(3))
    mask = padding_mask(torch.tensor([4, 2]), 4) & causal_mask(4)
    out, w = scaled_dot_product_attention(q, k, v, mask)
    print("weights of sequence 2 (length 2, causal):\n", w[1, 0].round(decimals=3))
    for d in (16, 128, 1024):
        s0, m0 = logit_std_and_max_weight(d, scale=False)
        s1, m1 = logit_std_and_max_weight(d, scale=True)
        print(f"d_k={d:5d}: unscaled std {s0:6.2f}, max weight {m0:.3f} | scaled std {s1:.2f}, max weight {m1:.3f}")
