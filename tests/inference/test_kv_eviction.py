"""Tests for snippets/inference/kv_eviction.py: kept-index sets against hand lists and brute-force
loops (explicit sums, explicit pooling, Python sorted with an explicit tie rule), PyramidKV budgets
against hand arithmetic, and memory against the closed form."""
import pytest
import torch

from snippets import load

ev = load("inference/kv_eviction")


def _causal_attn(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(n, n, generator=g)
    s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
    return s.softmax(-1)


def test_streaming_hand_lists():
    assert ev.streaming_keep(12, n_sink=2, window=4) == [0, 1, 8, 9, 10, 11]
    # shorter than sinks + window: nothing evicted, no duplicates
    assert ev.streaming_keep(5, n_sink=4, window=3) == [0, 1, 2, 3, 4]
    assert ev.streaming_keep(6, n_sink=4, window=2) == [0, 1, 2, 3, 4, 5]
    assert len(ev.streaming_keep(10_000, n_sink=4, window=1020)) == 1024


def _brute_topk(scores: list[float], k: int) -> list[int]:
    # explicit rule: larger score first, earlier position first among equal scores
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def test_h2o_matches_bruteforce_on_random_attention():
    for seed in range(5):
        attn = _causal_attn(10, seed)
        acc = [sum(float(attn[q, k]) for q in range(10)) for k in range(10)]
        window = 3
        expected = sorted(_brute_topk(acc[: 10 - window], 2) + list(range(10 - window, 10)))
        assert ev.h2o_keep(attn, n_heavy=2, window=window) == expected


def test_h2o_ties_go_to_earlier_position():
    # keys 1 and 2 receive identical accumulated attention; only one heavy slot is left
    attn = torch.tensor([
        [1.0, 0.0, 0.0, 0.0, 0.0],
        [0.2, 0.8, 0.0, 0.0, 0.0],
        [0.2, 0.0, 0.8, 0.0, 0.0],
        [0.9, 0.0, 0.0, 0.1, 0.0],
        [0.8, 0.0, 0.0, 0.1, 0.1],
    ])
    # accumulated: key0 = 3.1, key1 = 0.8, key2 = 0.8, key3 = 0.2, key4 = 0.1
    assert ev.h2o_keep(attn, n_heavy=2, window=2) == [0, 1, 3, 4]
    # the sink-like key 0 is always a heavy hitter here; key 2 loses the tie to key 1


def _late_need_logits() -> torch.Tensor:
    # key 0 is a sink (logit 2); key 1 gets logit -5 from queries 1..4 (under 0.5% of their
    # attention) but logit 10 from query 5; every other pair has logit 0.
    T = 6
    s = torch.zeros(T, T)
    s[:, 0] = 2.0
    s[1:5, 1] = -5.0
    s[5, 1] = 10.0
    return s.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))


def test_h2o_greedy_evicts_a_key_before_it_is_needed():
    s = _late_need_logits()
    # one-shot on the full matrix: query 5 puts ~99.95% on key 1, so key 1 is a heavy hitter
    assert ev.h2o_keep(s.softmax(-1), n_heavy=2, window=2) == [0, 1, 4, 5]
    # greedy (budget 4): at step 4 the older keys are 0, 1, 2 and key 1 has the lowest running
    # score (< 0.01 vs ~0.3 for key 2), so it is evicted; at step 5 key 3 goes (one step less
    # of score than key 2). Query 5 never sees key 1.
    assert ev.h2o_greedy(s, n_heavy=2, window=2) == [0, 2, 4, 5]


def test_h2o_greedy_invariants():
    g = torch.Generator().manual_seed(7)
    T = 12
    s = torch.randn(T, T, generator=g)
    # a budget as large as the sequence never evicts
    assert ev.h2o_greedy(s, n_heavy=T, window=2) == list(range(T))
    for n_heavy, window in [(2, 3), (4, 1), (1, 5)]:
        kept = ev.h2o_greedy(s, n_heavy=n_heavy, window=window)
        assert len(kept) == n_heavy + window                      # exactly the budget at the end
        assert kept[-window:] == list(range(T - window, T))       # recent window always kept


