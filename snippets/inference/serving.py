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
