"""MoE in practice: all-to-all traffic of expert parallelism and EPLB-style load balancing.

Pages: docs/architectures/moe_serving.{zh,en}.md
"""
from __future__ import annotations

from math import comb

import torch


# --8<-- [start:touched]
def expected_experts_touched(num_experts: int, top_k: int, batch_tokens: int) -> float:
    """Expected number of distinct experts a decode batch activates in one MoE layer, uniform
    routing: each token picks top_k of num_experts, so an expert is missed by one token with
    probability 1 - top_k/num_experts. Every touched expert's weights are read from memory."""
    return num_experts * (1 - (1 - top_k / num_experts) ** batch_tokens)
# --8<-- [end:touched]


# --8<-- [start:a2a_formula]
def a2a_bytes_per_layer(tokens: int, top_k: int, hidden: int, bytes_dispatch: float,
                        bytes_combine: float, ep: int) -> dict[str, float]:
    """All-to-all volume of one MoE layer, summed over the EP group, uniform routing, no dedup.

    Every (token, chosen expert) pair ships the hidden vector to the expert (dispatch) and the
    expert output back (combine): tokens * top_k * hidden * bytes each way. With experts spread
    evenly over `ep` devices, a pair stays local with probability 1/ep, so (ep-1)/ep of it
    crosses the network.
    """
    dispatch = tokens * top_k * hidden * bytes_dispatch
    combine = tokens * top_k * hidden * bytes_combine
    remote = (ep - 1) / ep
    return {"dispatch": dispatch, "combine": combine, "total": dispatch + combine,
            "remote_fraction": remote, "remote_total": (dispatch + combine) * remote}


def expected_remote_devices(num_experts: int, top_k: int, ep: int) -> float:
    """E[# distinct OTHER devices a token must reach] with uniform top-k over experts
    placed num_experts/ep per device. With dedup, a token is sent once per device, not per expert."""
    per_dev = num_experts // ep
    p_dev_unused = comb(num_experts - per_dev, top_k) / comb(num_experts, top_k)
    return (ep - 1) * (1 - p_dev_unused)
# --8<-- [end:a2a_formula]


# --8<-- [start:a2a_sim]
def count_a2a_bytes(expert_ids: torch.Tensor, token_device: torch.Tensor, expert_device: torch.Tensor,
                    hidden: int, bytes_per: float, dedup: bool = False) -> float:
    """Bytes that cross devices in dispatch + combine for a given routing (exact count).

    expert_ids: (T, k) chosen experts per token; token_device: (T,) where each token lives;
    expert_device: (E,) where each expert lives. dedup=True sends a token once per remote device.
    """
    dst = expert_device[expert_ids]                        # (T, k) destination device per pair
    src = token_device.unsqueeze(1).expand_as(dst)
    remote = dst != src
    if dedup:
        sends = sum(len(set(dst[t][remote[t]].tolist())) for t in range(dst.shape[0]))
    else:
        sends = int(remote.sum())
    return 2 * sends * hidden * bytes_per                  # dispatch + combine
# --8<-- [end:a2a_sim]


# --8<-- [start:eplb]
def replicate_experts(load: list[float], num_slots: int) -> list[int]:
    """Give `num_slots` physical slots to experts (each gets >= 1); every extra slot goes to the
    expert with the largest load per replica (on a tie, the lowest expert id). Returns replicas per
    expert. This greedy minimises the maximum per-replica load (a replica's share is load / replicas)."""
    counts = [1] * len(load)
    for _ in range(num_slots - len(load)):
        i = max(range(len(load)), key=lambda e: (load[e] / counts[e], -e))
        counts[i] += 1
    return counts


def pack_to_gpus(items: list[float], num_gpus: int) -> list[list[int]]:
    """Balanced packing: heaviest item first onto the lightest GPU that still has a free slot
    (each GPU gets exactly len(items)/num_gpus items, as every GPU has the same number of slots)."""
    per_gpu = len(items) // num_gpus
    assert per_gpu * num_gpus == len(items)
    gpus: list[list[int]] = [[] for _ in range(num_gpus)]
    weight = [0.0] * num_gpus
    for i in sorted(range(len(items)), key=lambda j: (-items[j], j)):
        g = min((g for g in range(num_gpus) if len(gpus[g]) < per_gpu), key=lambda g: (weight[g], g))
        gpus[g].append(i)
        weight[g] += items[i]
    return gpus


def eplb(load: list[float], num_gpus: int, slots_per_gpu: int) -> tuple[list[int], list[list[int]], float]:
    """Replicate then place. Returns (replicas per expert, expert id of each slot per GPU, max GPU load)."""
    counts = replicate_experts(load, num_gpus * slots_per_gpu)
    replica_expert = [e for e, c in enumerate(counts) for _ in range(c)]
    replica_load = [load[e] / counts[e] for e in replica_expert]
    placement = pack_to_gpus(replica_load, num_gpus)
    max_load = max(sum(replica_load[i] for i in gpu) for gpu in placement)
    return counts, [[replica_expert[i] for i in gpu] for gpu in placement], max_load
# --8<-- [end:eplb]


if __name__ == "__main__":
    # DeepSeek-V3 shape: hidden 7168, top-8; dispatch in FP8 (1 byte), combine in BF16 (2 bytes)
    v = a2a_bytes_per_layer(tokens=1, top_k=8, hidden=7168, bytes_dispatch=1, bytes_combine=2, ep=144)
    print(f"per token per MoE layer: dispatch {v['dispatch'] / 1024:.0f} KiB, combine {v['combine'] / 1024:.0f} KiB,"
          f" remote fraction {v['remote_fraction']:.3f}")
    print(f"x 58 MoE layers: {58 * v['total'] / 2**20:.1f} MiB per token")
    print("distinct remote devices per token (256 experts, top-8, EP32):",
          round(expected_remote_devices(256, 8, 32), 2))
    for b in (1, 8, 32, 128):
        print(f"batch {b:3d}: {expected_experts_touched(256, 8, b):6.1f} of 256 experts touched per layer")
    load = [90, 30, 20, 20, 10, 10, 10, 10]
    counts, placement, max_load = eplb(load, num_gpus=4, slots_per_gpu=3)
    print("replicas", counts, "placement", placement, "max GPU load", max_load,
          "(no replication:", max(sum(load[i::4]) for i in range(4)), "with experts 0..7 round-robin)")
