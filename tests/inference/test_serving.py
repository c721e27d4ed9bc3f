"""Tests for snippets/inference/serving.py against numbers worked out by hand."""
import math

import torch

from snippets import load

sv = load("inference/serving")


def test_latency_metrics_by_hand():
    # arrival 1.0 s, first token at 1.5 s, then 4 more tokens 50 ms apart
    m = sv.latency_metrics(1.0, [1.5, 1.55, 1.6, 1.65, 1.7])
    assert math.isclose(m["ttft"], 0.5)
    assert math.isclose(m["tpot"], 0.05)
    assert math.isclose(m["e2e"], 0.7)
    assert math.isclose(m["e2e"], m["ttft"] + m["tpot"] * 4)      # E2E = TTFT + (n-1) TPOT
    assert math.isclose(m["tokens_per_s"], 20.0)


def test_decode_is_memory_bound_at_batch_one():
    # 7e9 params * 2 B = 14e9 B over 2e12 B/s = 7 ms; FLOPs 1.4e10 / 3.12e14 = 0.045 ms.
    t = sv.decode_step_seconds(7e9, 2, 1, 0.0, 2.0e12, 312e12)
    assert math.isclose(t, 7e-3)
    # 4-bit weights: a quarter of the bytes -> a quarter of the time (still memory-bound)
    assert math.isclose(sv.decode_step_seconds(7e9, 0.5, 1, 0.0, 2.0e12, 312e12), 1.75e-3)
    # huge batch with no KV: compute-bound at 2*7e9*b / 312e12; crossover near b = 312e12*14e9/(2e12*1.4e10) = 156
    assert math.isclose(sv.decode_step_seconds(7e9, 2, 1000, 0.0, 2.0e12, 312e12), 2 * 7e9 * 1000 / 312e12)
    assert sv.decode_step_seconds(7e9, 2, 150, 0.0, 2e12, 312e12) == 14e9 / 2e12


def test_arithmetic_intensity_by_hand():
    # t = 1, d = 4096: FLOPs 2*4096^2, bytes 2*(4096^2 + 2*4096) -> ~1 FLOP/byte
    expected = 2 * 4096**2 / (2 * (4096**2 + 2 * 4096))
    assert math.isclose(sv.matmul_arithmetic_intensity(1, 4096, 4096), expected)
    # t = d: FLOPs 2 d^3, bytes 2 * 3 d^2 -> d / 3
    assert math.isclose(sv.matmul_arithmetic_intensity(4096, 4096, 4096), 4096 / 3)


def test_static_vs_continuous_batching_by_hand():
    lens = [8, 1, 1, 1]
    # static, batch 2: [8, 1] takes 8 steps, then [1, 1] takes 1 step -> 9 steps
    s = sv.static_batching(lens, 2)
    assert s["steps"] == 9 and s["finish"] == [8, 1, 9, 9]
    # continuous: slot A runs request 0 for steps 1..8; slot B serves requests 1, 2, 3 at steps 1, 2, 3
    c = sv.continuous_batching(lens, 2)
    assert c["steps"] == 8 and c["finish"] == [8, 1, 2, 3]


def test_continuous_batching_never_slower():
    import random
    rng = random.Random(0)
    for _ in range(50):
        lens = [rng.randint(1, 100) for _ in range(rng.randint(1, 20))]
        b = rng.randint(1, 5)
        s, c = sv.static_batching(lens, b), sv.continuous_batching(lens, b)
        assert c["steps"] <= s["steps"]
        assert sum(c["finish"]) <= sum(s["finish"])
        # lower bound: total work / slots, and the longest request
        assert c["steps"] >= max(max(lens), math.ceil(sum(lens) / b))


def test_kv_bytes_per_token_matches_real_cache_tensors():
    # oracle: allocate the actual K and V caches (layers, 2, kv_heads, seq, head_dim) in bf16 and count bytes
    layers, kv_heads, head_dim, seq = 4, 2, 16, 10
    cache = torch.empty(layers, 2, kv_heads, seq, head_dim, dtype=torch.bfloat16)
    assert sv.kv_bytes_per_token(layers, kv_heads, head_dim, 2) * seq == cache.numel() * cache.element_size()


def test_pd_transfer_budget_llama3_70b_by_hand():
    # Llama-3-70B: 80 layers, 8 KV heads, head_dim 128, bf16 -> 2*80*8*128*2 = 327,680 bytes per token
    kv = sv.kv_bytes_per_token(80, 8, 128)
    assert kv == 327_680
    r = sv.pd_transfer_budget(8192, kv, 50e9, 70e9, 8 * 400e12)
    assert math.isclose(r["kv_gb"], 8192 * 327_680 / 1e9)          # 2.684 GB
    assert math.isclose(r["transfer_s"], 2.68435456 / 50)           # 53.7 ms
    assert math.isclose(r["prefill_s"], 2 * 70e9 * 8192 / 3.2e15)   # 358.4 ms
    # ratio independent of prompt length: per-token bytes/bandwidth over per-token FLOPs/throughput
    r2 = sv.pd_transfer_budget(512, kv, 50e9, 70e9, 8 * 400e12)
    assert math.isclose(r["transfer_over_prefill"], r2["transfer_over_prefill"])
    assert math.isclose(r["transfer_over_prefill"], (327_680 / 50e9) / (2 * 70e9 / 3.2e15))
