"""Tests for snippets/inference/serving.py against numbers worked out by hand."""
import math

import torch
import pytest

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
# --- capacity model: Little's law, Erlang C, KV per request ---------------------------------

def test_kv_bytes_per_request_llama3_8b_by_hand():
    # Llama-3-8B config: 32 layers, 8 KV heads, head_dim 128, bf16 -> 2*32*8*128*2 = 131,072 B/token
    assert sv.kv_bytes_per_request(32, 8, 128, 1) == 131_072
    assert sv.kv_bytes_per_request(32, 8, 128, 4096) == 536_870_912          # 0.5 GiB
    # Llama-3-70B: 80 layers, 8 KV heads -> 327,680 B/token (320 KiB)
    assert sv.kv_bytes_per_request(80, 8, 128, 1) == 327_680
    # how many 2,300-token requests fit in 0.9 * 80 GB - 16 GB of weights
    assert int((0.9 * 80e9 - 16e9) // sv.kv_bytes_per_request(32, 8, 128, 2300)) == 185
    assert sv.requests_in_flight(100, 12.5) == 1250


def _mmc_by_birth_death(lam, mean_service, c, n_max=4000):
    """Mean number in system from the stationary distribution of the birth-death chain,
    pi_{n+1} / pi_n = lam / (min(n+1, c) mu), truncated and normalised numerically."""
    import numpy as np
    mu = 1 / mean_service
    logp = np.zeros(n_max)
    for n in range(1, n_max):
        logp[n] = logp[n - 1] + math.log(lam / (min(n, c) * mu))
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return float((np.arange(n_max) * p).sum())


@pytest.mark.parametrize("lam,s,c", [(1.6, 2.0, 4), (0.5, 1.0, 1), (13.0, 12.5, 185), (3.0, 1.0, 4)])
def test_erlang_c_matches_birth_death_chain(lam, s, c):
    w = sv.mmc_time_in_system(lam, s, c)
    assert sv.requests_in_flight(lam, w) == pytest.approx(_mmc_by_birth_death(lam, s, c), rel=1e-6)


def test_mm1_closed_form_and_unstable_queue():
    # M/M/1: W = 1 / (mu - lambda)
    assert sv.mmc_time_in_system(0.8, 1.0, 1) == pytest.approx(5.0)
    assert sv.mmc_time_in_system(5.0, 1.0, 4) == math.inf


@pytest.mark.parametrize("lam,s,c,seed", [(1.6, 2.0, 4, 0), (0.7, 1.0, 1, 1), (6.0, 1.0, 8, 2)])
def test_simulated_in_flight_matches_little_and_erlang(lam, s, c, seed):
    mean_l, se, w_sim = sv.simulate_queue(lam, s, c, 40_000, seed=seed)
    theory = lam * sv.mmc_time_in_system(lam, s, c)
    assert abs(mean_l - theory) < 4 * se + 0.02 * theory
    assert se < 0.1 * theory                      # the simulation is long enough to mean something
    assert mean_l == pytest.approx(lam * w_sim, rel=0.05)   # Little's law on the sample path


# --- boundaries, defaults and a hand-traced simulation (mutation survivors, issue 18) -----------

def test_latency_metrics_one_and_two_tokens():
    # a single token: no gaps, so TPOT is 0 and the rate is reported as 0 (not a division by zero)
    m = sv.latency_metrics(0.0, [0.25])
    assert m == {"ttft": 0.25, "tpot": 0.0, "e2e": 0.25, "tokens_per_s": 0.0}
    # two tokens: one gap of 0.5 s -> TPOT 0.5, 2 tokens/s
    m = sv.latency_metrics(0.0, [0.25, 0.75])
    assert m["tpot"] == 0.5 and m["tokens_per_s"] == 2.0 and m["e2e"] == 0.75


def test_decode_step_reads_every_sequence_kv_cache():
    # 7e9 params * 2 B + 16 sequences * 1e9 B of KV = 30e9 B over 2e12 B/s = 15 ms (memory-bound)
    assert math.isclose(sv.decode_step_seconds(7e9, 2, 16, 1e9, 2.0e12, 312e12), 15e-3)
    # the KV term grows with the batch: 64 sequences -> (14e9 + 64e9) / 2e12 = 39 ms
    assert math.isclose(sv.decode_step_seconds(7e9, 2, 64, 1e9, 2.0e12, 312e12), 39e-3)


def test_pd_transfer_kv_gb_is_decimal_gigabytes():
    r = sv.pd_transfer_budget(8192, 327_680, 50e9, 70e9, 8 * 400e12)
    assert r["kv_gb"] == 2.68435456                      # 2,684,354,560 B / 10^9, exactly rounded


def test_erlang_c_boundaries():
    # offered load exactly equal to the slots is already unstable (rho = 1)
    assert sv.mmc_time_in_system(4.0, 1.0, 4) == math.inf
    assert sv.mmc_time_in_system(1.0, 1.0, 1) == math.inf
    # no traffic: nobody waits, W is the service time alone
    assert sv.mmc_time_in_system(0.0, 2.5, 3) == 2.5


class _ScriptedRandom:
    """Stands in for random.Random: expovariate returns scripted values (alternately an inter-arrival
    gap and a service time) and records the rates it was asked for."""
    script: list = []
    rates: list = []

    def __init__(self, seed):
        self._draws = iter(type(self).script)

    def expovariate(self, rate):
        type(self).rates.append(rate)
        return next(self._draws)


def test_simulate_queue_traced_by_hand(monkeypatch):
    import random
    # one slot; (gap, service): r1 arrives 0.5, served 0.5-2.5; r2 arrives 2.0, waits, served 2.5-6.5;
    # r3 arrives 10.0 (= horizon), served 10-11. Sojourns 2, 4.5, 1 -> W = 2.5.
    monkeypatch.setattr(_ScriptedRandom, "script", [0.5, 2.0, 1.5, 4.0, 8.0, 1.0])
    monkeypatch.setattr(_ScriptedRandom, "rates", [])
    monkeypatch.setattr(random, "Random", _ScriptedRandom)
    mean_l, se, w = sv.simulate_queue(0.25, 2.0, 1, 3, n_batches=2)
    assert _ScriptedRandom.rates == [0.25, 0.5] * 3   # arrival rate, then 1 / mean service
    # warm-up t0 = 0.1 * 10 = 1; windows [1, 5.5) and [5.5, 10) of width 4.5.
    # N(t): 1 on [0.5, 2), 2 on [2, 2.5), 1 on [2.5, 6.5), 0 on [6.5, 10)
    # window 0: 1*1 + 2*0.5 + 1*3 = 5 -> 10/9; window 1: 1*1 = 1 -> 2/9
    assert mean_l == pytest.approx(2 / 3, rel=1e-12)
    # batch means 10/9 and 2/9: sample sd (n - 1 = 1) is 4/9 * sqrt(2), se = sd / sqrt(2) = 4/9
    assert se == pytest.approx(4 / 9, rel=1e-12)
    assert w == pytest.approx(2.5, rel=1e-12)


def test_simulate_queue_seeded_and_defaults():
    a = sv.simulate_queue(1.6, 2.0, 4, 2000, seed=3)
    assert a == sv.simulate_queue(1.6, 2.0, 4, 2000, seed=3)        # reproducible from the seed
    assert a != sv.simulate_queue(1.6, 2.0, 4, 2000, seed=4)
    # the page's defaults: seed 0 and 20 batch windows
    assert sv.simulate_queue(1.6, 2.0, 4, 2000) == sv.simulate_queue(1.6, 2.0, 4, 2000, seed=0, n_batches=20)
    assert sv.simulate_queue(1.6, 2.0, 4, 2000)[1] != sv.simulate_queue(1.6, 2.0, 4, 2000, n_batches=21)[1]
