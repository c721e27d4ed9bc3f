"""Tests for snippets/fine-tuning/forgetting.py.

Oracles: per-sample gradients from torch.func (vmap + grad), the EWC formula by hand,
exact replay counts, and for the regression gate scipy.stats.ttest_rel / norm, hand-computed
noise floors and a seeded simulation of the interval's coverage.
"""
import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from snippets import load

fg = load("fine-tuning/forgetting")


def test_replay_ratio_is_exact():
    mixed = fg.mix_with_replay(list(range(300)), [f"g{i}" for i in range(50)], replay_ratio=0.25)
    n_old = sum(isinstance(s, str) for s in mixed)
    assert n_old == 100 and len(mixed) == 400          # 100 / 400 = 0.25
    assert sorted(s for s in mixed if isinstance(s, int)) == list(range(300))
    # shuffled: the replayed samples are spread through the mixture, not appended at the end
    # (hypergeometric: 50 +- 4.3 of them expected in the first half)
    assert 30 <= sum(isinstance(s, str) for s in mixed[:200]) <= 70
    assert fg.mix_with_replay(list(range(300)), ["g"], 0.25) == fg.mix_with_replay(list(range(300)), ["g"], 0.25, seed=0)
    assert sorted(fg.mix_with_replay(list(range(10)), ["g"], 0.0)) == list(range(10))


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_replay_ratio_outside_0_1_is_refused(ratio):
    with pytest.raises(ValueError, match=r"^replay_ratio must be in \[0, 1\)$"):
        fg.mix_with_replay([1, 2], ["g"], ratio)


def test_fisher_matches_vmap_per_sample_gradients():
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    ours = fg.fisher_diagonal(model, x, y)
    params = {n: p.detach() for n, p in model.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    for n in params:
        torch.testing.assert_close(ours[n], per_sample[n].pow(2).mean(0))


def test_fisher_covers_only_trainable_parameters():
    torch.manual_seed(2)
    model = nn.Linear(4, 3).double()
    model.bias.requires_grad_(False)
    x, y = torch.randn(8, 4, dtype=torch.float64), torch.randint(0, 3, (8,))
    ours = fg.fisher_diagonal(model, x, y)
    assert set(ours) == {"weight"}
    w = model.weight.detach().clone().requires_grad_(True)
    grads = [torch.autograd.grad(F.cross_entropy(F.linear(xi[None], w, model.bias), yi[None]), w)[0]
             for xi, yi in zip(x, y)]
    torch.testing.assert_close(ours["weight"], torch.stack(grads).pow(2).mean(0))


def test_ewc_penalty_by_hand():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 3.0]]))
    old = {"weight": torch.tensor([[0.0, 1.0]])}
    fisher = {"weight": torch.tensor([[2.0, 0.5]])}
    # 0.5 * 10 * (2 * 1^2 + 0.5 * 2^2) = 0.5 * 10 * 4 = 20
    assert abs(fg.ewc_penalty(model, old, fisher, lam=10.0).item() - 20.0) < 1e-6


def test_ewc_penalty_zero_at_old_params_and_gradient_points_back():
    torch.manual_seed(1)
    model = nn.Linear(3, 2)
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = {n: torch.rand_like(p) + 0.1 for n, p in model.named_parameters()}
    assert fg.ewc_penalty(model, old, fisher, lam=1.0).item() == 0.0
    with torch.no_grad():
        model.weight.add_(0.5)
    fg.ewc_penalty(model, old, fisher, lam=1.0).backward()
    # d/dθ = lam * F * (θ - θ_old): positive where θ moved up, so gradient descent moves it back.
    torch.testing.assert_close(model.weight.grad, fisher["weight"] * 0.5)


# --- regression gate: oracles are scipy.stats (paired t statistic, normal quantile), hand-computed
# values and a seeded simulation of the CI's coverage.
import numpy as np
from scipy import stats


def test_paired_ci_matches_scipy_ttest_rel():
    rng = np.random.default_rng(0)
    before = (rng.random(800) < 0.7).astype(int)
    flip = rng.random(800) < 0.12
    after = np.where(flip, 1 - before, before)
    drop, lo, hi = fg.paired_drop_ci(before.tolist(), after.tolist())
    t = stats.ttest_rel(before, after)
    se = (before - after).mean() / t.statistic           # t = mean / (sd / sqrt(n))
    z = stats.norm.ppf(0.975)
    assert abs(drop - (before.mean() - after.mean())) < 1e-12
    assert abs((hi - lo) / 2 - z * se) < 1e-12
    drop90, lo90, hi90 = fg.paired_drop_ci(before.tolist(), after.tolist(), confidence=0.90)
    assert abs((hi90 - lo90) / 2 - stats.norm.ppf(0.95) * se) < 1e-12 and drop90 == drop


def test_gate_uses_the_upper_end_at_the_given_confidence():
    # 400 items, 12 lost and 4 gained: drop 0.02; se from scipy's paired t statistic
    before = np.array([1] * 12 + [0] * 4 + [1] * 250 + [0] * 134)
    after = np.array([0] * 12 + [1] * 4 + [1] * 250 + [0] * 134)
    se = 0.02 / stats.ttest_rel(before, after).statistic
    hi95, hi99 = 0.02 + stats.norm.ppf(0.975) * se, 0.02 + stats.norm.ppf(0.995) * se
    tol = (hi95 + hi99) / 2                                       # between the two upper ends
    b, a = before.tolist(), after.tolist()
    assert fg.passes_gate(b, a, tolerance=tol) and not fg.passes_gate(b, a, tol, confidence=0.99)
    assert not fg.passes_gate(b, a, tolerance=0.02)               # the point estimate is not enough
    # the boundary is inclusive: an upper end exactly at the tolerance ships
    hi = fg.paired_drop_ci(b, a)[2]
    assert fg.passes_gate(b, a, hi) and not fg.passes_gate(b, a, math.nextafter(hi, 0.0))


