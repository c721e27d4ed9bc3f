"""Cost of attention, online softmax, FlashAttention-style tiled attention, and linear attention.

Pages: docs/transformer/efficient_attention.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


# --8<-- [start:cost]
def attention_params(d_model: int, n_heads: int, n_kv_heads: int, head_dim: int, bias: bool = False) -> int:
    """Parameters of one attention layer: W_Q, W_K, W_V, W_O (+ biases)."""
    d_q, d_kv = n_heads * head_dim, n_kv_heads * head_dim
    weights = d_model * d_q + 2 * d_model * d_kv + d_q * d_model
    return weights + ((d_q + 2 * d_kv + d_model) if bias else 0)


def attention_flops(seq: int, d_model: int, n_heads: int, n_kv_heads: int, head_dim: int) -> dict[str, int]:
    """Forward FLOPs of one attention layer on one sequence (1 multiply-add = 2 FLOPs; full, unmasked scores).

    projections grow like n * d^2, the two attention matmuls (Q K^T and P V) like n^2 * d.
    """
    d_q, d_kv = n_heads * head_dim, n_kv_heads * head_dim
    proj = 2 * seq * d_model * (d_q + 2 * d_kv) + 2 * seq * d_q * d_model
    scores = 2 * seq * seq * d_q          # Q K^T for every head
    mix = 2 * seq * seq * d_q             # P V for every head
    return {"projections": proj, "scores": scores, "weighted_sum": mix, "total": proj + scores + mix}
# --8<-- [end:cost]


# --8<-- [start:online_softmax]
def online_softmax(x: torch.Tensor, block: int) -> torch.Tensor:
    """Softmax over the last dim, reading x one block at a time (Milakov & Gimelshein, 2018).

    Keeps a running max m and a running sum l = sum exp(x - m); when a new block raises
    the max, the old sum is rescaled by exp(m_old - m_new). A second pass normalizes.
    """
    m = torch.full(x.shape[:-1], float("-inf"), dtype=x.dtype)
    l = torch.zeros(x.shape[:-1], dtype=x.dtype)
    for start in range(0, x.shape[-1], block):
        xb = x[..., start:start + block]
        m_new = torch.maximum(m, xb.max(-1).values)
        l = l * torch.exp(m - m_new) + torch.exp(xb - m_new[..., None]).sum(-1)
        m = m_new
    return torch.exp(x - m[..., None]) / l[..., None]
# --8<-- [end:online_softmax]


# --8<-- [start:merge_states]
def partial_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over one KV split, returned as (normalised output, log-sum-exp of the scores).
    q: (..., n_q, d); k, v: (..., n_k, d); mask: bool (n_q, n_k), True = may attend.
    A query with every key of this split masked gets lse = -inf and output 0 (no NaN)."""
    s = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)                                     # -inf for a fully masked row
    safe = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)     # guard: never -inf - (-inf)
    p = torch.exp(s - safe[..., None])                                   # exp(-inf) = 0 on masked keys
    return p @ v, lse


