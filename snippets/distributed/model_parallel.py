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


# --8<-- [start:cp_cost]
def causal_pairs_per_rank(seq: int, cp: int, zigzag: bool) -> list[int]:
    """Unmasked (query, key) pairs each context-parallel rank computes under a causal mask.

    Contiguous split: rank i holds tokens [i*m, (i+1)*m) with m = seq / cp and does
    m*m*i + m*(m+1)/2 pairs, so the last rank does about 2*cp - 1 times the first.
    Zig-zag split (Llama 3): 2*cp chunks of n = seq / (2 cp); rank i holds chunks i and
    2*cp - 1 - i and does n*n*(2 cp - 1) + n*(n + 1) pairs, the same on every rank."""
    if zigzag:
        n = seq // (2 * cp)
        return [n * n * (2 * cp - 1) + n * (n + 1)] * cp
    m = seq // cp
    return [m * m * i + m * (m + 1) // 2 for i in range(cp)]


def cp_comm_bytes_per_layer(seq: int, hidden: int, kv_hidden: int, cp: int, tp: int = 1,
                            scheme: str = "ring", bytes_per_elem: int = 2) -> float:
    """Bytes one GPU sends in one layer's forward pass (backward roughly doubles it).

    ring / all-gather: every rank needs everyone's K and V, (cp - 1)/cp of 2 * seq * kv_hidden,
    independent of cp. ulysses: four all-to-alls (Q, K, V in, output back), each moving
    (cp - 1)/cp of the local tensor, so the volume falls as 1/cp. kv_hidden = KV heads * head dim;
    tp splits heads, so every tensor is divided by tp."""
    frac = (cp - 1) / cp
    if scheme == "ring":
        return frac * 2 * seq * kv_hidden * bytes_per_elem / tp
    if scheme == "ulysses":
        local = seq / cp * (2 * hidden + 2 * kv_hidden)         # Q and output, K and V
        return frac * local * bytes_per_elem / tp
    raise ValueError(scheme)


def ring_min_chunk(hidden: int, kv_hidden: int, flops_per_s: float, bytes_per_s: float,
                   bytes_per_elem: int = 2) -> float:
    """Smallest per-rank chunk (tokens) at which a ring step's compute hides its K/V transfer.

    One step: attention of a chunk of c queries against c keys costs 4 * c^2 * hidden / tp FLOPs,
    receiving the next chunk's K and V costs 2 * c * kv_hidden * bytes / tp. Equal when
    c = (kv_hidden / hidden) * (bytes_per_elem / 2) * F / B; tp cancels."""
    return kv_hidden / hidden * bytes_per_elem / 2 * flops_per_s / bytes_per_s
# --8<-- [end:cp_cost]


# --8<-- [start:plan_3d]
def plan_3d(n_params: float, layers: int, hidden: int, seq: int, global_batch: int, world: int,
            tp: int, pp: int, cp: int = 1, micro_batch: int = 1, act_coeff: float = 34.0) -> dict:
    """Per-GPU memory and per-step traffic of a TP x CP x PP x DP plan for a dense decoder.

    Assumptions: bf16 weights and gradients (2 + 2 bytes/param), fp32 Adam states
    (12 bytes/param) sharded over the DP x CP ranks (ZeRO-1 / distributed optimizer); TP with
    sequence parallelism and selective recomputation, act_coeff * s * b * h / tp bytes per layer
    (Korthikanti et al., 2022; act_coeff = 2 for full recomputation); 1F1B, so the first stage
    holds min(pp, m) micro-batches of layers / pp layers; global_batch in sequences."""
    assert world % (tp * pp * cp) == 0 and layers % pp == 0
    dp = world // (tp * pp * cp)
    m = global_batch // (micro_batch * dp)                    # micro-batches per pipeline
    shard = n_params / (tp * pp)                              # parameters held by one GPU
    states = 4 * shard + 12 * shard / (dp * cp)
    act_layer = act_coeff * (seq / cp) * micro_batch * hidden / tp
    acts = act_layer * (layers // pp) * min(pp, m)
    msg = 2 * (seq / cp) * micro_batch * hidden               # one bf16 activation tensor
    ring = lambda n: 2 * (n - 1) / n                          # all-reduce cost factor
    tp_bytes = 4 * ring(tp) * msg * (layers // pp) * m        # 4 all-reduce equivalents/layer
    pp_bytes = 2 * msg / tp * m if pp > 1 else 0.0            # activation out, gradient back
    dp_bytes = ring(dp * cp) * 2 * shard                      # reduce-scatter + all-gather, bf16
    return {"dp": dp, "micro_batches": m, "params_per_gpu": shard, "states": states,
            "activations": acts, "bubble": pipeline_bubble_fraction(pp, m),
            "tp_bytes": tp_bytes, "pp_bytes": pp_bytes, "dp_bytes": dp_bytes}
# --8<-- [end:plan_3d]


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
    # 3D plan: Llama-3-70B shape (70.55B params, 80 layers, h 8192) on 1,024 H100, 8K tokens,
    # 512 sequences (4.2M tokens) per step: TP 8 in the node, PP 4 across nodes, DP 32
    plan = plan_3d(70.55e9, 80, 8192, 8192, 512, 1024, tp=8, pp=4)
    print(f"70B TP8 PP4 DP{plan['dp']}: states {plan['states'] / 1e9:.1f} GB + activations "
          f"{plan['activations'] / 1e9:.1f} GB per GPU; bubble {plan['bubble']:.1%} (m={plan['micro_batches']}); "
          f"per step TP {plan['tp_bytes'] / 1e9:.0f} GB, PP {plan['pp_bytes'] / 1e9:.2f} GB, "
          f"DP {plan['dp_bytes'] / 1e9:.1f} GB")
    # context parallelism at 128K for the same model: K/V traffic per layer, ring vs Ulysses
    for scheme in ("ring", "ulysses"):
        print(f"128K, CP 8, TP 1, {scheme:7s}: {cp_comm_bytes_per_layer(131072, 8192, 1024, 8, 1, scheme) / 1e6:.0f} MB/layer")
    pairs = causal_pairs_per_rank(131072, 16, zigzag=False)
    print(f"causal work, CP 16: contiguous last/first = {pairs[-1] / pairs[0]:.1f}x, zig-zag = "
          f"{max(causal_pairs_per_rank(131072, 16, True)) / min(causal_pairs_per_rank(131072, 16, True)):.1f}x; "
          f"ring hides its transfer above {ring_min_chunk(8192, 1024, 400e12, 50e9):.0f} tokens per rank")
