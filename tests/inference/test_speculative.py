"""Tests for snippets/inference/speculative.py: the accepted tokens follow the *target* distribution
(statistical test, fixed seed, stated tolerance), and acceptance statistics match the closed forms."""
import itertools
import math

import torch

from snippets import load

sp = load("inference/speculative")


def _tables(seed: int, vocab: int):
    g = torch.Generator().manual_seed(seed)
    target = torch.softmax(torch.randn(vocab, vocab, generator=g) * 1.5, -1)
    draft = torch.softmax(torch.randn(vocab, vocab, generator=g) * 1.5, -1)    # a poor, unrelated draft
    return target.double(), draft.double()


def test_speculative_tokens_follow_target_distribution():
    vocab, n_runs, n_tok = 3, 12000, 3
    target_t, draft_t = _tables(0, vocab)
    target, draft = sp.bigram_model(target_t), sp.bigram_model(draft_t)
    gen = torch.Generator().manual_seed(1)
    counts: dict[tuple, int] = {}
    for _ in range(n_runs):
        toks, _ = sp.speculative_generate(target, draft, [0], n_tok, gamma=2, gen=gen)
        counts[tuple(toks)] = counts.get(tuple(toks), 0) + 1

    def exact(table, seq):            # oracle: chain rule on the bigram table, by hand
        prob, prev = 1.0, 0
        for t in seq:
            prob, prev = prob * float(table[prev, t]), t
        return prob

    seqs = list(itertools.product(range(vocab), repeat=n_tok))                 # 27 joint outcomes
    emp = torch.tensor([counts.get(s, 0) / n_runs for s in seqs])
    p_target = torch.tensor([exact(target_t, s) for s in seqs])
    p_draft = torch.tensor([exact(draft_t, s) for s in seqs])
    tv_target = 0.5 * (emp - p_target).abs().sum().item()
    tv_draft = 0.5 * (p_draft - p_target).abs().sum().item()
    # Sampling noise: E[TV] <~ 0.5 * sum sqrt(p (1-p) / N) <= 0.5 * sqrt(27 / 12000) ~ 0.024.
    # Tolerance 0.04 (seed fixed). The draft's own distribution is far away, so the test has power.
    assert tv_target < 0.04, tv_target
    assert tv_draft > 0.2, tv_draft


def test_acceptance_rate_closed_form():
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    # sum min(p, q) = 0.2 + 0.3 + 0.2 = 0.7 = 1 - TV(p, q) = 1 - 0.3
    assert math.isclose(sp.acceptance_rate(p, q), 0.7)
    assert math.isclose(sp.acceptance_rate(p, p), 1.0)
    # (1 - 0.7^4) / 0.3 = 2.533... tokens per target pass for gamma = 3; gamma + 1 when alpha = 1
    assert math.isclose(sp.expected_tokens_per_step(0.7, 3), (1 - 0.7**4) / 0.3)
    assert sp.expected_tokens_per_step(1.0, 3) == 4.0


def test_empirical_acceptance_matches_closed_form():
    # Context-free draft and target: each draft token is accepted i.i.d. with prob alpha = 0.7.
    p = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    q = torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64)
    target, draft = (lambda ctx: p), (lambda ctx: q)
    gen = torch.Generator().manual_seed(2)
    gamma, n = 3, 6000
    produced = accepted_first = 0
    for _ in range(n):
        toks, n_acc = sp.speculative_step(target, draft, [0], gamma, gen)
        produced += len(toks)
        accepted_first += n_acc >= 1
    # P(first draft accepted) = 0.7: std err sqrt(.21/6000) ~ 0.006; tolerance 0.025.
    assert abs(accepted_first / n - 0.7) < 0.025
    # tokens per pass: closed form 2.533; std of one step ~1.1 -> std err ~0.015; tolerance 0.06.
    assert abs(produced / n - sp.expected_tokens_per_step(0.7, gamma)) < 0.06


def test_identical_draft_accepts_everything():
    target_t, _ = _tables(3, 4)
    model = sp.bigram_model(target_t)
    gen = torch.Generator().manual_seed(3)
    for _ in range(50):
        toks, n_acc = sp.speculative_step(model, model, [1], 4, gen)
        assert n_acc == 4 and len(toks) == 5


