"""Why attention needs position information, and absolute position encodings (sinusoidal, learned).

Pages: docs/position-encoding/absolute.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
from torch import nn


# --8<-- [start:permutation]
def self_attention_no_position(x: torch.Tensor, attn: nn.MultiheadAttention, causal: bool = False) -> torch.Tensor:
    """Self-attention on raw token vectors, no position added. x: (batch, seq, d).

    Without a causal mask this is permutation-equivariant: shuffling the tokens just
    shuffles the outputs, so "dog bites man" and "man bites dog" look the same.
    """
    s = x.shape[1]
    mask = torch.ones(s, s, dtype=torch.bool).triu(1) if causal else None   # True = blocked
    out, _ = attn(x, x, x, attn_mask=mask, need_weights=False)
    return out
# --8<-- [end:permutation]


# --8<-- [start:sinusoidal]
def sinusoidal_position_encoding(n_pos: int, d_model: int, base: float = 10000.0) -> torch.Tensor:
    """Vaswani et al. (2017): PE[p, 2i] = sin(p / base^(2i/d)), PE[p, 2i+1] = cos(p / base^(2i/d)).

    Returns (n_pos, d_model). Pair i is a point on the unit circle turning with angular
    frequency w_i = base^(-2i/d): from 1 rad/token (i = 0) down to ~1/base rad/token.
    """
    pos = torch.arange(n_pos, dtype=torch.float64)[:, None]                  # (n_pos, 1)
    inv_freq = base ** (-torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)  # (d/2,)
    angle = pos * inv_freq                                                    # (n_pos, d/2)
    pe = torch.zeros(n_pos, d_model, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(angle), torch.cos(angle)
    return pe.float()
# --8<-- [end:sinusoidal]


# --8<-- [start:learned]
class LearnedPositionEmbedding(nn.Module):
    """BERT / GPT-2 style: a trainable table of max_len vectors added to token embeddings."""

    def __init__(self, max_len: int, d_model: int, std: float = 0.02) -> None:
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=std)

    def forward(self, token_emb: torch.Tensor) -> torch.Tensor:
        # token_emb: (batch, seq, d). Positions >= max_len have no row: the hard length limit.
        seq = token_emb.shape[1]
        if seq > self.table.num_embeddings:
            raise ValueError(f"sequence length {seq} > max_len {self.table.num_embeddings}")
        return token_emb + self.table(torch.arange(seq))
# --8<-- [end:learned]


# --8<-- [start:dilution]
def needle_weight(logit_gap: float, n_keys: int) -> float:
    """Softmax weight on one key whose logit beats n_keys - 1 equal competitors by logit_gap:
    e^g / (e^g + n - 1). With a fixed gap it falls like 1/n: attention dilutes with length."""
    return math.exp(logit_gap) / (math.exp(logit_gap) + n_keys - 1)


def llama4_query_scale(position: int, floor_scale: int = 8192, attn_scale: float = 0.1) -> float:
    """Llama 4's inference-time temperature for its NoPE layers (as in Hugging Face transformers):
    queries are multiplied by 1 + attn_scale * log(1 + floor((pos + 1) / floor_scale)), so logit
    gaps grow with log(length) and offset the dilution above."""
    return 1.0 + attn_scale * math.log1p(math.floor((position + 1) / floor_scale))
# --8<-- [end:dilution]


if __name__ == "__main__":
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(16, 2, batch_first=True).eval()
    x = torch.randn(1, 5, 16)
    perm = torch.tensor([3, 0, 4, 1, 2])
    same = torch.allclose(self_attention_no_position(x[:, perm], attn),
                          self_attention_no_position(x, attn)[:, perm], atol=1e-6)
    print("no position info, no mask: output follows the permutation:", same)
    pe = sinusoidal_position_encoding(64, 16)
    print("PE[1, :4] =", pe[1, :4].tolist())
    print("dot(PE[10], PE[13]) =", round(float(pe[10] @ pe[13]), 4), " dot(PE[40], PE[43]) =", round(float(pe[40] @ pe[43]), 4))
    # attention dilution in a NoPE layer: a needle 10 logits above the rest
    for n in (8192, 131072):
        g = 10 * llama4_query_scale(n - 1)
        print(f"{n:6d} keys: needle weight {needle_weight(10, n):.3f} unscaled, "
              f"{needle_weight(g, n):.3f} with Llama 4's query scale {llama4_query_scale(n - 1):.4f}")
