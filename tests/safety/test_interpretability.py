"""Tests for snippets/safety/interpretability.py: IG closed forms and completeness axiom; probe on planted data;
SAE cost by hand, SAE metrics against sklearn r2_score and planted dictionaries, fairness sample sizes
against scipy and a simulation, Simpson reversal on hand-built counts."""
import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import r2_score

from snippets import load

it = load("safety/interpretability")


def test_ig_linear_model_closed_form():
    # for f(x) = w.x + b, IG_i = w_i (x_i - x'_i) exactly
    w = torch.tensor([2.0, -1.0, 0.5], dtype=torch.float64)
    f = lambda z: z @ w + 3.0
    x = torch.tensor([1.0, 4.0, -2.0], dtype=torch.float64)
    base = torch.tensor([0.5, 0.0, 1.0], dtype=torch.float64)
    torch.testing.assert_close(it.integrated_gradients(f, x, base, steps=4), w * (x - base))


def test_ig_quadratic_closed_form():
    # f(x) = sum x_i^2 with baseline 0: gradient 2 a x_i, integral of 2 a da = 1 -> IG_i = x_i^2
    f = lambda z: (z ** 2).sum(-1)
    x = torch.tensor([1.5, -3.0, 0.2], dtype=torch.float64)
    torch.testing.assert_close(it.integrated_gradients(f, x, steps=8), x ** 2)


def test_ig_completeness_on_random_mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)).double()
    f = lambda z: net(z).squeeze(-1)
    x = torch.randn(6, dtype=torch.float64)
    ig = it.integrated_gradients(f, x, steps=256)
    assert abs(ig.sum().item() - (f(x) - f(torch.zeros(6, dtype=torch.float64))).item()) < 1e-4


def test_probe_finds_planted_linear_concept_but_not_noise():
    torch.manual_seed(1)
    h = torch.randn(600, 12)
    y = (h[:, 3] - h[:, 7] > 0).long()
    probe = it.train_linear_probe(h[:400], y[:400])
    acc = ((probe(h[400:]).squeeze(-1) > 0).long() == y[400:]).float().mean().item()
    assert acc > 0.95
    # random labels: a probe cannot beat chance much on held-out data (control task)
    y_rand = torch.randint(0, 2, (600,))
    probe_r = it.train_linear_probe(h[:400], y_rand[:400])
    acc_r = ((probe_r(h[400:]).squeeze(-1) > 0).long() == y_rand[400:]).float().mean().item()
    assert acc_r < 0.65


# ---- SAE cost and quality ----


def test_sae_budget_by_hand():
    b = it.sae_budget(4096, 32, 8e9, 8e9)
    assert b["latents"] == 131_072
    assert b["params"] == 2 * 4096 * 131_072 + 131_072 + 4096           # 1.074e9
    assert b["activation_tb"] == pytest.approx(8e9 * 4096 * 2 / 1e12)  # 65.5 TB
    # 12 x 4096 x 131072 x 8e9 = 5.15e19 FLOPs / (989e12 x 0.4) / 3600 = 36.2 h
    assert b["train_gpu_h"] == pytest.approx(36.18, abs=0.01)
    assert b["harvest_gpu_h"] == pytest.approx(2 * 8e9 * 8e9 / (989e12 * 0.4) / 3600)
    # doubling the expansion doubles training cost but not harvesting
    b2 = it.sae_budget(4096, 64, 8e9, 8e9)
    assert b2["train_gpu_h"] == pytest.approx(2 * b["train_gpu_h"])
    assert b2["harvest_gpu_h"] == pytest.approx(b["harvest_gpu_h"])


def _planted(seed=0, d=32, m=64, n=500, k=3):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    dec = q[:, :d]                                                   # orthonormal atoms (d, d)
    codes = torch.zeros(n, d, dtype=torch.float64)
    for i in range(n):
        idx = torch.randperm(d, generator=g)[:k]
        codes[i, idx] = 1.0 + torch.rand(k, generator=g, dtype=torch.float64)
    return dec, codes, codes @ dec.T                                 # x = sum of k atoms