def test_mtp_chain_with_equal_rates_matches_geometric_closed_form():
    # oracle: Leviathan et al.'s (1 - a^(g+1)) / (1 - a) for i.i.d. acceptance
    for a, gamma in ((0.85, 1), (0.7, 3), (0.5, 5)):
        assert math.isclose(sp.expected_tokens_chain([a] * gamma), (1 - a ** (gamma + 1)) / (1 - a))


def test_mtp_chain_by_hand_and_against_seeded_simulation():
    assert math.isclose(sp.expected_tokens_chain([0.85, 0.7]), 1 + 0.85 + 0.85 * 0.7)   # 2.445
    assert sp.expected_tokens_chain([]) == 1.0
    assert math.isclose(sp.expected_tokens_chain([0.9, 0.0, 0.9]), 1.9)                # a zero cuts the chain
    gen = torch.Generator().manual_seed(0)
    for acc in ([0.85], [0.85, 0.7], [0.9, 0.6, 0.3]):
        sim = sp.simulate_chain(acc, 200_000, gen)
        assert abs(sim - sp.expected_tokens_chain(acc)) < 0.01


def test_mtp_chain_simulation_matches_real_rejection_sampling():
    # independent path: run the actual speculative_step with a draft whose acceptance rate is known
    p = torch.tensor([0.5, 0.3, 0.2])
    q = torch.tensor([0.2, 0.3, 0.5])                   # alpha = 0.7
    target, draft = (lambda ctx: p), (lambda ctx: q)
    gen = torch.Generator().manual_seed(1)
    lens = [len(sp.speculative_step(target, draft, [0], 2, gen)[0]) for _ in range(6000)]
    assert abs(sum(lens) / len(lens) - sp.expected_tokens_chain([0.7, 0.7])) < 0.04


def test_batch1_speedup_equals_leviathan_closed_form():
    # memory-bound verify: speed-up = (1 - a^(g+1)) / ((1 - a)(g c + 1))   (Leviathan et al. 2023)
    for a, g, c in ((0.8, 4, 0.05), (0.6, 3, 0.1), (0.9, 6, 0.0)):
        closed = (1 - a ** (g + 1)) / ((1 - a) * (g * c + 1))
        assert abs(sp.spec_speedup(a, g, 1, 8e9, draft_cost=c) - closed) < 1e-12


def test_roofline_crossover_and_large_batch_slowdown():
    # 8B in bf16: 16 GB / 3.35 TB/s = 4.776 ms; 16 GFLOP per token / 989 TFLOPS = 16.18 us per token
    assert abs(sp.step_ms(1, 8e9) - 16 / 3.35) < 1e-9
    crossover = (16e9 / 3.35e12) / (16e9 / 989e12)                      # = 989 / 3.35 * ... ~ 295 tokens
    assert 295 < crossover < 296
    assert sp.step_ms(295, 8e9) == sp.step_ms(1, 8e9)                   # still memory-bound
    assert sp.step_ms(300, 8e9) > sp.step_ms(1, 8e9)                    # now compute-bound
    # gamma 4 -> 5 tokens per sequence: free up to batch 59 (295 tokens), costly beyond
    assert sp.spec_speedup(0.8, 4, 59, 8e9) == sp.spec_speedup(0.8, 4, 1, 8e9)
    big = sp.spec_speedup(0.8, 4, 1024, 8e9)
    # fully compute-bound: E[tokens] / (gamma + 1 + gamma * c) = 3.3616 / 5.2 < 1
    assert abs(big - sp.expected_tokens_per_step(0.8, 4) / 5.2) < 1e-9 and big < 1
    speeds = [sp.spec_speedup(0.8, 4, b, 8e9) for b in (1, 64, 128, 256, 1024)]
    assert all(x >= y for x, y in zip(speeds, speeds[1:]))              # never improves with batch


def test_calls_and_bonus_token_on_deterministic_models():
    # target and draft both say "next = last + 1 (mod 5)" with certainty: every draft is accepted and the
    # bonus token continues the chain. Oracle: the chain itself; and the contexts each model is asked about.
    V, seen_draft, seen_target = 5, [], []

    def succ(ctx):
        return torch.nn.functional.one_hot(torch.tensor(ctx[-1] + 1) % V, V).double()

    def draft(ctx):
        seen_draft.append(list(ctx))
        return succ(ctx)

    def target(ctx):
        seen_target.append(list(ctx))
        return succ(ctx)

    toks, n_acc = sp.speculative_step(target, draft, [4, 1], 3, torch.Generator().manual_seed(0))
    assert (toks, n_acc) == ([2, 3, 4, 0], 3)
    assert seen_draft == [[4, 1], [4, 1, 2], [4, 1, 2, 3]]
    assert seen_target == [[4, 1], [4, 1, 2], [4, 1, 2, 3], [4, 1, 2, 3, 4]]


