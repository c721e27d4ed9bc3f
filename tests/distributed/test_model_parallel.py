"""Tests for snippets/distributed/model_parallel.py against nn modules, torch SDPA and hand numbers."""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from scipy.optimize import minimize_scalar
from torch.utils.flop_counter import FlopCounterMode

from snippets import load

mp_ = load("distributed/model_parallel")


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_tensor_parallel_mlp_equals_unsplit_mlp(tp):
    torch.manual_seed(tp)
    d, f = 16, 64
    ref = nn.Sequential(nn.Linear(d, f), nn.GELU(), nn.Linear(f, d)).double()
    x = torch.randn(7, d, dtype=torch.float64)
    # nn.Linear stores weight as (out, in); the snippet uses x @ W with W (in, out)
    out = mp_.tensor_parallel_mlp(x, ref[0].weight.T, ref[0].bias, ref[2].weight.T, ref[2].bias, tp)
    torch.testing.assert_close(out, ref(x))


def test_pipeline_bubble_by_hand():
    # GPipe/1F1B: (p-1)/(m+p-1). p=4, m=4 -> 3/7; p=4, m=1 -> 3/4 (naive model parallelism)
    assert math.isclose(mp_.pipeline_bubble_fraction(4, 4), 3 / 7)
    assert math.isclose(mp_.pipeline_bubble_fraction(4, 1), 3 / 4)
    assert mp_.pipeline_bubble_fraction(1, 10) == 0.0
    # interleaving with v chunks: bubble time (p-1)/v vs ideal m -> (p-1)/(v m + p - 1)
    assert math.isclose(mp_.pipeline_bubble_fraction(8, 8, 2), 7 / 23)
    # bubble/ideal ratio equals (p-1)/(v m) as in Narayanan et al. (2021)
    frac = mp_.pipeline_bubble_fraction(8, 16, 4)
    assert math.isclose(frac / (1 - frac), 7 / (4 * 16))


@pytest.mark.parametrize("cp", [1, 2, 3, 4, 6, 12])                      # 12: one token per rank
def test_context_parallel_attention_equals_sdpa(cp):
    torch.manual_seed(cp)
    q, k, v = (torch.randn(2, 3, 12, 8, dtype=torch.float64) for _ in range(3))
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(mp_.context_parallel_attention(q, k, v, cp), ref)


@pytest.mark.parametrize("seq,cp", [(10, 4), (13, 5), (7, 3)])
def test_context_parallel_uneven_split_equals_sdpa(seq, cp):
    # seq not divisible by cp: Tensor.chunk gives pieces 3,3,3,1 (10, 4), 3,3,3,3,1 (13, 5), 3,3,1 (7, 3),
    # so each rank's query and key offsets must come from the real chunk sizes, not seq // cp
    torch.manual_seed(seq)
    q, k, v = (torch.randn(1, 2, seq, 4, dtype=torch.float64) for _ in range(3))
    assert len({c.shape[2] for c in q.chunk(cp, dim=2)}) == 2                 # really uneven
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(mp_.context_parallel_attention(q, k, v, cp), ref)


@pytest.mark.parametrize("cp", [1, 2, 4])
def test_context_parallel_is_stable_when_rows_have_very_different_scores(cp):
    # query 0 scores ~2800 against every key, the others ~0: each row needs its own running max
    # (one max over the block would underflow exp() of the small rows to 0 and give 0 / 0)
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 1, 8, 8, dtype=torch.float64) for _ in range(3))
    k = k.abs() + 1.0
    q[0, 0, 0] = 1000.0
    q[0, 0, 1:] = 0.01 * q[0, 0, 1:]
    out = mp_.context_parallel_attention(q, k, v, cp)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))