def test_topk_and_jumprelu_recover_planted_codes_but_l1_shrinks():
    dec, codes, x = _planted()
    pre = x @ dec                                                    # encoder = decoder^T
    for f in (it.encode_topk(pre, 3), it.encode_jumprelu(pre, torch.full((32,), 0.5, dtype=torch.float64))):
        torch.testing.assert_close(f, codes)
        assert it.sae_quality(x, f, f @ dec.T)["fve"] == pytest.approx(1.0)
    f = it.encode_l1_relu(pre, 0.3)
    torch.testing.assert_close(f[codes > 0], codes[codes > 0] - 0.3)  # every value shrunk by lambda
    assert it.sae_quality(x, f, f @ dec.T)["fve"] < 0.99


def test_sae_quality_against_sklearn_and_by_hand():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8))
    x_hat = x + 0.3 * rng.normal(size=(200, 8))
    f = torch.zeros(200, 5)
    f[:, 0] = 1.0
    f[::2, 1] = 2.0                                                  # latents 2, 3, 4 never fire
    q = it.sae_quality(torch.tensor(x), f, torch.tensor(x_hat))
    assert q["fve"] == pytest.approx(r2_score(x, x_hat, multioutput="variance_weighted"))
    assert q["l0"] == pytest.approx(1.5)
    assert q["dead"] == pytest.approx(0.6)
    assert it.loss_recovered(2.0, 2.1, 4.0) == pytest.approx(0.95)
    assert it.loss_recovered(2.0, 2.0, 4.0) == 1.0 and it.loss_recovered(2.0, 4.0, 4.0) == 0.0


# ---- fairness acceptance ----
def test_four_fifths_and_sample_sizes():
    assert it.selection_rate_ratio({"a": 0.30, "b": 0.22, "c": 0.27}) == pytest.approx(0.22 / 0.30)
    assert it.selection_rate_ratio({"a": 0.30, "b": 0.24}) == pytest.approx(0.8)
    n = it.n_for_halfwidth(0.85, 0.03)
    assert n == int(np.ceil(norm.ppf(0.975) ** 2 * 0.85 * 0.15 / 0.03 ** 2)) == 545
    m = it.n_for_gap(0.85, 0.80)
    hand = (norm.ppf(0.975) + norm.ppf(0.8)) ** 2 * (0.85 * 0.15 + 0.8 * 0.2) / 0.05 ** 2
    assert m == int(np.ceil(hand - 1e-6)) and 900 <= m <= 906
    # simulated power of the two-sided z-test at m per group is about 0.80
    rng = np.random.default_rng(2)
    a, b = rng.binomial(m, 0.85, 20_000) / m, rng.binomial(m, 0.80, 20_000) / m
    z = (a - b) / np.sqrt(a * (1 - a) / m + b * (1 - b) / m)
    assert np.mean(np.abs(z) > norm.ppf(0.975)) == pytest.approx(0.80, abs=0.015)
    assert it.review_fte(20_000, 0.05, 6) == pytest.approx(12.5)


def test_simpson_reversal_detected():
    # group A is approved more often in each department but less often overall, because A mostly
    # applies to the department with the low approval rate
    counts = {"dept1": {"A": (18, 20), "B": (160, 200)},             # 90% vs 80%
              "dept2": {"A": (60, 200), "B": (4, 20)}}               # 30% vs 20%
    g = it.pooled_and_strata_gaps(counts)
    assert g["dept1"] == pytest.approx(0.10) and g["dept2"] == pytest.approx(0.10)
    assert g["pooled"] == pytest.approx(78 / 220 - 164 / 220)        # 35.5% vs 74.5%
    assert g["pooled"] < 0 < min(g["dept1"], g["dept2"])