def test_snapkv_matches_explicit_loops():
    g = torch.Generator().manual_seed(3)
    heads, window, L, kernel, capacity = 3, 4, 24, 5, 10
    obs = torch.rand(heads, window, L, generator=g).softmax(-1)
    got = ev.snapkv_keep(obs, capacity=capacity, window=window, kernel=kernel)
    for h in range(heads):
        votes = [sum(float(obs[h, q, k]) for q in range(window)) for k in range(L - window)]
        pad = kernel // 2
        pooled = []
        for k in range(L - window):
            total = sum(votes[j] for j in range(k - pad, k + pad + 1) if 0 <= j < L - window)
            pooled.append(total / kernel)          # zero padding counts in the average
        expected = sorted(_brute_topk(pooled, capacity - window) + list(range(L - window, L)))
        assert got[h].tolist() == expected
    # heads disagree: per-head selection, not one shared set
    assert not all(torch.equal(got[0], got[h]) for h in range(1, heads))


def test_snapkv_pooling_keeps_neighbours_of_a_spike():
    # one head, a single spike of attention on key 10; window 2, budget 3 older keys, kernel 3
    L, window = 16, 2
    obs = torch.full((1, window, L), 0.01)
    obs[0, :, 10] = 0.9
    kept = ev.snapkv_keep(obs, capacity=window + 3, window=window, kernel=3)[0].tolist()
    assert kept == [9, 10, 11, 14, 15]


def test_short_prompt_is_not_compressed():
    obs = torch.rand(2, 4, 8).softmax(-1)
    assert ev.snapkv_keep(obs, capacity=8, window=4).tolist() == [list(range(8))] * 2


def test_pyramid_budgets_hand_arithmetic():
    # avg 100, 5 layers, beta 20: lo = 5, hi = 195, step = 190 // 4 = 47
    assert ev.pyramid_budgets(100, 5, beta=20) == [195, 148, 101, 54, 7]
    assert sum(ev.pyramid_budgets(100, 5, beta=20)) == 505          # mean 101, not 100: floored step
    b = ev.pyramid_budgets(2048, 32)
    assert all(x > y for x, y in zip(b, b[1:]))
    assert abs(sum(b) - 32 * 2048) <= 32 * 31  # only integer-step rounding


def test_memory_closed_form():
    # LLaMA-3-8B shape: 32 layers, 8 KV heads, head_dim 128, bf16 -> 128 KiB per token
    full, kept = ev.eviction_saving(131072, 4096, layers=32, kv_heads=8, head_dim=128)
    assert full == 2 * 32 * 8 * 128 * 2 * 131072 == 16 * 2**30
    assert kept == 512 * 2**20
    # pyramid budgets cost exactly the sum of their per-layer tokens (505 here, vs 500 for uniform 100)
    b = ev.pyramid_budgets(100, 5)
    assert ev.kv_cache_bytes(b, 8, 128) == 2 * 8 * 128 * 2 * 505


def test_top_by_score_breaks_ties_towards_the_earlier_index():
    score = torch.tensor([0.1, 0.5, 0.3, 0.5, 0.2])
    assert ev._top_by_score(score, 2).tolist() == [1, 3]                      # tie 0.5: index 1 before 3
    assert ev._top_by_score(score, 3).tolist() == [1, 3, 2]
    assert torch.equal(torch.sort(ev._top_by_score(score, 3)).values, torch.topk(score, 3).indices.sort().values)


def test_h2o_greedy_tie_evicts_the_later_key():
    # Budget 3 (2 heavy + window 1). Key 1 gets probability exactly 0 at step 1 (logit -1e4), then keys
    # 1 and 2 get equal logits at steps 2 and 3, so their running scores are exactly equal (1/3 + 1/4,
    # summed in the same order). At step 3 the older keys are 0, 1, 2; key 0 (score > 2) stays, and of
    # the tied keys 1 and 2 the later one goes (docstring; the earlier position wins, as in h2o_keep).
    s = torch.zeros(4, 4, dtype=torch.float64)
    s[1, 1] = -1e4
    assert ev.h2o_greedy(s, n_heavy=2, window=1) == [0, 1, 3]


def test_eviction_saving_below_the_budget_saves_nothing():
    # a sequence shorter than the budget keeps every token: 1000 tokens, budget 4096
    full, kept = ev.eviction_saving(1000, 4096, layers=2, kv_heads=8, head_dim=128)
    assert full == kept == 2 * 2 * 8 * 128 * 2 * 1000