@pytest.mark.parametrize("cp", [2, 3, 4, 12])
def test_context_parallel_skips_future_blocks(cp):
    # rank i computes only K/V blocks 0..i: cp (cp + 1) / 2 blocks, each two matmuls (QK^T and PV)
    # of 2 * b * h * c * c * d FLOPs, counted by torch's FlopCounterMode
    b, h, seq, d = 1, 2, 12, 8
    c = seq // cp
    q, k, v = (torch.randn(b, h, seq, d, dtype=torch.float64) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        mp_.context_parallel_attention(q, k, v, cp)
    assert counter.get_total_flops() == cp * (cp + 1) // 2 * 2 * (2 * b * h * c * c * d)


# --- MFU and checkpoint interval -------------------------------------------------------------

def test_model_flops_per_token_405b_by_hand():
    # 6 * 405e9 = 2.43e12; attention 12 * 126 * 128 * 128 * 8192 = 202,937,204,736
    assert mp_.model_flops_per_token(405e9, 126, 128, 128, 8192) == 2.43e12 + 202_937_204_736
    # 6ND for 405B on 15.6T tokens is the 3.8e25 FLOPs reported by the Llama 3 paper
    assert 6 * 405e9 * 15.6e12 == pytest.approx(3.8e25, rel=0.01)
    # 150 tokens/s/GPU at 2.633e12 FLOPs/token on a 989 TFLOP/s H100 is 39.9 % MFU
    assert mp_.mfu(150, 2.632937e12, 989e12) == pytest.approx(150 * 2.632937e12 / 989e12)
    assert mp_.mfu(150, 2.632937e12, 989e12) == pytest.approx(0.3993, abs=1e-4)


def test_model_flops_match_torch_flop_counter():
    """Count the FLOPs of forward + backward of a tiny decoder with torch's FlopCounterMode."""
    torch.manual_seed(0)
    L, H, Q, T, B = 2, 4, 8, 16, 3
    d = H * Q

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv, self.o = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
            self.up, self.down = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

        def forward(self, x):
            q, k, v = self.qkv(x).view(B, T, 3, H, Q).permute(2, 0, 3, 1, 4)
            s = (q @ k.transpose(-2, -1)) / math.sqrt(Q)
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), -torch.inf)
            a = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, d)
            x = x + self.o(a)
            return x + self.down(F.gelu(self.up(x)))

    model = nn.Sequential(*[Block() for _ in range(L)])
    n_params = sum(p.numel() for p in model.parameters())
    x = torch.randn(B, T, d, requires_grad=True)      # stands in for the embedding output
    with FlopCounterMode(display=False) as counter:
        model(x).sum().backward()
    expected = mp_.model_flops_per_token(n_params, L, H, Q, T) * B * T
    assert counter.get_total_flops() == expected


@pytest.mark.parametrize("delta,m", [(1.0, 1e4), (0.5, 186.0), (5.0, 600.0)])
def test_checkpoint_interval_matches_numerical_optimum(delta, m):
    """Exact expected wall time per unit of work for exponential failures (Daly 2006, eq. for
    T_w with restart R): M e^{R/M} (e^{(tau+delta)/M} - 1) / tau; minimise it with scipy."""
    restart = 3.0

    def wall_per_work(tau):
        return m * math.exp(restart / m) * (math.exp((tau + delta) / m) - 1) / tau

    opt = minimize_scalar(wall_per_work, bounds=(1e-6, 10 * m), method="bounded",
                          options={"xatol": 1e-9 * m}).x
    young, daly = mp_.young_interval(delta, m), mp_.daly_interval(delta, m)
    assert young == pytest.approx(math.sqrt(2 * delta * m))
    # Young is first order: relative error O(sqrt(delta / M)); Daly is much closer
    assert abs(young - opt) / opt < 2 * math.sqrt(delta / m)
    assert abs(daly - opt) / opt < 0.01
    assert abs(daly - opt) < abs(young - opt)
    # at the optimum, the first-order waste is close to the exact one when delta << M
    exact_waste = 1 - 1 / wall_per_work(opt)
    approx = mp_.wasted_fraction(opt, delta, m, restart)
    assert approx == pytest.approx(exact_waste, rel=0.15)


