"""Multi-head attention (MHA), multi-query (MQA) and grouped-query attention (GQA),
KV-cache size per token, the weight-absorption trick of multi-head latent attention (MLA), and
cross-layer KV sharing (CLA).

Pages: docs/transformer/multi_head.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
from torch import nn


# --8<-- [start:gqa]
class GroupedQueryAttention(nn.Module):
    """n_heads query heads share n_kv_heads key/value heads.

    n_kv_heads == n_heads -> MHA (Vaswani et al., 2017)
    n_kv_heads == 1       -> MQA (Shazeer, 2019)
    1 < n_kv_heads < n_heads -> GQA (Ainslie et al., 2023): n_heads // n_kv_heads query heads per group.
    """

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int | None = None, bias: bool = True) -> None:
        super().__init__()
        n_kv_heads = n_heads if n_kv_heads is None else n_kv_heads
        assert d_model % n_heads == 0 and n_heads % n_kv_heads == 0
        self.h, self.h_kv, self.dh = n_heads, n_kv_heads, d_model // n_heads
        self.q_proj = nn.Linear(d_model, n_heads * self.dh, bias=bias)
        self.k_proj = nn.Linear(d_model, n_kv_heads * self.dh, bias=bias)   # smaller than q_proj
        self.v_proj = nn.Linear(d_model, n_kv_heads * self.dh, bias=bias)   # when n_kv_heads < n_heads
        self.o_proj = nn.Linear(n_heads * self.dh, d_model, bias=bias)

    def forward(self, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
        b, s, _ = x.shape                                                    # x: (batch, seq, d_model)
        q = self.q_proj(x).view(b, s, self.h, self.dh).transpose(1, 2)       # (b, h, s, dh)
        k = self.k_proj(x).view(b, s, self.h_kv, self.dh).transpose(1, 2)    # (b, h_kv, s, dh): what the KV cache stores
        v = self.v_proj(x).view(b, s, self.h_kv, self.dh).transpose(1, 2)
        group = self.h // self.h_kv
        k = k.repeat_interleave(group, dim=1)                                # (b, h, s, dh): query head i uses kv head i // group
        v = v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.dh)                # (b, h, s, s)
        if causal:
            scores = scores.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
        o = torch.softmax(scores, dim=-1) @ v                                # (b, h, s, dh)
        return self.o_proj(o.transpose(1, 2).reshape(b, s, self.h * self.dh))
# --8<-- [end:gqa]


# --8<-- [start:kv_cache]
def kv_cache_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int, bytes_per_elem: int = 2) -> int:
    """MHA / GQA / MQA: a key and a value vector per KV head per layer."""
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_elem


def mla_cache_bytes_per_token(n_layers: int, kv_lora_rank: int, rope_head_dim: int, bytes_per_elem: int = 2) -> int:
    """MLA (DeepSeek-V2): one latent c_KV (kv_lora_rank) + one shared RoPE key (rope_head_dim) per layer."""
    return n_layers * (kv_lora_rank + rope_head_dim) * bytes_per_elem
# --8<-- [end:kv_cache]


# --8<-- [start:attention_budget]
def attention_layer_costs(d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, seq_len: int,
                          bytes_per_elem: int = 2) -> dict[str, int]:
    """Per-layer costs of one attention block, per token, forward pass.

    params        : W_q (d, h*dh) + W_k, W_v (d, kv*dh each) + W_o (h*dh, d)
    proj_flops    : 2 * params (one multiply-add per weight)
    score_flops   : 4 * h * dh * seq_len (QK^T and PV against seq_len keys, no causal discount)
    kv_bytes      : 2 * kv * dh * bytes (what the KV cache stores for this layer)
    rank_per_head : min(dh, seq_len), the largest possible rank of one head's QK^T
    """
    params = d_model * n_heads * head_dim + 2 * d_model * n_kv_heads * head_dim + n_heads * head_dim * d_model
    return {"params": params, "proj_flops": 2 * params,
            "score_flops": 4 * n_heads * head_dim * seq_len,
            "kv_bytes": 2 * n_kv_heads * head_dim * bytes_per_elem,
            "rank_per_head": min(head_dim, seq_len)}
# --8<-- [end:attention_budget]


# --8<-- [start:mla_absorb]
def mla_scores_naive(q: torch.Tensor, c_kv: torch.Tensor, w_uk: torch.Tensor) -> torch.Tensor:
    """Up-project the cached latent to per-head keys, then dot with the queries.

    q: (heads, q_len, dh); c_kv: (k_len, d_c) cached latents; w_uk: (heads, d_c, dh).
    Returns scores (heads, q_len, k_len) = q (c W_UK)^T.
    """
    k = torch.einsum("tc,hcd->htd", c_kv, w_uk)          # (heads, k_len, dh): materialized keys
    return q @ k.transpose(-2, -1)


def mla_scores_absorbed(q: torch.Tensor, c_kv: torch.Tensor, w_uk: torch.Tensor) -> torch.Tensor:
    """Same scores without ever building the keys: absorb W_UK into the query.

    q k^T = q (c W_UK)^T = (q W_UK^T) c^T, so each head attends directly over the
    d_c-dimensional latents. This only works because the content part of the key carries
    no position-dependent rotation; DeepSeek-V2 adds RoPE through a separate, decoupled key.
    """
    q_latent = q @ w_uk.transpose(-2, -1)                 # (heads, q_len, d_c)
    return q_latent @ c_kv.T                              # (heads, q_len, k_len)
# --8<-- [end:mla_absorb]


# --8<-- [start:cla]
def kv_cache_bytes(n_layers: int, n_kv_heads: int, head_dim: int, seq_len: int, batch: int = 1,
                   bytes_per_elem: int = 2, cla_share: int = 1) -> int:
    """KV cache of MHA / GQA / MQA (n_kv_heads = n_heads / groups / 1), optionally with
    cross-layer attention: only ceil(n_layers / cla_share) layers own a K/V cache."""
    kv_layers = -(-n_layers // cla_share)
    return 2 * kv_layers * n_kv_heads * head_dim * bytes_per_elem * seq_len * batch


class CrossLayerAttention(nn.Module):
    """A stack of causal attention layers (residual, no MLP or norm, to keep it short) with
    cross-layer KV sharing (CLA, Brandon et al. 2024): layer i computes its own K and V only if
    i % share == 0; the following share - 1 layers reuse them with their own queries.
    Each K/V-producing layer uses n_kv_heads heads (GQA inside the layer)."""

    def __init__(self, d_model: int, n_heads: int, n_kv_heads: int, n_layers: int, share: int) -> None:
        super().__init__()
        self.h, self.h_kv, self.dh, self.share = n_heads, n_kv_heads, d_model // n_heads, share
        self.q = nn.ModuleList(nn.Linear(d_model, d_model, bias=False) for _ in range(n_layers))
        self.o = nn.ModuleList(nn.Linear(d_model, d_model, bias=False) for _ in range(n_layers))
        n_kv_layers = -(-n_layers // share)
        self.kv = nn.ModuleList(nn.Linear(d_model, 2 * n_kv_heads * self.dh, bias=False)
                                for _ in range(n_kv_layers))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """x: (batch, seq, d_model). Returns the output and the KV cache: one (k, v) pair of
        shape (batch, n_kv_heads, seq, head_dim) per K/V-producing layer."""
        b, s, d = x.shape
        cache = []
        for i, (q_proj, o_proj) in enumerate(zip(self.q, self.o)):
            if i % self.share == 0:                                      # this layer owns a K/V cache
                k, v = self.kv[i // self.share](x).view(b, s, 2, self.h_kv, self.dh).permute(2, 0, 3, 1, 4)
                cache.append((k, v))
            k, v = cache[-1]                                             # otherwise: reuse the layer below
            q = q_proj(x).view(b, s, self.h, self.dh).transpose(1, 2)   # (b, h, s, dh)
            rep = self.h // self.h_kv
            kk, vv = k.repeat_interleave(rep, 1), v.repeat_interleave(rep, 1)
            scores = q @ kk.transpose(-2, -1) / math.sqrt(self.dh)
            scores = scores.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf"))
            attn = torch.softmax(scores, -1) @ vv                        # (b, h, s, dh)
            x = x + o_proj(attn.transpose(1, 2).reshape(b, s, d))
        return x, cache
# --8<-- [end:cla]


if __name__ == "__main__":
    torch.manual_seed(0)
    x = torch.randn(2, 5, 64)
    for n_kv in (8, 2, 1):
        m = GroupedQueryAttention(64, n_heads=8, n_kv_heads=n_kv)
        n_params = sum(p.numel() for p in m.parameters())
        print(f"n_kv_heads={n_kv}: output {tuple(m(x, causal=True).shape)}, params {n_params}")
    mib = 2 ** 20
    print(f"KV cache / token, fp16: LLaMA-2-7B (MHA 32x32x128) {kv_cache_bytes_per_token(32, 32, 128) / mib:.3f} MiB, "
          f"Llama-3-8B (GQA 8 kv heads) {kv_cache_bytes_per_token(32, 8, 128) / mib:.3f} MiB")
    print("DeepSeek-V2 elements/token/layer: MHA-128 heads", 2 * 128 * 128, "vs MLA", 512 + 64)
    gib = 2 ** 30
    for name, kv_heads, share in [("MHA", 32, 1), ("GQA-8", 8, 1), ("GQA-8 + CLA2", 8, 2), ("MQA", 1, 1), ("MQA + CLA2", 1, 2)]:
        print(f"Llama-3-8B shape, 32K tokens, bf16, {name}: {kv_cache_bytes(32, kv_heads, 128, 32768, cla_share=share) / gib:.3f} GiB")
    cla = CrossLayerAttention(64, n_heads=8, n_kv_heads=2, n_layers=4, share=2)
    out, cache = cla(torch.randn(1, 5, 64))
    print(f"CLA2 with 4 layers: {len(cache)} K/V caches, output {tuple(out.shape)}")
    # fixed d_model = 4096, 32K context: splitting into more, smaller heads leaves FLOPs unchanged
    for h, kv, dh in ((32, 32, 128), (32, 8, 128), (64, 8, 64), (16, 8, 256), (32, 1, 128)):
        c = attention_layer_costs(4096, h, kv, dh, 32768)
        print(f"h={h:2d} kv={kv:2d} dh={dh:3d}: params {c['params'] / 1e6:5.1f}M, "
              f"score GFLOP/token {c['score_flops'] / 1e9:.2f}, KV {c['kv_bytes']:6d} B/token/layer, "
              f"rank/head <= {c['rank_per_head']}")
