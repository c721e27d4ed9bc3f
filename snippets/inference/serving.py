"""Serving arithmetic: latency metrics, the memory-bandwidth bound of decoding, and
static vs continuous batching.

Pages: docs/inference/serving.{zh,en}.md
"""
from __future__ import annotations

import bisect
import heapq
import math
import random
from typing import Sequence


# --8<-- [start:metrics]
def latency_metrics(request_time: float, token_times: Sequence[float]) -> dict[str, float]:
    """TTFT, TPOT and end-to-end latency of one request from the times its tokens were streamed.

    TTFT = first token - arrival (queueing + prefill); TPOT = mean gap between later tokens
    (= (last - first) / (n - 1)); E2E = TTFT + TPOT * (n - 1).
    """
    ttft = token_times[0] - request_time
    n = len(token_times)
    tpot = (token_times[-1] - token_times[0]) / (n - 1) if n > 1 else 0.0
    return {"ttft": ttft, "tpot": tpot, "e2e": token_times[-1] - request_time, "tokens_per_s": 1 / tpot if tpot else 0.0}
# --8<-- [end:metrics]


# --8<-- [start:roofline]
def decode_step_seconds(n_params: float, bytes_per_param: float, batch: int, kv_bytes_per_seq: float,
                        mem_bandwidth: float, peak_flops: float) -> float:
    """Lower bound on one decode step: max(time to read weights + KV cache, time to do the FLOPs).

    Every step reads all weights once (shared by the batch) and each sequence's KV cache;
    it does about 2 * n_params FLOPs per sequence.
    """
    bytes_moved = n_params * bytes_per_param + batch * kv_bytes_per_seq
    flops = 2 * n_params * batch
    return max(bytes_moved / mem_bandwidth, flops / peak_flops)


def matmul_arithmetic_intensity(tokens: int, d_in: int, d_out: int, bytes_per_elem: float = 2) -> float:
    """FLOPs per byte of y = x W for `tokens` rows: 2*t*d_in*d_out / (bytes of W + x + y).

    Decode (t = batch, small) is memory-bound; prefill (t = thousands of tokens) is compute-bound.
    """
    flops = 2 * tokens * d_in * d_out
    bytes_moved = bytes_per_elem * (d_in * d_out + tokens * d_in + tokens * d_out)
    return flops / bytes_moved
# --8<-- [end:roofline]


# --8<-- [start:batching]
def static_batching(output_lens: Sequence[int], max_batch: int) -> dict[str, float]:
    """Requests are grouped in arrival order; a batch runs until its longest request finishes.
    One decode step per token. Returns total steps and each request's finish step."""
    finish, clock = [], 0
    for i in range(0, len(output_lens), max_batch):
        batch = output_lens[i:i + max_batch]
        finish += [clock + n for n in batch]          # a short request is done early but its slot idles
        clock += max(batch)
    return {"steps": clock, "finish": finish}


def continuous_batching(output_lens: Sequence[int], max_batch: int) -> dict[str, float]:
    """Iteration-level scheduling (Orca / vLLM): a slot freed at step s is refilled at step s.
    Returns total steps and each request's finish step."""
    slots = [0] * max_batch                           # step at which each slot becomes free
    heapq.heapify(slots)
    finish = []
    for n in output_lens:                             # first come, first served
        start = heapq.heappop(slots)
        finish.append(start + n)
        heapq.heappush(slots, start + n)
    return {"steps": max(finish), "finish": finish}
# --8<-- [end:batching]

# --8<-- [start:pd_transfer]
def kv_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int, bytes_per_elem: float = 2) -> float:
    """K and V for one token across all layers (GQA/MHA): 2 * layers * kv_heads * head_dim * bytes."""
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_elem


def pd_transfer_budget(prompt_tokens: int, kv_per_token: float, link_bytes_per_s: float,
                       n_params: float, prefill_flops_per_s: float) -> dict[str, float]:
    """Prefill time vs time to ship the prompt's KV cache from the prefill to the decode pool.

    prefill ~ 2 * N * prompt_tokens FLOPs (weights only; attention's quadratic term ignored), so both
    times grow linearly with the prompt and their ratio depends on the model and the hardware only.
    """
    kv_bytes = prompt_tokens * kv_per_token
    transfer_s = kv_bytes / link_bytes_per_s
    prefill_s = 2 * n_params * prompt_tokens / prefill_flops_per_s
    return {"kv_gb": kv_bytes / 1e9, "transfer_s": transfer_s, "prefill_s": prefill_s,
            "transfer_over_prefill": transfer_s / prefill_s}
# --8<-- [end:pd_transfer]


# --8<-- [start:capacity_model]
def kv_bytes_per_request(n_layers: int, n_kv_heads: int, head_dim: int, tokens: int,
                         bytes_per_elem: float = 2) -> float:
    """K and V for every layer, KV head and token: 2 * L * kv_heads * head_dim * bytes * tokens."""
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_elem * tokens


def requests_in_flight(arrival_rate: float, time_in_system: float) -> float:
    """Little's law L = lambda * W: holds for any stable queue, whatever the distributions."""
    return arrival_rate * time_in_system


