"""Chinchilla closed-form optimum vs numerical minimisation; 20-tokens rule by hand; emergence toy."""
import math

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from snippets import load

sc = load("basics/scaling")


@pytest.mark.parametrize("flops", [1e20, 5.76e23, 1e26])
def test_closed_form_optimum_matches_numerical_minimum(flops):
    # Minimise L(N, C / (6N)) over log N numerically.
    res = minimize_scalar(lambda logn: sc.chinchilla_loss(math.exp(logn), flops / 6 / math.exp(logn)),
                          bounds=(math.log(1e6), math.log(1e14)), method="bounded",
                          options={"xatol": 1e-10})
    n_opt, d_opt = sc.chinchilla_optimal(flops)
    assert math.log(n_opt) == pytest.approx(res.x, abs=1e-4)
    assert 6 * n_opt * d_opt == pytest.approx(flops)


def test_exponents_sum_to_one():
    # N_opt ∝ C^a, D_opt ∝ C^b with a + b = 1 (since C = 6 N D).
    (n1, d1), (n2, d2) = sc.chinchilla_optimal(1e22), sc.chinchilla_optimal(1e24)
    a = math.log(n2 / n1) / math.log(100)
    b = math.log(d2 / d1) / math.log(100)
    assert a + b == pytest.approx(1.0)
    assert a == pytest.approx(0.28 / (0.34 + 0.28))


def test_twenty_tokens_rule_gopher_budget_by_hand():
    # Gopher's budget 5.76e23 FLOPs: N = sqrt(5.76e23 / 120) ≈ 69.3B, D ≈ 1.39T (Chinchilla: 70B, 1.4T).
    n, d = sc.twenty_tokens_rule(5.76e23)
    assert n == pytest.approx(69.28e9, rel=1e-3)
    assert d == pytest.approx(1.3856e12, rel=1e-3)


def test_emergence_toy_is_smooth_per_token_but_sharp_exact_match():
    p = np.linspace(0.5, 1.0, 51)
    em = np.array([sc.exact_match_from_token_accuracy(x, 20) for x in p])
    assert np.allclose(em, p ** 20)
    # Exact match stays < 5% over the first 70% of the p range, then rises to 1.
    assert em[p <= 0.85].max() < 0.05 and em[-1] == 1.0


def test_chinchilla_loss_by_hand():
    # Chinchilla (70B params, 1.4T tokens): 1.69 + 406.4 / (7e10)^0.34 + 410.7 / (1.4e12)^0.28
    # = 1.69 + 0.08349 + 0.16316 = 1.9366 nats/token
    assert sc.chinchilla_loss(70e9, 1.4e12) == pytest.approx(1.9366, abs=1e-4)
    # infinite model and data -> the irreducible term E
    assert sc.chinchilla_loss(1e30, 1e30) == pytest.approx(1.69, abs=1e-3)


# Besiroglu et al. (2024), "Chinchilla Scaling: A replication attempt": a different fit of the same law.
REPLICATION = {"E": 1.8172, "A": 482.01, "B": 2085.43, "alpha": 0.3478, "beta": 0.3658}


def test_loss_and_optimum_use_the_coefficients_passed():
    c = REPLICATION
    # 1.8172 + 482.01 / (7e10)^0.3478 + 2085.43 / (1.4e12)^0.3658, written out here rather than via the snippet
    by_hand = 1.8172 + 482.01 / 7e10 ** 0.3478 + 2085.43 / 1.4e12 ** 0.3658
    assert sc.chinchilla_loss(70e9, 1.4e12, c) == pytest.approx(by_hand, rel=1e-12)
    assert sc.chinchilla_loss(70e9, 1.4e12, c) != pytest.approx(sc.chinchilla_loss(70e9, 1.4e12), abs=1e-3)
    flops = 1e24
    # the test's own loss (not the snippet's), minimised numerically along C = 6 N D
    loss = lambda logn: c["E"] + c["A"] / math.exp(logn) ** c["alpha"] + c["B"] / (flops / 6 / math.exp(logn)) ** c["beta"]
    res = minimize_scalar(loss, bounds=(math.log(1e6), math.log(1e14)), method="bounded", options={"xatol": 1e-10})
    n_opt, d_opt = sc.chinchilla_optimal(flops, c)
    assert math.log(n_opt) == pytest.approx(res.x, abs=1e-4)
    assert 6 * n_opt * d_opt == pytest.approx(flops)
    # with beta > alpha here, N_opt grows faster than D_opt: exponent beta / (alpha + beta) > 1/2
    n2, _ = sc.chinchilla_optimal(flops * 100, c)
    assert math.log(n2 / n_opt) / math.log(100) == pytest.approx(0.3658 / (0.3478 + 0.3658))
    # the page's point: the refit puts Gopher's budget near Chinchilla's 70B / 1.4T, about 20 tokens per parameter
    n_g, d_g = sc.chinchilla_optimal(5.76e23, c)
    assert 60e9 < n_g < 80e9 and 15 < d_g / n_g < 25
