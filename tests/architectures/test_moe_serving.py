"""Tests for snippets/architectures/moe_serving.py: the all-to-all formula against a routing
simulation that counts bytes crossing devices (exact for a fixed routing, in expectation for uniform
random routing), and EPLB-style replication/placement against brute-force optima and hand values."""
import itertools

import pytest
import torch

from snippets import load

ms = load("architectures/moe_serving")


def test_exact_count_for_fixed_routing():
    # 4 experts: 0,1 on device 0; 2,3 on device 1. Tokens 0,1 live on device 0, token 2 on device 1.
    expert_device = torch.tensor([0, 0, 1, 1])
    token_device = torch.tensor([0, 0, 1])
    routing = torch.tensor([[0, 2], [2, 3], [0, 1]])
    # remote pairs: t0->e2, t1->e2, t1->e3, t2->e0, t2->e1 = 5; distinct (token, device) = 3
    h, b = 10, 2
    assert ms.count_a2a_bytes(routing, token_device, expert_device, h, b) == 2 * 5 * h * b
    assert ms.count_a2a_bytes(routing, token_device, expert_device, h, b, dedup=True) == 2 * 3 * h * b


def test_formula_matches_simulation_in_expectation():
    torch.manual_seed(0)
    E, ep, k, T, h = 16, 4, 2, 6000, 8
    expert_device = torch.arange(E) // (E // ep)
    token_device = torch.randint(0, ep, (T,))
    routing = torch.stack([torch.randperm(E)[:k] for _ in range(T)])   # uniform top-k, no repeats
    sim = ms.count_a2a_bytes(routing, token_device, expert_device, h, 1.0)
    v = ms.a2a_bytes_per_layer(T, k, h, 1.0, 1.0, ep)
    assert v["remote_fraction"] == 0.75
    assert abs(sim / v["remote_total"] - 1) < 0.02
    # dedup: distinct remote devices per token
    sim_dedup = ms.count_a2a_bytes(routing, token_device, expert_device, h, 1.0, dedup=True) / (2 * h * T)
    assert abs(sim_dedup / ms.expected_remote_devices(E, k, ep) - 1) < 0.02


def test_formula_by_hand_with_fp8_dispatch_and_bf16_combine():
    # DeepSeek-V3 shape: 1 token, top-8, hidden 7168; dispatch FP8 (1 byte), combine BF16 (2 bytes), EP 144
    v = ms.a2a_bytes_per_layer(1, 8, 7168, 1, 2, 144)
    assert v["dispatch"] == 8 * 7168 == 56 * 1024 and v["combine"] == 2 * 8 * 7168 == 112 * 1024
    assert v["total"] == 168 * 1024 and v["remote_fraction"] == 143 / 144
    assert abs(v["remote_total"] - 168 * 1024 * 143 / 144) < 1e-9
    # both ways in BF16 (2 bytes), EP 8: 2 * 8 * 7168 bytes each way, 7/8 of it remote
    v = ms.a2a_bytes_per_layer(1, 8, 7168, 2, 2, 8)
    assert v["dispatch"] == v["combine"] == 112 * 1024 and v["remote_total"] == 224 * 1024 * 7 / 8


def test_expected_remote_devices_small_closed_form():
    # 4 experts on 2 devices, top-2: P(a given device unused) = C(2,2)/C(4,2) = 1/6
    assert abs(ms.expected_remote_devices(4, 2, 2) - (1 - 1 / 6)) < 1e-12
    # top-1: the expert is remote with probability (ep-1)/ep
    assert abs(ms.expected_remote_devices(256, 1, 8) - 7 / 8) < 1e-12


def _compositions(total: int, parts: int):
    for cut in itertools.combinations(range(1, total), parts - 1):
        bounds = (0,) + cut + (total,)
        yield [bounds[i + 1] - bounds[i] for i in range(parts)]


def test_replication_is_minimax_optimal():
    for load in ([60, 20, 10, 10], [7, 5, 3, 1], [10, 10, 1, 1, 1]):
        for slots in range(len(load), len(load) + 5):
            counts = ms.replicate_experts(load, slots)
            assert sum(counts) == slots and min(counts) >= 1
            best = min(max(l / c for l, c in zip(load, cs)) for cs in _compositions(slots, len(load)))
            assert abs(max(l / c for l, c in zip(load, counts)) - best) < 1e-12


def test_replication_ties_go_to_the_lowest_expert_id():
    assert ms.replicate_experts([10, 10], 3) == [2, 1]
    # 6 -> 2 replicas of 3; then 3, 3, 3 all tie: expert 0 again
    assert ms.replicate_experts([6, 3, 3], 5) == [3, 1, 1]