def mmc_time_in_system(arrival_rate: float, mean_service: float, slots: int) -> float:
    """Mean time in an M/M/c queue (Erlang C): c slots = sequences a replica can hold at once
    (KV- or max-batch-limited), service = prefill + decode time of one request. Erlang B is
    computed by its stable recursion, so c in the hundreds is fine."""
    a = arrival_rate * mean_service                     # offered load in slots (Erlangs)
    if a >= slots:
        return math.inf                                 # unstable: the queue grows without bound
    b = 1.0
    for k in range(1, slots + 1):
        b = a * b / (k + a * b)                         # Erlang B(k, a)
    p_wait = slots * b / (slots - a * (1 - b))          # Erlang C: probability of queueing
    return mean_service + p_wait * mean_service / (slots - a)
# --8<-- [end:capacity_model]


# --8<-- [start:queue_sim]
def simulate_queue(arrival_rate: float, mean_service: float, slots: int, n_requests: int,
                   seed: int = 0, n_batches: int = 20) -> tuple[float, float, float]:
    """Discrete-event simulation of a FCFS queue with `slots` parallel servers, Poisson arrivals
    and exponential service. Returns (time-average number in system, its standard error from
    batch means over equal time windows, mean time in system). The first 10% of time is
    dropped as warm-up."""
    rng = random.Random(seed)
    t, events, free, sojourn = 0.0, [], [0.0] * slots, []
    for _ in range(n_requests):
        t += rng.expovariate(arrival_rate)
        start = max(t, heapq.heappop(free))             # earliest free slot (FCFS)
        end = start + rng.expovariate(1 / mean_service)
        heapq.heappush(free, end)
        events += [(t, 1), (end, -1)]
        sojourn.append(end - t)
    horizon = t                                         # last arrival
    events.sort()
    t0 = 0.1 * horizon
    width = (horizon - t0) / n_batches
    edges = [t0 + k * width for k in range(n_batches)] + [horizon]   # window k: [edges[k], edges[k+1])
    area = [0.0] * n_batches                            # integral of N(t) over each window
    n, prev = 0, 0.0
    for time, step in events:
        lo, hi = max(prev, t0), min(time, horizon)
        k = bisect.bisect_right(edges, lo) - 1          # the window holding lo
        while lo < hi:                                  # split [lo, hi) across windows
            edge = min(hi, edges[k + 1])
            area[k] += n * (edge - lo)
            lo, k = edge, k + 1
        n, prev = n + step, time
    means = [x / width for x in area]
    mean = sum(means) / n_batches
    se = math.sqrt(sum((x - mean) ** 2 for x in means) / (n_batches - 1) / n_batches)
    return mean, se, sum(sojourn) / len(sojourn)
# --8<-- [end:queue_sim]


if __name__ == "__main__":
    print(latency_metrics(0.0, [0.35, 0.38, 0.41, 0.44, 0.47]))
    # 7B in fp16 on an A100-80GB class GPU (about 2.0e12 B/s HBM, 312e12 dense BF16 FLOP/s)
    for b in (1, 16, 64, 256):
        t = decode_step_seconds(7e9, 2, b, 0.5 * 2**20 * 1024, 2.0e12, 312e12)
        print(f"batch {b:3d}: >= {t * 1e3:5.1f} ms/step, <= {b / t:7.0f} tokens/s in total")
    print("arithmetic intensity decode (t=1) %.1f, prefill (t=4096) %.0f FLOP/B"
          % (matmul_arithmetic_intensity(1, 4096, 4096), matmul_arithmetic_intensity(4096, 4096, 4096)))
    lens = [200, 10, 10, 10, 10, 10, 10, 10]
    print("static    :", static_batching(lens, 2))
    print("continuous:", continuous_batching(lens, 2))
    kv70 = kv_bytes_per_token(80, 8, 128)            # Llama-3-70B, bf16
    r = pd_transfer_budget(8192, kv70, 50e9, 70e9, 8 * 400e12)
    print(f"Llama-3-70B, 8k prompt: KV {r['kv_gb']:.2f} GB, transfer {r['transfer_s'] * 1e3:.0f} ms over 50 GB/s, "
          f"prefill {r['prefill_s'] * 1e3:.0f} ms on 8 GPUs at 400 TFLOP/s each (ratio {r['transfer_over_prefill']:.2f})")
    # Llama-3-8B: 32 layers, 8 KV heads of 128, bf16 -> 128 KiB per token
    per_req = kv_bytes_per_request(32, 8, 128, 2300)
    slots = int((0.9 * 80e9 - 16e9) // per_req)
    print(f"KV per 2,300-token request {per_req / 1e9:.2f} GB -> {slots} requests per 80 GB GPU")
    for lam in (10.0, 13.0, 14.0, 14.5):
        w = mmc_time_in_system(lam, 12.5, slots)
        print(f"lambda {lam:4.1f}/s: load {lam * 12.5 / slots:.0%}, W = {w:5.2f} s, "
              f"in flight L = {requests_in_flight(lam, w):5.0f}")
    L, se, w = simulate_queue(0.8 * 4 / 2.0, 2.0, 4, 50_000)
    print(f"simulated M/M/4 at 80%: L = {L:.2f} +- {se:.2f}, lambda*W_sim = {1.6 * w:.2f}, "
          f"Erlang C lambda*W = {1.6 * mmc_time_in_system(1.6, 2.0, 4):.2f}")