def test_defaults_short_inputs_and_decode_time_rows():
    # StreamingLLM defaults: 4 sinks + the last 1020 positions
    assert ev.streaming_keep(5000) == list(range(4)) + list(range(3980, 5000))
    # a stream shorter than the window keeps everything, from position 0, sinks or not
    assert ev.streaming_keep(3, n_sink=0, window=10) == [0, 1, 2]
    # H2O on the last 2 queries only (q_len < k_len, decode time): column sums .2 .6 .2 .6 | .2 .2;
    # window 2 keeps 4, 5; one heavy hitter among 0-3, a tie of keys 1 and 3 that goes to key 1
    attn = torch.tensor([[.1, .5, .1, .1, .1, .1], [.1, .1, .1, .5, .1, .1]])
    assert ev.h2o_keep(attn, n_heavy=1, window=2) == [1, 4, 5]
    # heavy hitters come from the older keys only, even when a recent key has the most attention
    assert ev.h2o_keep(torch.tensor([[.1, .1, .1, .1, .1, .5]]), n_heavy=1, window=2) == [0, 4, 5]
    # fewer keys than the window: all are recent, none is a heavy hitter
    assert ev.h2o_keep(torch.full((3, 3), 1 / 3), n_heavy=0, window=5) == [0, 1, 2]
    # integer budgets, and bytes per element reach both totals
    assert all(type(b) is int for b in ev.pyramid_budgets(100, 5))
    assert ev.eviction_saving(1000, 100, layers=2, kv_heads=1, head_dim=4, bytes_per=1) == (2 * 2 * 4 * 1000,
                                                                                          2 * 2 * 4 * 100)


def test_snapkv_default_kernel_and_bad_capacity():
    g = torch.Generator().manual_seed(4)
    obs = torch.rand(2, 4, 30, generator=g).softmax(-1)
    assert torch.equal(ev.snapkv_keep(obs, 10, 4), ev.snapkv_keep(obs, 10, 4, kernel=5))   # default kernel 5
    # the observation window must fit inside the capacity, and match attn_obs
    with pytest.raises(AssertionError):
        ev.snapkv_keep(obs, 4, 4)
    with pytest.raises(AssertionError):
        ev.snapkv_keep(obs, 10, 3)


def test_ties_in_long_score_vectors_go_to_the_earlier_position():
    # Over ~100+ entries torch's default (unstable) CPU sort reorders equal keys, so the tie rule
    # needs the stable sort: compare with the explicit rule on a score with only 3 distinct values.
    g = torch.Generator().manual_seed(0)
    score = torch.randint(0, 3, (300,), generator=g).float()
    for k in (1, 10, 150):
        assert ev._top_by_score(score, k).tolist() == _brute_topk(score.tolist(), k)
    # SnapKV with no signal (uniform attention over 150 keys): every interior pooled vote is equal,
    # the two keys at each end lose part of the kernel to zero padding, so the 16 kept older keys are
    # the earliest interior ones, 2..17, plus the window 146..149, in every head
    L, window = 150, 4
    obs = torch.full((2, window, L), 1.0 / L)
    expected = list(range(2, 18)) + list(range(146, 150))
    assert ev.snapkv_keep(obs, capacity=20, window=window, kernel=5).tolist() == [expected] * 2


def test_h2o_greedy_scores_accumulate_over_steps():
    # Budget 3 (2 heavy + window 1). Key 1 takes ~99% of queries 1 and 2 but ~0.5% of query 3, key 2
    # ~0.7% of query 2 and ~11% of query 3. At step 3 (older keys 0, 1, 2) the ACCUMULATED scores are
    # key0 ~1.80, key1 ~1.99, key2 ~0.11: key 2 goes. (Scored by query 3 alone, key 1 would go.)
    s = torch.full((4, 4), float("-inf"))
    s[0, 0] = 0.0
    s[1, :2] = torch.tensor([0.0, 5.0])
    s[2, :3] = torch.tensor([0.0, 5.0, 0.0])
    s[3] = torch.tensor([2.0, -3.0, 0.0, 0.0])
    assert ev.h2o_greedy(s, n_heavy=2, window=1) == [0, 1, 3]


def _greedy_reference(logits: list[list[float]], n_heavy: int, window: int) -> list[int]:
    # the paper's loop written out with math.exp and plain lists
    import math
    cache, score = [], []
    for i in range(len(logits)):
        cache.append(i)
        score.append(0.0)
        w = [math.exp(logits[i][j]) for j in cache]
        for j in cache:
            score[j] += math.exp(logits[i][j]) / sum(w)
        if len(cache) > n_heavy + window:
            victim = min((j for j in cache if j <= i - window), key=lambda j: (score[j], -j))
            cache.remove(victim)
    return cache


def test_h2o_greedy_matches_a_plain_python_loop():
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        s = 2 * torch.randn(16, 16, generator=g, dtype=torch.float64)
        for n_heavy, window in [(3, 2), (1, 4), (5, 1)]:
            assert ev.h2o_greedy(s, n_heavy, window) == _greedy_reference(s.tolist(), n_heavy, window)
