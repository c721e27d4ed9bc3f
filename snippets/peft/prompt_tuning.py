"""Prompt tuning, prefix tuning, P-tuning (v1/v2): parameter counts and how prefixes enter attention.

Pages: docs/peft/prompt_tuning.{zh,en}.md
"""
from __future__ import annotations

import math

import torch


# --8<-- [start:param_counts]
def prompt_tuning_params(n_virtual: int, d_model: int) -> int:
    """Soft prompt at the input only: n_virtual x d_model."""
    return n_virtual * d_model


def p_tuning_params(n_virtual: int, d_model: int, hidden: int) -> int:
    """P-tuning (v1) with an MLP prompt encoder d -> h -> h -> d (with biases) on top of
    the n_virtual x d prompt embeddings. After training only the n x d output is kept."""
    mlp = (d_model * hidden + hidden) + (hidden * hidden + hidden) + (hidden * d_model + d_model)
    return n_virtual * d_model + mlp


def prefix_tuning_params(n_virtual: int, n_layers: int, d_model: int,
                         projection_hidden: int | None = None) -> int:
    """Prefix tuning / P-tuning v2: a key and a value prefix per layer,
    n_virtual x n_layers x 2 x d_model. With a reparameterization MLP
    (d -> h -> 2 L d, Li & Liang) training holds the MLP instead."""
    if projection_hidden is None:
        return n_virtual * n_layers * 2 * d_model
    h = projection_hidden
    return n_virtual * d_model + (d_model * h + h) + (h * n_layers * 2 * d_model + n_layers * 2 * d_model)
# --8<-- [end:param_counts]


# --8<-- [start:soft_prompt]
def prepend_soft_prompt(embeds: torch.Tensor, prompt: torch.Tensor) -> torch.Tensor:
    """Prompt tuning: (batch, seq, d) and (n_virtual, d) -> (batch, n_virtual + seq, d).
    Only `prompt` is trainable; the attention mask must be extended by n_virtual ones."""
    return torch.cat([prompt.expand(embeds.shape[0], -1, -1), embeds], dim=1)
# --8<-- [end:soft_prompt]


# --8<-- [start:prefix_attention]

def prefix_attention(x: torch.Tensor, wq: torch.Tensor, wk: torch.Tensor, wv: torch.Tensor,
                     prefix_k: torch.Tensor, prefix_v: torch.Tensor, n_heads: int) -> torch.Tensor:
    """One causal self-attention layer with trained key/value prefixes (prefix tuning).

    x: (batch, seq, d); wq, wk, wv: (d, d); prefix_k, prefix_v: (n_virtual, d).
    Every real token sees all prefix positions and the real tokens up to itself;
    the sequence length of the output is unchanged. Returns (batch, heads, seq, head_dim).
    """
    b, s, d = x.shape
    hd = d // n_heads
    split = lambda t: t.view(t.shape[0], -1, n_heads, hd).transpose(1, 2)   # -> (b, h, len, hd)
    q, k, v = split(x @ wq), split(x @ wk), split(x @ wv)
    pk = split(prefix_k.expand(b, -1, -1))                                   # (b, h, p, hd)
    pv = split(prefix_v.expand(b, -1, -1))
    k, v = torch.cat([pk, k], dim=2), torch.cat([pv, v], dim=2)             # (b, h, p + s, hd)
    p = prefix_k.shape[0]
    scores = q @ k.transpose(-2, -1) / math.sqrt(hd)                        # (b, h, s, p + s)
    future = torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1)
    prefix = torch.zeros(s, p, dtype=torch.bool, device=x.device)          # prefix always visible
    mask = torch.cat([prefix, future], dim=1)
    return scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
# --8<-- [end:prefix_attention]


# --8<-- [start:prefix_cost]
def prefix_kv_bytes(n_virtual: int, n_layers: int, kv_dim: int, batch: int = 1,
                    bytes_per_elem: int = 2) -> int:
    """Memory the prefixes add to the KV cache at inference: a key and a value of kv_dim per
    virtual token, per layer, per sequence (the same as n_virtual extra context tokens)."""
    return 2 * n_layers * n_virtual * kv_dim * batch * bytes_per_elem


def lora_params_qv(n_layers: int, d_model: int, r: int) -> int:
    """LoRA on W_q and W_v (square d x d), the original LoRA recipe: 2 r (d + d) per layer."""
    return n_layers * 2 * r * 2 * d_model
# --8<-- [end:prefix_cost]


if __name__ == "__main__":
    d, L = 4096, 32   # a LLaMA-7B-sized model
    print(f"prompt tuning, 20 tokens: {prompt_tuning_params(20, d):,} params")
    print(f"P-tuning v1, 20 tokens, MLP 4096: {p_tuning_params(20, d, 4096):,} params (training)")
    print(f"prefix / P-tuning v2, 20 tokens x 32 layers: {prefix_tuning_params(20, L, d):,} params")
    torch.manual_seed(0)
    x = torch.randn(2, 5, 16)
    w = [torch.randn(16, 16) / 4 for _ in range(3)]
    out = prefix_attention(x, *w, torch.randn(3, 16), torch.randn(3, 16), n_heads=4)
    print("prefix attention output (batch, heads, seq, head_dim):", tuple(out.shape))
    # P-tuning v2 on a 24-layer, d=1024 encoder (335M) with 20 prefix tokens; a 7B decoder with 128
    p = prefix_tuning_params(20, 24, 1024)
    print(f"P-tuning v2, 24 x 1024, 20 prefixes: {p:,} params ({p / 335e6:.2%} of 335M)")
    p7 = prefix_tuning_params(128, 32, 4096)
    print(f"7B (32 x 4096), 128 prefixes: {p7 / 1e6:.1f}M params, KV {prefix_kv_bytes(128, 32, 4096) / 2**20:.0f} MiB "
          f"per sequence; LoRA r=8 on q,v: {lora_params_qv(32, 4096, 8) / 1e6:.1f}M params, 0 extra at inference")