def _brute_force_max_load(load, num_gpus, slots_per_gpu):
    best = float("inf")
    for counts in _compositions(num_gpus * slots_per_gpu, len(load)):
        reps = [load[e] / c for e, c in enumerate(counts) for _ in range(c)]
        for assign in itertools.product(range(num_gpus), repeat=len(reps)):
            if any(assign.count(g) != slots_per_gpu for g in range(num_gpus)):
                continue
            best = min(best, max(sum(r for r, a in zip(reps, assign) if a == g) for g in range(num_gpus)))
    return best


def test_eplb_hand_case_and_bruteforce():
    load = [60, 20, 10, 10]
    counts, placement, max_load = ms.eplb(load, num_gpus=2, slots_per_gpu=3)
    # hand: expert 0 gets 3 replicas of 20; replicas 20,20,20,20,10,10 split 50 / 50
    assert counts == [3, 1, 1, 1]
    assert max_load == 50 == _brute_force_max_load(load, 2, 3)
    assert sorted(e for gpu in placement for e in gpu) == [0, 0, 0, 1, 2, 3]
    # without replication the hot expert alone puts 60 on one GPU
    assert max(load) == 60


def test_eplb_packs_heaviest_first():
    # no spare slots (6 experts, 6 slots), so only packing matters. Heaviest-first onto the lightest
    # GPU with a free slot: 5->g0, 4->g1, 3->g1, 3->g0, 3->g1 (g1 full: 10), 2->g0 (10): optimal 10.
    # Lightest-first would give {2, 3, 4} = 9 and {3, 3, 5} = 11.
    load = [5, 4, 3, 3, 3, 2]
    counts, placement, max_load = ms.eplb(load, num_gpus=2, slots_per_gpu=3)
    assert counts == [1] * 6
    assert max_load == 10 == _brute_force_max_load(load, 2, 3)
    assert sorted(sorted(g) for g in placement) == [[0, 3, 5], [1, 2, 4]]


def test_eplb_never_beats_the_optimum_and_balances_random_cases():
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        load = torch.randint(1, 50, (4,), generator=g).tolist()
        _, _, greedy = ms.eplb(load, num_gpus=2, slots_per_gpu=3)
        opt = _brute_force_max_load(load, 2, 3)
        assert greedy >= opt - 1e-9
        assert greedy <= 1.34 * opt   # heuristic, close to optimal on these small cases


def test_experts_touched_closed_form_vs_simulation():
    # one token touches exactly top_k experts; closed form for a tiny case by hand
    assert abs(ms.expected_experts_touched(256, 8, 1) - 8) < 1e-9
    # 4 experts, top-2, 2 tokens: P(expert missed) = (1/2)^2 -> 4 * 3/4 = 3
    assert abs(ms.expected_experts_touched(4, 2, 2) - 3) < 1e-12
    g = torch.Generator().manual_seed(0)
    E, k, B, trials = 64, 4, 16, 3000
    touched = [len(set(torch.cat([torch.randperm(E, generator=g)[:k] for _ in range(B)]).tolist()))
               for _ in range(trials)]
    assert abs(sum(touched) / trials / ms.expected_experts_touched(E, k, B) - 1) < 0.01


def test_pack_to_gpus_needs_equal_slots_per_gpu():
    with pytest.raises(AssertionError):
        ms.pack_to_gpus([1.0, 2.0, 3.0, 4.0, 5.0], 2)            # 5 replicas cannot fill 2 equal GPUs


def test_pack_to_gpus_balances_by_hand_and_never_worse_than_brute_force_bound():
    import itertools
    # by hand, heaviest first onto the lightest GPU with a free slot (2 slots each): 8 → g0 (tie, lower id),
    # 7 → g1, 6 → g1 (7 < 8; now full), 5 → g0: loads 13 and 13
    assert ms.pack_to_gpus([5.0, 6.0, 7.0, 8.0], 2) == [[3, 0], [2, 1]]
    items = [9.0, 1.0, 1.0, 1.0, 5.0, 5.0]
    packed = ms.pack_to_gpus(items, 3)
    assert sorted(i for g in packed for i in g) == list(range(6)) and all(len(g) == 2 for g in packed)
    best = min(max(sum(items[i] for i in perm[k:k + 2]) for k in (0, 2, 4))
               for perm in itertools.permutations(range(6)))
    greedy = max(sum(items[i] for i in g) for g in packed)
    assert best == 10.0 and greedy == best                                    # 9+1, 5+1, 5+1
