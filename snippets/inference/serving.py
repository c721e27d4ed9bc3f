"""Serving arithmetic: latency metrics, the memory-bandwidth bound of decoding, and
static vs continuous batching.

Pages: docs/inference/serving.{zh,en}.md
"""
from __future__ import annotations

import heapq
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