def test_young_minimises_first_order_waste_and_cluster_mtbf():
    delta, m = 2.0, 186.0
    opt = minimize_scalar(lambda t: mp_.wasted_fraction(t, delta, m), bounds=(0.1, 1000),
                          method="bounded", options={"xatol": 1e-8}).x
    assert mp_.young_interval(delta, m) == pytest.approx(opt, rel=1e-6)
    # 2048 nodes of 8 GPUs, node MTBF 6,350 h -> about 3.1 h for the job
    assert mp_.cluster_mtbf(6350.0, 2048) == pytest.approx(3.1006, abs=1e-3)
    assert mp_.daly_interval(10.0, 4.0) == 4.0          # delta >= 2M: checkpoint every M
    assert mp_.daly_interval(8.0, 4.0) == 4.0           # delta = 2M is already capped
    # Daly (2006), eq. 37: sqrt(2 delta M) (1 + sqrt(r) / 3 + r / 9) - delta with r = delta / (2M);
    # delta = 0.5, M = 1: r = 1/4 -> 1 * (1 + 1/6 + 1/36) - 1/2 = 25/36
    assert mp_.daly_interval(0.5, 1.0) == pytest.approx(25 / 36, rel=1e-12)


# --- context-parallel cost and the 3D plan ---------------------------------------------------

@pytest.mark.parametrize("seq,cp", [(24, 3), (32, 4), (48, 2)])
def test_causal_pairs_per_rank_match_mask_count(seq, cp):
    """Count unmasked entries of a causal mask per rank directly and compare."""
    mask = torch.tril(torch.ones(seq, seq, dtype=torch.int64))
    contiguous = [int(mask[rows].sum()) for rows in torch.arange(seq).chunk(cp)]
    assert mp_.causal_pairs_per_rank(seq, cp, zigzag=False) == contiguous
    chunks = torch.arange(seq).chunk(2 * cp)
    zig = [int(mask[torch.cat([chunks[i], chunks[2 * cp - 1 - i]])].sum()) for i in range(cp)]
    assert mp_.causal_pairs_per_rank(seq, cp, zigzag=True) == zig
    assert all(type(n) is int for n in mp_.causal_pairs_per_rank(seq, cp, False) + mp_.causal_pairs_per_rank(seq, cp, True))
    assert len(set(zig)) == 1 and sum(zig) == seq * (seq + 1) // 2


def test_causal_imbalance_cp16_by_hand():
    # m = 8192 tokens per rank: last rank m^2*15 + m(m+1)/2 vs first m(m+1)/2 -> 31.0x
    pairs = mp_.causal_pairs_per_rank(131072, 16, zigzag=False)
    assert pairs[0] == 8192 * 8193 // 2
    assert pairs[-1] / pairs[0] == pytest.approx(1 + 2 * 15 * 8192 / 8193)


def _all_to_all_bytes_sent(seq: int, heads: int, cp: int) -> int:
    """Ulysses re-layout (seq/cp, heads) -> (seq, heads/cp): count elements leaving rank 0."""
    tokens = torch.arange(seq).chunk(cp)[0]            # rank 0's tokens
    owner = torch.arange(heads) // (heads // cp)       # rank that owns each head afterwards
    return int((owner != 0).sum()) * len(tokens)


