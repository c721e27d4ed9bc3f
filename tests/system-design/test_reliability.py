"""Tests for snippets/system-design/reliability.py: Young's interval against a numeric
minimisation and hand numbers; traffic-split share and stickiness; hand-worked canary runs."""
import math

import numpy as np
import pytest

from snippets import load

r = load("system-design/reliability")


def test_young_interval_hand_number():
    # C = 2 min, M = 54 d * 24 h / 419 = 3.093 h = 185.6 min -> sqrt(2 * 2 * 185.6) = 27.25 min
    m_min = 54 * 24 * 60 / 419
    assert r.young_interval(2.0, m_min) == pytest.approx(math.sqrt(4 * m_min))
    assert r.young_interval(2.0, m_min) == pytest.approx(27.25, abs=0.01)
    # 1,000 nodes with a 50,000 h node MTBF -> the job fails every 50 h
    assert r.cluster_mtbf(50_000, 1000) == pytest.approx(50.0)


def test_young_interval_minimises_waste_numerically():
    c, m = 0.05, 4.0                                   # hours
    grid = np.linspace(0.01, 3.0, 300_001)
    waste = c / grid + grid / (2 * m)                   # the model written out independently
    t_numeric = grid[np.argmin(waste)]
    assert r.young_interval(c, m) == pytest.approx(t_numeric, rel=1e-3)
    # At the optimum the two loss terms are equal, total waste = sqrt(2C/M)
    t = r.young_interval(c, m)
    assert r.wasted_fraction(t, c, m) == pytest.approx(math.sqrt(2 * c / m))
    # a restart costs its time once per failure: T = 1 h, C = 0.1 h, M = 10 h, restart 0.5 h:
    # 0.1 / 1 + (0.5 + 0.5) / 10 = 0.2
    assert r.wasted_fraction(1.0, 0.1, 10.0, restart=0.5) == pytest.approx(0.2)


def test_traffic_split_share_and_stickiness():
    users = [f"u{i}" for i in range(40_000)]
    for pct in (1, 5, 25, 50):
        share = sum(r.routes_to_canary(u, pct) for u in users) / len(users)
        # binomial std at 40k users is < 0.25 percentage points; allow 4 std
        assert abs(share - pct / 100) < 4 * math.sqrt(0.25 / len(users)) + 1e-9
    at5 = {u for u in users if r.routes_to_canary(u, 5)}
    at25 = {u for u in users if r.routes_to_canary(u, 25)}
    assert at5 <= at25                                  # raising the split never moves users back
    assert all(r.routes_to_canary(u, 100) for u in users[:100])
    assert not any(r.routes_to_canary(u, 0) for u in users[:100])


def test_canary_healthy_run_is_promoted():
    ctl = r.CanaryController(steps=(5, 50, 100), min_requests=100, max_abs_increase=0.01)
    # baseline 0.5% errors; canary 0.6%, 1.0%, 1.4% -> all within +1 point
    assert ctl.observe(1000, 6, 19000, 95) == "advance" and ctl.canary_percent == 50
    assert ctl.observe(10000, 100, 10000, 50) == "advance" and ctl.canary_percent == 100
    assert ctl.observe(20000, 280, 20000, 100) == "promote"
    assert ctl.state == "promoted"
    assert ctl.observe(10, 10, 10, 0) == "promoted"     # terminal state


def test_canary_rolls_back_on_error_spike():
    ctl = r.CanaryController(steps=(1, 5, 25), min_requests=500, max_abs_increase=0.01)
    assert ctl.observe(600, 3, 60000, 300) == "advance"         # 0.5% vs 0.5%
    # canary 2.0% vs baseline 0.5%: 2.0 > 0.5 + 1.0 -> roll back, traffic goes to 0
    assert ctl.observe(3000, 60, 57000, 285) == "rollback"
    assert ctl.canary_percent == 0.0 and ctl.state == "rolled_back"
    assert ctl.history == ["advance", "rollback"]


def test_canary_boundary_and_insufficient_data():
    ctl = r.CanaryController(steps=(10, 100), min_requests=1000, max_abs_increase=0.01)
    assert ctl.observe(999, 999, 1000, 0) == "hold"            # too few samples: no decision
    assert ctl.canary_percent == 10
    # exactly baseline + 1 point (1.5% vs 0.5%) is allowed; strictly more is not
    assert ctl.observe(2000, 30, 2000, 10) == "advance"
    ctl2 = r.CanaryController(steps=(10, 100), min_requests=1000, max_abs_increase=0.01)
    assert ctl2.observe(2000, 31, 2000, 10) == "rollback"
    # exactly min_requests is enough evidence ("fewer than" holds); a window with no baseline
    # traffic counts the baseline rate as 0, so 0.5 % canary errors are within +1 point
    ctl3 = r.CanaryController(steps=(10, 100), min_requests=1000, max_abs_increase=0.01)
    assert ctl3.observe(1000, 5, 0, 0) == "advance" and ctl3.canary_percent == 100
    # a baseline of one request that failed is a 100 % rate, not 50 %: a 60 % canary is within it
    ctl4 = r.CanaryController(steps=(10, 100), min_requests=10, max_abs_increase=0.01)
    assert ctl4.observe(10, 6, 1, 1) == "advance"


