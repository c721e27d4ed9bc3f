"""Model parallelism in one process: Megatron-style tensor-parallel MLP, pipeline bubbles,
and context-parallel (ring-attention-style) causal attention.

Pages: docs/distributed/model_parallel.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from snippets import load


# --8<-- [start:tp_mlp]
def tensor_parallel_mlp(x: torch.Tensor, w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor,
                        b2: torch.Tensor, tp: int) -> torch.Tensor:
    """Y = GELU(x W1 + b1) W2 + b2 split over `tp` ranks (Megatron-LM).

    W1 (d, f) is split by columns, so each rank computes GELU on its own slice of the hidden
    units with no communication; W2 (f, d) is split by rows, so each rank produces a partial
    sum of Y; one all-reduce (the sum below) finishes the layer. x: (tokens, d).
    """
    partials = []
    for w1_r, b1_r, w2_r in zip(w1.chunk(tp, dim=1), b1.chunk(tp), w2.chunk(tp, dim=0)):
        h_r = F.gelu(x @ w1_r + b1_r)                 # (tokens, f / tp), local
        partials.append(h_r @ w2_r)                   # (tokens, d), partial sum
    return torch.stack(partials).sum(0) + b2          # all-reduce, then bias once
# --8<-- [end:tp_mlp]


# --8<-- [start:bubble]
def pipeline_bubble_fraction(stages: int, micro_batches: int, virtual_stages: int = 1) -> float:
    """Idle fraction of a GPipe / 1F1B schedule: (p - 1) / (m + p - 1); with v interleaved
    model chunks per GPU the bubble shrinks by v: (p - 1) / (v m + p - 1)."""
    p, m, v = stages, micro_batches, virtual_stages
    return (p - 1) / (v * m + p - 1)
# --8<-- [end:bubble]


# --8<-- [start:context_parallel]
def context_parallel_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cp: int) -> torch.Tensor:
    """Causal attention with the sequence split over `cp` ranks. Rank i holds query chunk i and
    sees the K/V chunks one at a time (as they pass around the ring), merging partial results
    with the online-softmax rule, so no rank ever holds the full (seq, seq) score matrix.
    q, k, v: (batch, heads, seq, head_dim)."""
    scale = 1 / math.sqrt(q.shape[-1])
    q_chunks, k_chunks, v_chunks = q.chunk(cp, dim=2), k.chunk(cp, dim=2), v.chunk(cp, dim=2)
    outs, offset_q = [], 0
    for qi in q_chunks:                                   # one rank per query chunk
        m = torch.full(qi.shape[:-1] + (1,), -torch.inf)  # running max     (b, h, s_i, 1)
        l = torch.zeros_like(m)                           # running denominator
        acc = torch.zeros_like(qi)                        # running numerator
        offset_k = 0
        for kj, vj in zip(k_chunks, v_chunks):            # K/V blocks arriving around the ring
            if offset_k > offset_q + qi.shape[2] - 1:
                break                                     # entirely in the future: skipped
            s = qi @ kj.transpose(-2, -1) * scale
            pos_q = offset_q + torch.arange(qi.shape[2]).view(-1, 1)
            pos_k = offset_k + torch.arange(kj.shape[2]).view(1, -1)
            s = s.masked_fill(pos_k > pos_q, -torch.inf)
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            p = torch.exp(s - m_new)
            corr = torch.exp(m - m_new)
            l = l * corr + p.sum(-1, keepdim=True)
            acc = acc * corr + p @ vj
            m = m_new
            offset_k += kj.shape[2]
        outs.append(acc / l)
        offset_q += qi.shape[2]
    return torch.cat(outs, dim=2)
# --8<-- [end:context_parallel]


# --8<-- [start:mfu]
def model_flops_per_token(n_params: float, n_layers: int, n_heads: int, head_dim: int,
                          seq_len: int) -> float:
    """Training FLOPs per token as in PaLM (Chowdhery et al. 2022, App. B): 6N for the matmuls
    of forward + backward over the N non-embedding parameters, plus 12 * L * H * Q * T for
    the two attention matmuls (QK^T and PV), with no credit for the causal mask and none for
    recomputation (that would be *hardware* FLOPs utilisation, HFU)."""
    return 6 * n_params + 12 * n_layers * n_heads * head_dim * seq_len


def mfu(tokens_per_sec_per_gpu: float, flops_per_token: float, peak_flops: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s per GPU over the GPU's dense peak."""
    return tokens_per_sec_per_gpu * flops_per_token / peak_flops
# --8<-- [end:mfu]


# --8<-- [start:checkpoint_interval]
# Young's interval, cluster MTBF and the first-order waste are defined once, in the
# system-design reliability snippet; this page adds Daly's higher-order correction.
_reliability = load("system-design/reliability")
young_interval = _reliability.young_interval      # tau* = sqrt(2 * delta * M)
cluster_mtbf = _reliability.cluster_mtbf          # M_job = M_node / n_nodes
wasted_fraction = _reliability.wasted_fraction    # delta / tau + (tau / 2 + R) / M


def daly_interval(ckpt_cost: float, mtbf: float) -> float:
    """Daly (2006) higher-order estimate for exponential failures; reduces to Young when
    delta << M and caps at M when delta >= 2M."""
    d, m = ckpt_cost, mtbf
    if d >= 2 * m:
        return m
    r = d / (2 * m)
    return math.sqrt(2 * d * m) * (1 + math.sqrt(r) / 3 + r / 9) - d
# --8<-- [end:checkpoint_interval]


if __name__ == "__main__":
    torch.manual_seed(0)
    d, f = 16, 64
    x, w1, b1, w2, b2 = torch.randn(5, d), torch.randn(d, f), torch.randn(f), torch.randn(f, d), torch.randn(d)
    full = F.gelu(x @ w1 + b1) @ w2 + b2
    print("TP=4 MLP == unsplit MLP:", torch.allclose(tensor_parallel_mlp(x, w1, b1, w2, b2, 4), full, atol=1e-4))
    for m in (4, 8, 32):
        print(f"pipeline p=8, m={m:2d}: bubble {pipeline_bubble_fraction(8, m):.1%}, "
              f"interleaved v=2: {pipeline_bubble_fraction(8, m, 2):.1%}")
    q, k, v = (torch.randn(1, 2, 12, 8) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    print("context parallel (4 chunks) == full causal attention:",
          torch.allclose(context_parallel_attention(q, k, v, 4), ref, atol=1e-5))
    # MFU of a Llama-3-405B-like run (126 layers, 128 heads of 128, 8K context, H100 989 TFLOP/s)
    fpt = model_flops_per_token(405e9, 126, 128, 128, 8192)
    tps = 0.40 * 989e12 / fpt
    print(f"405B @ 8K: {fpt:.3e} FLOPs/token ({fpt / (6 * 405e9) - 1:.1%} from attention); "
          f"40% MFU = {tps:.0f} tokens/s/GPU")
    # checkpoint interval: 419 unexpected interruptions in 54 days -> job MTBF ~ 3.1 h
    m_job = 54 * 24 * 60 / 419                                  # minutes
    for delta in (0.5, 2.0, 10.0):
        tau = young_interval(delta, m_job)
        print(f"MTBF {m_job:.0f} min, checkpoint {delta:4.1f} min: tau = {tau:5.1f} min "
              f"(Daly {daly_interval(delta, m_job):5.1f}), waste {wasted_fraction(tau, delta, m_job):.1%}")
