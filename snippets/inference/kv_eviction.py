"""KV-cache eviction: which cached positions StreamingLLM, H2O, SnapKV and PyramidKV keep,
and how much memory that saves.

Pages: docs/inference/kv_eviction.{zh,en}.md
All selection functions return sorted lists / tensors of kept key positions. Ties in a score are
broken towards the EARLIER position (a stable sort on -score), so results are deterministic.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


# --8<-- [start:streaming]
def streaming_keep(seq_len: int, n_sink: int = 4, window: int = 1020) -> list[int]:
    """StreamingLLM: keep the first `n_sink` positions (attention sinks) + the last `window`.

    The cache never holds more than n_sink + window entries, however long the stream gets.
    """
    sinks = range(min(n_sink, seq_len))
    recent = range(max(0, seq_len - window), seq_len)
    return sorted(set(sinks) | set(recent))
# --8<-- [end:streaming]


# --8<-- [start:h2o]
def _top_by_score(score: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest scores; ties go to the earlier index (stable sort)."""
    order = torch.sort(-score, stable=True).indices
    return order[:k]


def h2o_keep(attn: torch.Tensor, n_heavy: int, window: int) -> list[int]:
    """H2O for one head: recent `window` keys + `n_heavy` heavy hitters among the older keys.

    attn: (q_len, k_len) attention probabilities (rows sum to 1, causal zeros above the diagonal).
    A key's importance is its ACCUMULATED attention: the column sum over all queries so far.
    """
    k_len = attn.shape[-1]
    acc = attn.sum(dim=0)                                  # (k_len,) accumulated attention
    recent = list(range(max(0, k_len - window), k_len))
    older = k_len - len(recent)
    heavy = _top_by_score(acc[:older], min(n_heavy, older)).tolist()
    return sorted(heavy + recent)
# --8<-- [end:h2o]


# --8<-- [start:h2o_greedy]
def h2o_greedy(logits: torch.Tensor, n_heavy: int, window: int) -> list[int]:
    """Decode-time H2O for one head, as in the paper: greedy, one eviction per step.

    logits: (T, T) raw scores q_i.k_j / sqrt(d); only j <= i is used. At step i key i enters the
    cache, query i takes a softmax over the keys STILL CACHED, and each cached key adds its
    probability to its running score. If the cache exceeds n_heavy + window, the older key (outside
    the last `window` positions) with the lowest score is evicted for good; on a tie the later key
    goes, matching h2o_keep's "earlier position wins".
    """
    cache: list[int] = []
    score: dict[int, float] = {}
    for i in range(logits.shape[0]):
        cache.append(i)
        score[i] = 0.0
        probs = torch.softmax(logits[i, cache], dim=-1)   # over cached keys only
        for j, p in zip(cache, probs.tolist()):
            score[j] += p
        if len(cache) > n_heavy + window:
            older = [j for j in cache if j <= i - window]
            cache.remove(min(older, key=lambda j: (score[j], -j)))
    return cache
# --8<-- [end:h2o_greedy]


# --8<-- [start:snapkv]
def snapkv_keep(attn_obs: torch.Tensor, capacity: int, window: int, kernel: int = 5) -> torch.Tensor:
    """SnapKV prefill compression, per head.

    attn_obs: (heads, window, L) attention probabilities of the LAST `window` prompt queries
    (the observation window) over all L prompt keys. Each head votes: sum the window's attention
    on every earlier key, smooth the votes with a 1-D average pool (kernel, zero padding, so
    neighbours of a hit survive together), keep the top (capacity - window), plus the window itself.
    Returns (heads, capacity) sorted kept positions; different heads keep different positions.
    """
    heads, w, L = attn_obs.shape
    assert w == window and capacity > window
    if L <= capacity:
        return torch.arange(L).expand(heads, L)
    votes = attn_obs[:, :, : L - window].sum(dim=1)        # (heads, L - window)
    pooled = F.avg_pool1d(votes.unsqueeze(1), kernel_size=kernel, stride=1,
                          padding=kernel // 2).squeeze(1)  # same length, zero-padded
    kept = []
    for h in range(heads):
        top = _top_by_score(pooled[h], capacity - window)
        kept.append(torch.cat([top, torch.arange(L - window, L)]).sort().values)
    return torch.stack(kept)
# --8<-- [end:snapkv]


# --8<-- [start:pyramid]
def pyramid_budgets(avg_budget: int, num_layers: int, beta: int = 20) -> list[int]:
    """PyramidKV layer budgets: an arithmetic sequence falling with depth whose mean is ~avg_budget
    (avg 100, 5 layers -> 195, 148, 101, 54, 7: mean 101, because the step is floored).

    Smallest budget = avg/beta (top layer), largest = 2*avg - smallest (bottom layer), as in the
    PyramidKV reference code; integer steps make the total differ slightly from L * avg.
    """
    lo = avg_budget // beta
    hi = 2 * avg_budget - lo
    step = (hi - lo) // (num_layers - 1)
    return [hi - layer * step for layer in range(num_layers)]
# --8<-- [end:pyramid]


# --8<-- [start:memory]
def kv_cache_bytes(tokens_per_layer: list[int], kv_heads: int, head_dim: int, bytes_per: int = 2) -> int:
    """K and V bytes for one sequence when layer l keeps tokens_per_layer[l] positions."""
    return sum(2 * t * kv_heads * head_dim * bytes_per for t in tokens_per_layer)


def eviction_saving(seq_len: int, budget: int, layers: int, kv_heads: int, head_dim: int,
                    bytes_per: int = 2) -> tuple[int, int]:
    """(full cache bytes, bytes with every layer capped at `budget` positions)."""
    full = kv_cache_bytes([seq_len] * layers, kv_heads, head_dim, bytes_per)
    kept = kv_cache_bytes([min(seq_len, budget)] * layers, kv_heads, head_dim, bytes_per)
    return full, kept
# --8<-- [end:memory]


if __name__ == "__main__":
    print("StreamingLLM keeps", streaming_keep(12, n_sink=2, window=4))
    torch.manual_seed(0)
    q_len = k_len = 8
    scores = torch.randn(q_len, k_len).masked_fill(torch.triu(torch.ones(q_len, k_len, dtype=torch.bool), 1),
                                                   float("-inf"))
    attn = scores.softmax(-1)
    print("H2O keeps", h2o_keep(attn, n_heavy=2, window=3), "| greedy decode-time H2O keeps",
          h2o_greedy(scores, n_heavy=2, window=3))
    obs = torch.rand(2, 4, 20).softmax(-1)
    print("SnapKV keeps per head\n", snapkv_keep(obs, capacity=8, window=4, kernel=3))
    print("PyramidKV budgets", pyramid_budgets(128, 8))
    full, kept = eviction_saving(131072, 4096, layers=32, kv_heads=8, head_dim=128)
    print(f"LLaMA-3-8B shape, 128k tokens: {full / 2**30:.0f} GiB -> {kept / 2**20:.0f} MiB at a 4096 budget")