def test_canary_sample_size_gives_the_promised_power():
    """Independent check with scipy: at the returned n the one-sided z-test has >= 80% power,
    and at 90% of n it has less."""
    from scipy.stats import norm

    def power(n, p0, p1, alpha=0.05):
        p_bar = (p0 + p1) / 2
        se0 = math.sqrt(2 * p_bar * (1 - p_bar) / n)          # SE under H0 (pooled)
        se1 = math.sqrt((p0 * (1 - p0) + p1 * (1 - p1)) / n)  # SE under H1
        return norm.sf((norm.isf(alpha) * se0 - (p1 - p0)) / se1)

    for p0, p1 in ((0.005, 0.010), (0.02, 0.03), (0.10, 0.12)):
        n = r.canary_requests_needed(p0, p1)
        assert power(n, p0, p1) >= 0.8 > power(int(0.9 * n), p0, p1)
    # hand number: 0.5% -> 1.0%: ((1.6449*0.12201 + 0.8416*0.12196) / 0.005)^2 = 60.67^2 = 3,680.4
    assert r.canary_requests_needed(0.005, 0.010) == pytest.approx(3681, abs=2)


def test_golden_set_ci_hand_numbers():
    # sqrt(0.8 * 0.2 / 500) = 0.017889; x 1.96 = 0.03506
    assert r.accuracy_ci_halfwidth(0.8, 500) == pytest.approx(0.03506, abs=1e-5)
    assert r.accuracy_ci_halfwidth(0.8, 2000) == pytest.approx(0.03506 / 2, abs=1e-5)


def test_paired_items_needed_hand_number_and_simulated_power():
    from scipy.stats import binom
    # (1.6449 * sqrt(0.1) + 0.8416 * sqrt(0.0996))^2 / 0.02^2 = 1543.4 -> 1544
    n = r.paired_items_needed(0.10, 0.02)
    assert n == 1544
    # pairing beats two independent samples of the same size by a wide margin
    assert r.canary_requests_needed(0.20, 0.22) > 3 * n
    # Monte Carlo: exact one-sided McNemar (binomial on discordant pairs) at n items
    rng = np.random.default_rng(0)
    lost, gained = (0.10 + 0.02) / 2, (0.10 - 0.02) / 2

    def power(n_items: int, sims: int = 4000) -> float:
        cells = rng.multinomial(n_items, [lost, gained, 1 - lost - gained], size=sims)
        b, c = cells[:, 0], cells[:, 1]
        p_value = binom.sf(b - 1, b + c, 0.5)          # P(B >= b | b + c discordant)
        return float(np.mean(p_value < 0.05))
    assert 0.74 < power(n) < 0.86
    assert power(n // 3) < 0.5


def test_release_gate_matches_paired_t_interval_and_decides():
    from scipy.stats import t, ttest_rel
    prod = [1] * 800 + [0] * 200
    cand = [1] * 760 + [0] * 40 + [1] * 30 + [0] * 170          # 40 lost, 30 gained
    decision, mean, lo, hi = r.release_gate(prod, cand)
    ci = ttest_rel(cand, prod).confidence_interval(0.95)
    assert mean == pytest.approx(-0.01)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-4)   # z = 1.96 vs t quantile
    _, _, lo_t, hi_t = r.release_gate(prod, cand, z=t.ppf(0.975, len(prod) - 1))
    assert (lo_t, hi_t) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert decision == "inconclusive"
    # same pattern on 3x the items: CI shrinks by sqrt(3) and clears the -2 pt margin
    decision3, _, lo3, hi3 = r.release_gate(prod * 3, cand * 3)
    assert (lo3, hi3) == pytest.approx((-0.0195, -0.0005), abs=5e-5)  # [-1.95, -0.05] pt
    assert hi3 < 0 and lo3 >= -0.02 and decision3 == "pass"          # both rules match: pass wins
    # 80 lost, 10 gained: mean -7 pt, clearly a regression
    bad = [1] * 720 + [0] * 80 + [1] * 10 + [0] * 190
    assert r.release_gate(prod, bad)[0] == "regression"