def test_cp_comm_bytes_ring_and_ulysses():
    # ring / all-gather, 128K tokens, 8 KV heads x 128, CP 8: 7/8 * 2 * 131072 * 1024 * 2 bytes
    assert mp_.cp_comm_bytes_per_layer(131072, 8192, 1024, 8) == 7 / 8 * 2 * 131072 * 1024 * 2
    # TP divides everything: CP 16, TP 8 -> 15/16 * 536,870,912 / 8 = 62,914,560 bytes
    assert mp_.cp_comm_bytes_per_layer(131072, 8192, 1024, 16, tp=8) == 62_914_560
    # Ulysses: simulate the all-to-all for Q, K, V and the output with 1-byte elements
    seq, q_heads, kv_heads, cp = 64, 8, 4, 4
    sent = 2 * _all_to_all_bytes_sent(seq, q_heads, cp) + 2 * _all_to_all_bytes_sent(seq, kv_heads, cp)
    assert mp_.cp_comm_bytes_per_layer(seq, q_heads, kv_heads, cp, scheme="ulysses", bytes_per_elem=1) == sent
    # TP 2 splits the heads: each GPU re-lays out half of them
    assert mp_.cp_comm_bytes_per_layer(seq, q_heads, kv_heads, cp, tp=2, scheme="ulysses", bytes_per_elem=1) == sent / 2
    # with GQA 64:8 Ulysses only beats the ring when cp > 1 + h / h_kv = 9
    for c, ring_cheaper in ((8, True), (16, False)):
        r = mp_.cp_comm_bytes_per_layer(131072, 8192, 1024, c, scheme="ring")
        u = mp_.cp_comm_bytes_per_layer(131072, 8192, 1024, c, scheme="ulysses")
        assert (r < u) == ring_cheaper


def test_cp_comm_bytes_unknown_scheme_is_an_error():
    with pytest.raises(ValueError, match="allgather"):
        mp_.cp_comm_bytes_per_layer(1024, 64, 16, 4, scheme="allgather")


def test_ring_min_chunk_balances_compute_and_transfer():
    c = mp_.ring_min_chunk(8192, 1024, 400e12, 50e9)
    assert c == pytest.approx(1000.0)
    compute = 4 * c * c * 8192 / 400e12                # seconds for one block, tp = 1
    transfer = 2 * c * 1024 * 2 / 50e9                 # K and V of the next block, bf16
    assert compute == pytest.approx(transfer)
    # fp8 K/V (1 byte): the transfer halves, so compute hides it from half the chunk on
    c8 = mp_.ring_min_chunk(8192, 1024, 400e12, 50e9, bytes_per_elem=1)
    assert c8 == pytest.approx(500.0)
    assert 4 * c8 * c8 * 8192 / 400e12 == pytest.approx(2 * c8 * 1024 * 1 / 50e9)


def test_plan_3d_70b_on_1024_gpus_by_hand():
    n = 70.55e9
    p = mp_.plan_3d(n, 80, 8192, 8192, 512, 1024, tp=8, pp=4)
    shard = n / 32
    assert p["dp"] == 32 and p["micro_batches"] == 16
    assert type(p["dp"]) is int and type(p["micro_batches"]) is int    # counts of ranks and micro-batches
    assert p["params_per_gpu"] == pytest.approx(n / 32)
    assert p["states"] == pytest.approx(16 * shard - 12 * shard * 31 / 32)        # 9.65 GB
    assert p["states"] / 1e9 == pytest.approx(9.646, abs=1e-3)
    assert p["activations"] == pytest.approx(80 * 34 * 8192 * 8192 / 8)         # 22.8 GB
    assert p["bubble"] == pytest.approx(3 / 19)
    assert p["tp_bytes"] / 1e9 == pytest.approx(300.65, abs=0.01)
    assert p["pp_bytes"] == pytest.approx(2 * 2 * 8192 * 8192 / 8 * 16)
    assert p["dp_bytes"] / 1e9 == pytest.approx(8.543, abs=1e-3)
    # dropping PP: every GPU holds 4x the parameters; 36 GB of states + the same 22.8 GB
    q = mp_.plan_3d(n, 80, 8192, 8192, 512, 1024, tp=8, pp=1)
    assert q["states"] / 1e9 == pytest.approx(36.1, abs=0.1) and q["pp_bytes"] == 0.0
    assert q["activations"] == pytest.approx(p["activations"])


