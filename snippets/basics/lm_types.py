"""Attention masks for causal, prefix and bidirectional LMs, and BERT-style MLM masking.

Pages: docs/basics/lm_types.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:masks]
def attention_mask(seq_len: int, kind: str, prefix_len: int = 0) -> torch.Tensor:
    """Boolean mask (seq, seq); True = query i may attend to key j.

    causal:        j <= i                       (GPT, LLaMA: decoder-only)
    prefix:        j <= i, or j < prefix_len    (prefix LM: bidirectional over the prefix)
    bidirectional: all True                     (BERT encoder, MLM)
    """
    i = torch.arange(seq_len)[:, None]
    j = torch.arange(seq_len)[None, :]
    if kind == "causal":
        return j <= i
    if kind == "prefix":
        return (j <= i) | (j < prefix_len)
    if kind == "bidirectional":
        return torch.ones(seq_len, seq_len, dtype=torch.bool)
    raise ValueError(kind)
# --8<-- [end:masks]


# --8<-- [start:mlm_mask]
def mlm_mask(ids: torch.Tensor, mask_id: int, vocab_size: int, p: float = 0.15,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: pick 15% of positions as targets; of those 80% -> [MASK], 10% -> random, 10% unchanged.

    Returns (corrupted ids, labels) with labels = -100 at positions that are not predicted.
    """
    chosen = torch.rand(ids.shape, generator=generator) < p
    labels = torch.where(chosen, ids, torch.full_like(ids, -100))
    r = torch.rand(ids.shape, generator=generator)
    corrupted = ids.clone()
    corrupted[chosen & (r < 0.8)] = mask_id
    rand_pos = chosen & (r >= 0.8) & (r < 0.9)
    corrupted[rand_pos] = torch.randint(0, vocab_size, ids.shape, generator=generator)[rand_pos]
    return corrupted, labels
# --8<-- [end:mlm_mask]


if __name__ == "__main__":
    for kind in ("causal", "prefix", "bidirectional"):
        print(kind)
        print(attention_mask(5, kind, prefix_len=3).int())
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (1, 20), generator=g)
    corrupted, labels = mlm_mask(ids, mask_id=4, vocab_size=1000, generator=g)
    print("MLM input :", corrupted.tolist())
    print("MLM labels:", labels.tolist())