def merge_states(outs: list[torch.Tensor], lses: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Combine split-K partial results (FlashDecoding / ring attention): with L = logsumexp_i(lse_i),
    O = sum_i exp(lse_i - L) * O_i. Exact, order-independent; splits with lse = -inf get weight 0."""
    lse = torch.logsumexp(torch.stack(lses), dim=0)
    safe = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)
    out = sum(torch.exp(l - safe)[..., None] * o for o, l in zip(outs, lses))
    return out, lse
# --8<-- [end:merge_states]


# --8<-- [start:long_context_memory]
def decode_state_bytes(seq: int, layers: list[str], kv_heads: int = 8, head_dim: int = 128,
                       window: int = 4096, state_heads: int = 32, bytes_per: int = 2) -> int:
    """Per-sequence memory a decoder keeps while generating, summed over layers.
    'full': K and V for every past token; 'window': K and V for the last `window` tokens;
    'linear': a fixed d_k x d_v state per head (normaliser ignored), independent of seq."""
    per_tok = 2 * kv_heads * head_dim * bytes_per
    cost = {"full": seq * per_tok, "window": min(seq, window) * per_tok,
            "linear": state_heads * head_dim * head_dim * bytes_per}
    return sum(cost[kind] for kind in layers)
# --8<-- [end:long_context_memory]


# --8<-- [start:flash]
def tiled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, block_q: int = 16, block_k: int = 16,
                    causal: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """FlashAttention-style forward pass: exact attention without the (q_len, k_len) matrix.

    q: (batch, heads, q_len, d); k, v: (batch, heads, k_len, d).
    For each query tile, stream over key/value tiles, keeping per row a running max m,
    a running denominator l and an unnormalized output acc (the online softmax applied to P V).
    Returns (output (batch, heads, q_len, d), logsumexp (batch, heads, q_len)); the logsumexp
    is what the backward pass keeps so it can recompute P tile by tile.
    """
    *lead, n_q, d = q.shape
    n_k = k.shape[-2]
    scale = 1.0 / math.sqrt(d)
    out = torch.empty_like(q)
    lse = torch.empty(*lead, n_q, dtype=q.dtype)
    for qs in range(0, n_q, block_q):
        qb = q[..., qs:qs + block_q, :] * scale                      # (b, h, Bq, d), would sit in SRAM
        rows = torch.arange(qs, min(qs + block_q, n_q))
        m = torch.full((*lead, len(rows)), float("-inf"), dtype=q.dtype)
        l = torch.zeros(*lead, len(rows), dtype=q.dtype)
        acc = torch.zeros(*lead, len(rows), d, dtype=q.dtype)
        for ks in range(0, n_k, block_k):
            if causal and ks > rows[-1]:                             # tile entirely in the future: skip
                break
            s = qb @ k[..., ks:ks + block_k, :].transpose(-2, -1)    # (b, h, Bq, Bk) scores of this tile only
            if causal:
                cols = torch.arange(ks, min(ks + block_k, n_k))
                s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
            m_new = torch.maximum(m, s.max(-1).values)
            p = torch.exp(s - m_new[..., None])                      # unnormalized probabilities
            alpha = torch.exp(m - m_new)                             # rescales what was accumulated so far
            l = alpha * l + p.sum(-1)
            acc = alpha[..., None] * acc + p @ v[..., ks:ks + block_k, :]
            m = m_new
        out[..., qs:qs + block_q, :] = acc / l[..., None]            # normalize once at the end
        lse[..., qs:qs + block_q] = m + torch.log(l)
    return out, lse
# --8<-- [end:flash]


# --8<-- [start:linear_attention]
def causal_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Linear attention as an RNN (Katharopoulos et al., 2020), feature map phi(x) = elu(x) + 1.

    q, k: (batch, heads, seq, d_k); v: (batch, heads, seq, d_v).
    out_t = phi(q_t) S_t / (phi(q_t) . z_t) with S_t = sum_{j<=t} phi(k_j)^T v_j and z_t = sum_{j<=t} phi(k_j):
    a fixed-size state (d_k x d_v) replaces the growing KV cache, cost O(n d_k d_v) instead of O(n^2 d).
    """
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    b, h, n, dk = q.shape
    state = torch.zeros(b, h, dk, v.shape[-1], dtype=q.dtype)      # S
    norm = torch.zeros(b, h, dk, dtype=q.dtype)                    # z
    outs = []
    for t in range(n):
        state = state + phi_k[..., t, :, None] * v[..., t, None, :]
        norm = norm + phi_k[..., t, :]
        num = (phi_q[..., t, None, :] @ state).squeeze(-2)          # (b, h, d_v)
        den = (phi_q[..., t, :] * norm).sum(-1, keepdim=True) + eps
        outs.append(num / den)
    return torch.stack(outs, dim=-2)
# --8<-- [end:linear_attention]


if __name__ == "__main__":
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, 50, 16) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    for bq, bk in ((8, 8), (16, 7), (64, 64)):
        out, _ = tiled_attention(q, k, v, bq, bk, causal=True)
        print(f"tiles {bq:2d}x{bk:2d}: max |tiled - SDPA| = {(out - ref).abs().max():.2e}")
    c = attention_flops(seq=4096, d_model=4096, n_heads=32, n_kv_heads=32, head_dim=128)
    print({name: f"{val / 1e9:.1f} GFLOP" for name, val in c.items()}, "(LLaMA-2-7B layer, 4k tokens)")
    qd, kd, vd = torch.randn(1, 64), torch.randn(8192, 64), torch.randn(8192, 64)
    parts = [partial_attention(qd, kd[a:b], vd[a:b]) for a, b in ((0, 3000), (3000, 5000), (5000, 8192))]
    merged, _ = merge_states([o for o, _ in parts], [l for _, l in parts])
    ref = torch.nn.functional.scaled_dot_product_attention(qd[None], kd[None], vd[None])[0]
    print(f"split-K decode over 8192 keys in 3 uneven splits, max |diff| vs SDPA: {(merged - ref).abs().max():.2e}")
    print(f"a full 8192 x 8192 fp16 score matrix per head is {8192 * 8192 * 2 / 2**20:.0f} MiB of HBM traffic avoided")
    for name, layers in (("full x32", ["full"] * 32), ("window-4096 x32", ["window"] * 32),
                         ("linear x32", ["linear"] * 32), ("3 linear : 1 full", ["linear"] * 24 + ["full"] * 8),
                         ("7 linear : 1 full", ["linear"] * 28 + ["full"] * 4)):
        print(f"128K tokens, {name:18s}: {decode_state_bytes(131072, layers) / 2**30:7.3f} GiB per sequence")
