"""Relative position encodings that act on the attention scores: T5 bucketed bias and ALiBi.

Pages: docs/position-encoding/relative.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:t5_bucket]
def t5_relative_position_bucket(relative_position: torch.Tensor, bidirectional: bool = True,
                                num_buckets: int = 32, max_distance: int = 128) -> torch.Tensor:
    """Map relative positions (key - query) to bucket ids, as in T5 (Raffel et al., 2020).

    Half of the buckets give each small distance its own id; the other half cover
    distances up to max_distance on a log scale; everything farther shares the last bucket.
    Each (bucket, head) has one learned scalar that is added to the attention logit.
    """
    bucket = torch.zeros_like(relative_position)
    if bidirectional:                         # separate halves for keys after / before the query
        num_buckets //= 2
        bucket += (relative_position > 0).long() * num_buckets
        n = relative_position.abs()
    else:                                     # decoder: only the past, future clipped to distance 0
        n = -torch.clamp(relative_position, max=0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    log_bucket = max_exact + (
        torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).long()
    log_bucket = torch.clamp(log_bucket, max=num_buckets - 1)
    return bucket + torch.where(is_small, n, log_bucket)
# --8<-- [end:t5_bucket]


# --8<-- [start:alibi]
def alibi_slopes(n_heads: int) -> torch.Tensor:
    """ALiBi head slopes (Press et al., 2022): geometric sequence starting at 2^(-8/n).

    For n a power of 2: m_h = 2^(-8h/n), h = 1..n (8 heads: 1/2, 1/4, ..., 1/256).
    Otherwise: the slopes of the nearest lower power of 2, plus every other slope of twice that.
    """
    def power_of_2(n: int) -> list[float]:
        return [2 ** (-8 * h / n) for h in range(1, n + 1)]

    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_2(n_heads))
    closest = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_2(2 * closest)[0::2][: n_heads - closest]
    return torch.tensor(power_of_2(closest) + extra)


def alibi_bias(n_heads: int, seq: int) -> torch.Tensor:
    """Causal ALiBi bias (heads, seq, seq): -m_h * (i - j) for key j <= query i, -inf for j > i.

    Added to q.k / sqrt(d) before the softmax; no position is ever added to the embeddings.
    """
    i = torch.arange(seq)[:, None]
    j = torch.arange(seq)[None, :]
    distance = (i - j).float()                                      # (seq, seq), >= 0 in the past
    bias = -alibi_slopes(n_heads)[:, None, None] * distance          # (heads, seq, seq)
    return bias.masked_fill(j > i, float("-inf"))
# --8<-- [end:alibi]


if __name__ == "__main__":
    rel = torch.arange(-200, 201, 40)
    print("relative positions :", rel.tolist())
    print("T5 buckets (bidir.) :", t5_relative_position_bucket(rel).tolist())
    print("ALiBi slopes, 8 heads:", [f"1/{round(1 / s)}" for s in alibi_slopes(8).tolist()])
    print("ALiBi bias head 0, 4 tokens:\n", alibi_bias(8, 4)[0])
