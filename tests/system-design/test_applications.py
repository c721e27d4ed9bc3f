"""Tests for snippets/system-design/applications.py. Oracles: scipy.stats.binom and the Clopper-Pearson
bound (scipy.stats.beta) for the audit size, a Monte Carlo of blocked drafts, hand arithmetic for triage
and GPU counts, and a simulated A/B test for the sample size."""
import numpy as np
import pytest
from scipy.stats import beta, binom, norm

from snippets import load

ap = load("system-design/applications")


def test_draft_block_rate_matches_simulation():
    rng = np.random.default_rng(0)
    misses = rng.random((200_000, 10)) < 0.02
    assert ap.draft_block_rate(0.02, 10) == pytest.approx(misses.any(axis=1).mean(), abs=0.003)
    assert ap.draft_block_rate(0.02, 10) == pytest.approx(0.1829, abs=1e-4)
    assert ap.draft_block_rate(0.0, 50) == 0.0 and ap.draft_block_rate(0.02, 1) == pytest.approx(0.02)


@pytest.mark.parametrize("p,conf", [(0.001, 0.95), (0.01, 0.95), (0.005, 0.99), (0.05, 0.9)])
def test_zero_failure_audit_size_against_binomial_and_clopper_pearson(p, conf):
    n = ap.zero_failure_audit_size(p, conf)
    # P(0 failures | rate p) is at most 1 - conf at n, but not at n - 1
    assert binom.pmf(0, n, p) <= 1 - conf < binom.pmf(0, n - 1, p)
    # one-sided Clopper-Pearson upper bound with 0 failures in n trials is beta.ppf(conf, 1, n)
    assert beta.ppf(conf, 1, n) <= p < beta.ppf(conf, 1, n - 1)
    if conf == 0.95:
        assert n == pytest.approx(3 / p, rel=0.01)               # rule of three


def test_zero_failure_audit_pass_chance_and_fallback():
    # the page: 2,995 clean citations happen only 22% of the time if the true rate is 0.05%
    assert binom.pmf(0, ap.zero_failure_audit_size(0.001), 0.0005) == pytest.approx(0.224, abs=0.001)
    assert ap.zero_failure_audit_size(0.01) == 299                   # the staged 1% ceiling
    assert 2995 * 3 / 60 == pytest.approx(149.75)                    # lawyer-hours at 3 min per pair


def test_triage_by_hand():
    t = ap.triage(60, 10, 2 / 3, 20)
    # 50 false positives, two thirds removed -> 16.67 left; 26.67 findings x 20 min = 8.89 h
    assert t["hours_before"] == pytest.approx(20.0)
    assert t["hours_after"] == pytest.approx(26.6667 * 20 / 60, rel=1e-4)
    assert t["precision_before"] == pytest.approx(1 / 6)
    assert t["precision_after"] == pytest.approx(10 / 26.6667, rel=1e-4)
    # removing every false positive leaves precision 1
    assert ap.triage(30, 5, 1.0, 10)["precision_after"] == pytest.approx(1.0)


def test_gpu_budgets_by_hand():
    # prefill 5000 x 1200 / 10000 = 600, decode 5000 x 60 / 2500 = 120 -> 720 / 0.7 = 1028.6
    assert ap.rerank_gpus(5000, 1200, 60) == pytest.approx(720 / 0.7)
    assert ap.rerank_gpus(50, 1200, 60) == pytest.approx(7.2 / 0.7)
    # 1e7 x 2 x 8e9 x 400 = 6.4e19 FLOPs / (989e12 x 0.3) / 3600 = 59.9 h
    assert ap.offline_gpu_hours(1e7, 8e9, 400) == pytest.approx(59.92, abs=0.01)
    # the defaults are H100 dense BF16 (989 TFLOP/s) at 30 % utilisation: exactly one hour of that
    # throughput (2 x 0.5 params x tokens FLOPs) is one GPU-hour, to the last bit
    assert ap.offline_gpu_hours(1, 0.5, 989e12 * 0.3 * 3600) == 1.0


def test_ab_users_per_arm_by_hand_and_by_simulation():
    # hand: (1.95996 + 0.84162)^2 x (0.03 x 0.97 + 0.0306 x 0.9694) / 0.0006^2
    n = ap.ab_users_per_arm(0.03, 0.02)
    hand = (1.959964 + 0.841621) ** 2 * (0.03 * 0.97 + 0.0306 * 0.9694) / 0.0006 ** 2
    assert n == pytest.approx(hand, rel=1e-5)
    # simulation with a larger effect so it runs fast: empirical power of the z-test at n is ~0.80
    p1, lift = 0.10, 0.20
    m = ap.ab_users_per_arm(p1, lift)
    rng = np.random.default_rng(1)
    a = rng.binomial(m, p1, 20_000) / m
    b = rng.binomial(m, p1 * (1 + lift), 20_000) / m
    z = (b - a) / np.sqrt(a * (1 - a) / m + b * (1 - b) / m)
    assert np.mean(np.abs(z) > norm.ppf(0.975)) == pytest.approx(0.80, abs=0.015)
    # half the lift needs about four times the users
    assert ap.ab_users_per_arm(0.03, 0.01) / n == pytest.approx(4, rel=0.02)