def test_plan_3d_agrees_with_memory_accounting_and_ring_simulation():
    mem = load("distributed/memory")
    dpm = load("distributed/data_parallel")
    p = mp_.plan_3d(12e9, 24, 4096, 4096, 64, 64, tp=4, pp=2)                 # dp = 8
    ref = mem.model_state_bytes(12e9 / 8, n_gpus=8, zero_stage=1)
    assert p["states"] == pytest.approx(ref["total"])
    per_layer = mem.activation_bytes_per_layer(4096, 1, 4096, 32, tp=4, sequence_parallel=True,
                                               recompute="selective")
    assert p["activations"] == pytest.approx(per_layer * 12 * 2)               # 12 layers, 2 in flight
    # two stages: one bf16 activation (4096 x 4096) out and its gradient back per micro-batch, / TP
    assert p["pp_bytes"] == pytest.approx(2 * 2 * 4096 * 4096 / 4 * 8)
    # the DP factor 2 (n-1)/n is what a simulated ring all-reduce sends per rank
    small = mp_.plan_3d(24 * 4, 2, 8, 8, 4, 4, tp=1, pp=1)                    # 96 params, dp = 4
    _, sent = dpm.ring_allreduce([torch.ones(96) for _ in range(4)])
    assert small["dp_bytes"] == pytest.approx(2 * sent)                        # 2 bytes/element


def test_checkpoint_formulas_are_shared_with_system_design():
    """One definition of Young's interval, cluster MTBF and waste for both pages."""
    rel = load("system-design/reliability")
    assert mp_.young_interval is rel.young_interval
    assert mp_.cluster_mtbf is rel.cluster_mtbf
    assert mp_.wasted_fraction is rel.wasted_fraction


def test_plan_3d_with_context_parallel_and_micro_batch_2_agrees_with_memory_accounting():
    # CP 2 and 2 sequences per micro-batch: Adam states sharded over DP x CP, each GPU holds seq / CP
    # tokens of 2 sequences; m = 32 / (2 * dp) = 4 micro-batches < pp = 8 in flight on the first stage
    mem = load("distributed/memory")
    dpm = load("distributed/data_parallel")
    p = mp_.plan_3d(12e9, 24, 4096, 4096, 32, 256, tp=4, pp=8, cp=2, micro_batch=2)
    assert p["dp"] == 4 and p["micro_batches"] == 4
    ref = mem.model_state_bytes(12e9 / 32, n_gpus=8, zero_stage=1)
    assert p["states"] == pytest.approx(ref["total"])
    per_layer = mem.activation_bytes_per_layer(2048, 2, 4096, 32, tp=4, sequence_parallel=True,
                                               recompute="selective")
    assert p["activations"] == pytest.approx(per_layer * 3 * 4)                # 3 layers, 4 in flight
    assert p["bubble"] == pytest.approx(7 / 11)
    # full recomputation: act_coeff = 2 keeps only each layer's input
    full = mp_.plan_3d(12e9, 24, 4096, 4096, 32, 256, tp=4, pp=8, cp=2, micro_batch=2, act_coeff=2.0)
    assert full["activations"] == pytest.approx(3 * 4 * mem.activation_bytes_per_layer(
        2048, 2, 4096, 32, tp=4, sequence_parallel=True, recompute="full"))
    # gradients are reduced over the DP x CP = 8 ranks: the simulated ring's traffic per element
    _, sent = dpm.ring_allreduce([torch.ones(64) for _ in range(8)])
    assert p["dp_bytes"] == pytest.approx(2 * 12e9 / 32 * sent / 64)
    # one bf16 activation of 2048 tokens x 2 sequences x 4096 out and its gradient back, sharded by TP
    assert p["pp_bytes"] == pytest.approx(2 * 2 * 2048 * 2 * 4096 / 4 * 4)


def test_plan_3d_rejects_a_world_the_plan_does_not_divide():
    with pytest.raises(AssertionError):
        mp_.plan_3d(12e9, 24, 4096, 4096, 64, 100, tp=4, pp=2, cp=2)   # 100 % 16 != 0
    with pytest.raises(AssertionError):
        mp_.plan_3d(12e9, 25, 4096, 4096, 64, 64, tp=4, pp=2)          # 25 layers over 2 stages