def test_noise_floor_by_hand_and_item_count():
    # 1.96 * sqrt(0.10 / 500) = 0.0277 (±2.8 points); 1.96 * sqrt(0.06 / 14042) = 0.0041
    assert abs(fg.noise_floor(500, 0.10) - 0.02772) < 1e-4
    assert abs(fg.noise_floor(14042, 0.06) - 0.00405) < 1e-4
    n = fg.items_for_floor(0.01, 0.10)                     # 1.96^2 * 0.1 / 0.01^2 = 3841.5 -> 3842
    assert n == 3842
    assert fg.noise_floor(n, 0.10) <= 0.01 < fg.noise_floor(n - 1, 0.10)


def test_noise_floor_equals_ci_when_net_drop_is_zero():
    # 1000 items, 50 lost and 50 gained: drop 0, discordant rate 0.1
    before = [1] * 50 + [0] * 50 + [1] * 600 + [0] * 300
    after = [0] * 50 + [1] * 50 + [1] * 600 + [0] * 300
    drop, lo, hi = fg.paired_drop_ci(before, after)
    assert drop == 0.0
    # sample variance uses n - 1, the floor uses n: they differ by sqrt(1000 / 999)
    assert abs(hi - fg.noise_floor(1000, 0.10) * math.sqrt(1000 / 999)) < 1e-12


def test_ci_coverage_by_simulation():
    rng = np.random.default_rng(1)
    n, covered = 2000, 0
    for _ in range(400):
        before = (rng.random(n) < 0.7).astype(int)
        # each correct item is lost with prob. 0.06, each wrong one gained with prob. 0.06
        u = rng.random(n)
        after = before.copy()
        after[(u < 0.06) & (before == 1)] = 0
        after[(u > 0.94) & (before == 0)] = 1
        # expected drop: 0.06 * 0.7 - 0.06 * 0.3 = 0.024
        _, lo, hi = fg.paired_drop_ci(before.tolist(), after.tolist())
        covered += lo <= 0.024 <= hi
    assert 0.92 <= covered / 400 <= 0.98


def test_gate_refuses_a_small_suite_that_sees_no_drop():
    small_b = [1] * 5 + [0] * 5 + [1] * 60 + [0] * 30       # 100 items, 5 lost, 5 gained
    small_a = [0] * 5 + [1] * 5 + [1] * 60 + [0] * 30
    assert fg.paired_drop_ci(small_b, small_a)[0] == 0.0
    assert not fg.passes_gate(small_b, small_a, tolerance=0.01)   # CI upper end ~ +6 points
    big_b, big_a = small_b * 100, small_a * 100                   # same pattern, 10,000 items
    assert fg.passes_gate(big_b, big_a, tolerance=0.01)           # upper end ~ +0.6 points


# --- issue 22: compute of a continual refresh vs a retrain; oracles are hand-computed values and
# the replay share recovered from the token counts.


def test_refresh_tokens_by_hand_and_replay_share_recovered():
    total = fg.refresh_tokens(50e9, 0.25)
    assert total == pytest.approx(66.6667e9, rel=1e-5)      # 50 / 0.75
    assert (total - 50e9) / total == pytest.approx(0.25)     # the old-data share is what was asked
    assert fg.refresh_tokens(50e9, 0.0) == 50e9
    for bad in (1.0, -0.25):
        with pytest.raises(ValueError, match=r"^replay_share must be in \[0, 1\)$"):
            fg.refresh_tokens(1.0, bad)


def test_gpu_hours_by_hand():
    # 6 * 7e9 * 1e9 = 4.2e19 FLOPs; 989e12 * 0.4 = 3.956e14 FLOP/s -> 106,168 s -> 29.49 h
    assert fg.gpu_hours(7e9, 1e9) == pytest.approx(4.2e19 / 3.956e14 / 3600)
    assert fg.gpu_hours(7e9, 1e9) == pytest.approx(29.49, abs=0.01)
    # the defaults are the documented H100 SXM dense BF16 peak (989 TFLOP/s) at 40%
    assert fg.gpu_hours(7e9, 1e9) == fg.gpu_hours(7e9, 1e9, peak_flops=989e12, utilization=0.4)
    # doubling the utilization halves the hours
    assert fg.gpu_hours(7e9, 1e9, utilization=0.8) == pytest.approx(fg.gpu_hours(7e9, 1e9) / 2)


def test_refresh_vs_retrain_by_hand():
    refresh, retrain = fg.refresh_vs_retrain(7e9, 2e12, 50e9, 0.25)
    # refresh: 6 * 7e9 * 66.67e9 = 2.8e21 FLOPs -> 1,966 h; retrain: 6 * 7e9 * 2.05e12 = 8.61e22 -> 60,457 h
    assert refresh == pytest.approx(2.8e21 / 3.956e14 / 3600, rel=1e-6)
    assert round(refresh) == 1966 and round(retrain) == 60457
    assert retrain / refresh == pytest.approx(2.05e12 / 66.6667e9, rel=1e-5)   # ratio of token counts