def test_release_gate_boundaries_by_hand():
    # 4 items, one lost: d = [-1, 0, 0, 0], mean -1/4, sample var (0.75^2 + 3 * 0.25^2) / 3 = 1/4,
    # sqrt(var / n) = 1/4; with z = 1 the interval is [-1/2, 0] exactly (all binary fractions)
    prod, cand = [1, 1, 1, 1], [0, 1, 1, 1]
    assert r.release_gate(prod, cand, z=1.0) == ("inconclusive", -0.25, -0.5, 0.0)   # upper 0 is not < 0
    assert r.release_gate(prod, cand, margin=0.5, z=1.0)[0] == "pass"                 # lower = -margin passes
    assert r.release_gate(prod, cand, margin=0.49, z=1.0)[0] == "inconclusive"
    assert r.release_gate([1, 1, 1, 1, 1], [0, 1, 0, 1, 1], z=1.0)[0] == "regression"  # upper < 0
    # the items are paired: lists of different lengths are an error, not silently truncated
    with pytest.raises(ValueError):
        r.release_gate([1, 0, 1, 1], [1, 0, 1])


def test_false_block_rate_across_strata_is_one_sided():
    from statistics import NormalDist
    # a harmless candidate (true difference 0) has upper bound < 0 with probability
    # P(Z > 1.96) = 2.5 % per stratum; ten independent strata: 1 - 0.975^10 = 0.224, not 40 %
    per_stratum = 1 - NormalDist().cdf(1.96)
    assert per_stratum == pytest.approx(0.025, abs=1e-4)
    assert 1 - (1 - per_stratum) ** 10 == pytest.approx(0.2237, abs=1e-3)
    assert 1 - 0.95 ** 10 == pytest.approx(0.401, abs=1e-3)            # the two-sided 5 % figure


def test_lora_delta_params_match_peft_on_a_tiny_gqa_llama():
    torch = pytest.importorskip("torch")
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=48, intermediate_size=80, num_hidden_layers=3,
                      num_attention_heads=6, num_key_value_heads=2)        # head_dim 8, kv_dim 16
    targets = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj",
               "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
    for chosen in (("q", "v"), tuple(targets)):
        model = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(r=4, target_modules=[targets[t] for t in chosen]))
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        assert r.lora_delta_params(3, 48, 80, 16, r=4, targets=chosen) == trainable


def test_version_storage_hand_numbers():
    # Llama-2-70B shapes, r = 16, all seven projections:
    # per layer 16 * (2 * 16384 + 2 * 9216 + 3 * 36864) = 2,588,672; x 80 layers
    n = r.lora_delta_params(80, 8192, 28672, 1024, r=16)
    assert n == 207_093_760
    assert 2 * n / 140e9 < 0.003                      # the adapter is < 0.3 % of a bf16 copy
    assert r.registry_bytes(10, 140e9, 200, 2 * n) == pytest.approx(1.4e12 + 200 * 414_187_520)


def test_bucket_is_sticky_uniform_and_salted():
    import hashlib
    from scipy.stats import chisquare
    # the same hash read another way: first 16 hex digits as an integer
    assert r.bucket("alice") == int(hashlib.sha256(b"rollout-42:alice").hexdigest()[:16], 16) % 10_000
    assert r.bucket("alice") == r.bucket("alice") and 0 <= r.bucket("bob") < 10_000
    ids = [f"user-{i}" for i in range(20_000)]
    counts = [0] * 20
    for u in ids:
        counts[r.bucket(u) // 500] += 1                                        # 20 bins of 500 buckets
    assert chisquare(counts).pvalue > 1e-3
    moved = sum(r.bucket(u) != r.bucket(u, salt="rollout-43") for u in ids[:1000])
    assert moved > 990                                                          # a new salt reshuffles


def test_canary_split_boundary_buckets():
    # users found by hashing ids with hashlib (the oracle above): bucket 0, 499, 500, 4999, 5000.
    # At p % exactly the buckets 0 .. 100 p - 1 go to the canary (p * 100 of 10,000): bucket 100 p does not.
    import hashlib
    users = {0: "user-7367", 499: "user-434", 500: "user-12985", 4999: "user-20815", 5000: "user-1438"}
    for b, u in users.items():
        assert int(hashlib.sha256(f"rollout-42:{u}".encode()).hexdigest()[:16], 16) % 10_000 == b
    assert not r.routes_to_canary(users[0], 0)                  # 0 % sends nobody, not bucket 0
    assert r.routes_to_canary(users[0], 0.01)                   # 0.01 % is exactly bucket 0
    assert r.routes_to_canary(users[499], 5) and not r.routes_to_canary(users[500], 5)
    assert r.routes_to_canary(users[4999], 50) and not r.routes_to_canary(users[5000], 50)
    assert r.routes_to_canary(users[500], 5.01) and r.routes_to_canary(users[5000], 50.01)