def test_rejection_resamples_from_the_residual():
    # the draft always proposes token 0, which the target never produces: rejected at once, and the
    # replacement comes from norm(max(0, p - q)) = p restricted to tokens 1, 2 -> (0, 0.25, 0.75)
    p = torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64)
    q = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    gen = torch.Generator().manual_seed(4)
    firsts = []
    for _ in range(2000):
        toks, n_acc = sp.speculative_step(lambda c: p, lambda c: q, [0], 3, gen)
        assert n_acc == 0 and len(toks) == 1
        firsts.append(toks[0])
    # std err of the share of token 2: sqrt(.75 * .25 / 2000) ~ 0.01; tolerance 0.04
    assert abs(firsts.count(2) / 2000 - 0.75) < 0.04 and firsts.count(0) == 0


def test_randomness_comes_only_from_the_given_generator():
    # same generator seed, different global seeds: the same tokens (a draw from torch's global RNG would differ)
    target_t, draft_t = _tables(5, 6)
    target, draft = sp.bigram_model(target_t), sp.bigram_model(draft_t)
    runs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        runs.append(sp.speculative_generate(target, draft, [0], 60, gamma=3, gen=torch.Generator().manual_seed(7)))
        torch.manual_seed(global_seed + 10)
        runs.append(sp.simulate_chain([0.8, 0.6, 0.5], 2000, torch.Generator().manual_seed(7)))
    assert runs[0] == runs[2] and runs[1] == runs[3]


def test_acceptance_boundary_is_strict(monkeypatch):
    # accept iff u < min(1, p/q): u exactly equal to the ratio is a rejection (u ~ U[0, 1) never reaches 1)
    p = torch.tensor([0.25, 0.75], dtype=torch.float64)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64)                   # p/q of token 0 = 0.5
    monkeypatch.setattr(sp.torch, "rand", lambda *shape, generator=None, dtype=None: torch.full(
        shape, 0.5, dtype=dtype or torch.float32))
    # token 1 (ratio 1.5) is always accepted; token 0, ratio exactly 0.5 = u, always rejected and replaced
    # from norm(max(0, p - q)) = (0, 1): every round starts with token 1
    rejected = 0
    for seed in range(20):
        toks, n_acc = sp.speculative_step(lambda c: p, lambda c: q, [0], 1, torch.Generator().manual_seed(seed))
        assert toks[0] == 1
        rejected += n_acc == 0
    assert 0 < rejected < 20
    # the chain simulation compares in float64: u = a exactly is a rejection, for a just above and just below
    # its float32 rounding (0.7 rounds down, 0.1 rounds up)
    for a in (0.7, 0.1):
        monkeypatch.setattr(sp.torch, "rand", lambda *shape, generator=None, dtype=None, a=a: torch.full(
            shape, a, dtype=dtype or torch.float32))
        assert sp.simulate_chain([a], 10, torch.Generator()) == 1.0


def test_roofline_times_and_other_hardware():
    # compute-bound time by hand: 2 * 8e9 * 1000 FLOPs / 989e12 FLOP/s = 16.178 ms
    assert math.isclose(sp.step_ms(1000, 8e9), 2 * 8e9 * 1000 / 989e12 * 1e3, rel_tol=1e-14)
    assert math.isclose(sp.step_ms(1, 8e9), 16e9 / 3.35e12 * 1e3, rel_tol=1e-14)
    # A100-like (2.0 TB/s, 312 TFLOPS), batch 40, gamma 4: plain step memory-bound 8 ms; verify over 200 tokens
    # compute-bound 2 * 8e9 * 200 / 312e12 = 10.256 ms; round = 10.256 + 4 * 0.05 * 8 ms
    hw = {"bw_tb_s": 2.0, "tflops": 312.0}
    verify = 2 * 8e9 * 200 / 312e12 * 1e3
    expected = sp.expected_tokens_per_step(0.8, 4) * 8.0 / (verify + 4 * 0.05 * 8.0)
    assert math.isclose(sp.spec_speedup(0.8, 4, 40, 8e9, **hw), expected, rel_tol=1e-12)
