"""Tests for snippets/safety/interpretability.py: IG closed forms and completeness axiom; probe on planted data;
SAE cost by hand, SAE metrics against sklearn r2_score and planted dictionaries, the L1 encoder
against sklearn's Lasso and scipy.optimize on the same objective, fairness gate sample sizes
against scipy (normal, studentized range) and a simulation of the gate, Simpson reversal on hand-built counts."""
import numpy as np
import pytest
import torch
from scipy.optimize import minimize
from scipy.stats import norm, studentized_range
from sklearn.linear_model import Lasso
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
    assert it.sae_quality(x, f, f @ dec.T)["fve"] < 0.99


def _lasso_code(dec, h, penalty):
    """Independent solver: argmin_{f >= 0} 0.5 * ||h - dec f||^2 + penalty * ||f||_1 by scikit-learn's
    coordinate descent. sklearn minimizes ||y - X w||^2 / (2 n) + alpha ||w||_1 with n = len(y),
    so alpha = penalty / n."""
    d = len(h)
    m = Lasso(alpha=penalty / d, fit_intercept=False, positive=True, tol=1e-12, max_iter=100_000)
    return m.fit(dec, h).coef_


def test_l1_encoder_matches_independent_lasso_solver():
    dec, codes, x = _planted(seed=1)
    dec, codes, x = dec.numpy(), codes.numpy(), x.numpy()
    lam = 0.3
    for i in range(5):
        f = it.encode_l1_relu(torch.tensor(x[i] @ dec), lam).numpy()
        # loss 0.5 ||h - h_hat||^2 + lam ||f||_1 (the page's loss): the solver agrees with the snippet
        np.testing.assert_allclose(f, _lasso_code(dec, x[i], lam), atol=1e-8)
        active = codes[i] > 0
        np.testing.assert_allclose(f[active], codes[i][active] - lam, atol=1e-8)
        # the loss without the 0.5: ||r||^2 + lam ||f||_1 = 2 (0.5 ||r||^2 + (lam / 2) ||f||_1) -> shrinkage lam / 2
        f_no_half = _lasso_code(dec, x[i], lam / 2)
        np.testing.assert_allclose(f_no_half[active], codes[i][active] - lam / 2, atol=1e-8)
    # the reviewer's scalar check: z = 1.5, lam = 0.3 -> 1.35 without the 0.5, 1.2 with it
    obj = lambda v, half: (0.5 if half else 1.0) * (1.5 - v[0]) ** 2 + 0.3 * abs(v[0])
    assert minimize(obj, [1.0], args=(False,), bounds=[(0, None)]).x[0] == pytest.approx(1.35, abs=1e-5)
    assert minimize(obj, [1.0], args=(True,), bounds=[(0, None)]).x[0] == pytest.approx(1.2, abs=1e-5)
    assert it.encode_l1_relu(torch.tensor([1.5]), 0.3).item() == pytest.approx(1.2)


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
    assert it.review_fte(20_000, 0.05, 6) == pytest.approx(100 * 7 / (6.5 * 5))   # 21.5 FTE
    assert it.review_fte(20_000, 0.05, 6, productive_hours=8, operating_days_per_week=5) == pytest.approx(12.5)


def _simulate_gate(n, groups, p=0.85, margin=0.05, alpha=0.05, runs=4000, seed=3):
    """Share of simulated evaluations (all groups truly at accuracy p) that pass it.gap_gate."""
    rng = np.random.default_rng(seed)
    acc = rng.binomial(n, p, (runs, groups)) / n
    names = [f"g{i}" for i in range(groups)]
    return np.mean([it.gap_gate(dict(zip(names, row)), dict.fromkeys(names, n), margin, alpha)[0] for row in acc])


def test_gap_gate_sample_sizes_against_scipy_and_simulation():
    z = norm.ppf(1 - 0.05 / 28)                                      # 8 groups -> 28 pairs, 2.914
    n_pair = it.n_per_pair(0.85, 0.05, 28)
    assert n_pair == int(np.ceil((z + norm.ppf(0.9)) ** 2 * 2 * 0.85 * 0.15 / 0.05 ** 2)) == 1796
    # the range of 8 normals against scipy's studentized range with infinite degrees of freedom
    q80 = studentized_range.ppf(0.8, 8, np.inf)
    assert it.range_quantile(8, 0.8) == pytest.approx(q80, abs=0.01)
    n_gate = it.n_for_gate(0.85, 0.05, 8)
    hand = 0.85 * 0.15 / (0.05 / (q80 + z * np.sqrt(2))) ** 2          # 2,977 with scipy's quantile
    assert n_gate == pytest.approx(hand, rel=0.005)
    # simulation: one pair at n_pair passes 80% of the time; the whole 8-group gate needs n_gate
    assert _simulate_gate(n_pair, 2, alpha=0.05 / 28) == pytest.approx(0.80, abs=0.02)  # one of 28 pairs
    assert _simulate_gate(n_gate, 8) == pytest.approx(0.80, abs=0.02)
    assert _simulate_gate(n_pair, 8) < 0.2                            # per-pair sizing fails the gate


def test_gap_gate_rejects_small_noisy_groups():
    # a 1-point gap passes with 3,000 per group; the same gap on 60 items fails (wide bound), where
    # a "no significant gap" rule would have passed it
    ok, worst = it.gap_gate({"a": 0.85, "b": 0.84}, {"a": 3000, "b": 3000}, 0.05, alpha=0.05)
    assert ok and worst == pytest.approx(0.01 + norm.ppf(0.95) * np.sqrt((0.85 * 0.15 + 0.84 * 0.16) / 3000))
    ok, worst = it.gap_gate({"a": 0.85, "b": 0.84}, {"a": 3000, "b": 60}, 0.05)
    # each group's variance over its own size (the small group's 0.84 x 0.16 / 60 dominates)
    assert not ok and worst == pytest.approx(0.01 + norm.ppf(0.95) * np.sqrt(0.85 * 0.15 / 3000 + 0.84 * 0.16 / 60))
    # a true 6-point gap fails even with large samples
    assert not it.gap_gate({"a": 0.85, "b": 0.79}, {"a": 10_000, "b": 10_000}, 0.05)[0]


def test_simpson_reversal_detected():
    # group A is approved more often in each department but less often overall, because A mostly
    # applies to the department with the low approval rate
    counts = {"dept1": {"A": (18, 20), "B": (160, 200)},             # 90% vs 80%
              "dept2": {"A": (60, 200), "B": (4, 20)}}               # 30% vs 20%
    g = it.pooled_and_strata_gaps(counts)
    assert g["dept1"] == pytest.approx(0.10) and g["dept2"] == pytest.approx(0.10)
    assert g["pooled"] == pytest.approx(78 / 220 - 164 / 220)        # 35.5% vs 74.5%
    assert g["pooled"] < 0 < min(g["dept1"], g["dept2"])


def test_probe_matches_sklearn_l2_logistic_regression():
    # mean BCE + l2 * ||w||^2 (bias not penalised) = sklearn's C * sum(logloss) + ||w||^2 / 2
    # divided by C * N, with C = 1 / (2 * l2 * N)
    from sklearn.linear_model import LogisticRegression
    torch.manual_seed(2)
    h = torch.randn(300, 5, dtype=torch.float64)
    y = (h[:, 0] * 2 - h[:, 1] + 0.8 * torch.randn(300, dtype=torch.float64) > 0.3).long()  # noisy
    l2 = 0.01
    probe = it.train_linear_probe(h.float(), y, steps=500, l2=l2)
    ref = LogisticRegression(C=1 / (2 * l2 * 300), tol=1e-10, max_iter=10_000).fit(h.numpy(), y.numpy())
    torch.testing.assert_close(probe.weight.detach().double().flatten(), torch.from_numpy(ref.coef_[0]),
                               atol=2e-3, rtol=2e-3)
    torch.testing.assert_close(probe.bias.detach().double(), torch.from_numpy(ref.intercept_), atol=2e-3, rtol=2e-3)


def test_ig_cubic_with_nonzero_baseline_by_hand():
    # f = sum z^3, baseline b: IG_i = (x_i - b_i) * mean over the path of 3 z_i^2 = x_i^3 - b_i^3 in the
    # limit; the trapezoid rule with n steps overshoots by (x - b)^3 / (2 n^2) per coordinate
    f = lambda z: (z ** 3).sum(-1)
    x = torch.tensor([2.0, -1.0], dtype=torch.float64)
    b = torch.tensor([1.0, 1.0], dtype=torch.float64)
    n = 10
    expected = x ** 3 - b ** 3 + (x - b) ** 3 / (2 * n ** 2)
    torch.testing.assert_close(it.integrated_gradients(f, x, b, steps=n), expected)


def test_ig_default_steps_trapezoid_error_by_hand():
    # the same closed form with the default 64 trapezoid intervals: overshoot (x - b)^3 / (2 * 64^2)
    f = lambda z: (z ** 3).sum(-1)
    x = torch.tensor([2.0, -1.0], dtype=torch.float64)
    b = torch.tensor([1.0, 1.0], dtype=torch.float64)
    expected = x ** 3 - b ** 3 + (x - b) ** 3 / (2 * 64 ** 2)
    torch.testing.assert_close(it.integrated_gradients(f, x, b), expected, rtol=1e-12, atol=1e-12)


def test_probe_steps_budget_and_line_search():
    # steps is the L-BFGS iteration budget: 1 iteration is far from the optimum of the same objective
    # (sklearn, as above); with a strong-Wolfe line search 25 iterations already reach it
    from sklearn.linear_model import LogisticRegression
    torch.manual_seed(2)
    h = torch.randn(300, 5, dtype=torch.float64)
    y = (h[:, 0] * 2 - h[:, 1] + 0.8 * torch.randn(300, dtype=torch.float64) > 0.3).long()
    l2 = 0.01
    ref = LogisticRegression(C=1 / (2 * l2 * 300), tol=1e-10, max_iter=10_000).fit(h.numpy(), y.numpy())
    w_ref = torch.from_numpy(ref.coef_[0])
    one = it.train_linear_probe(h.float(), y, steps=1, l2=l2)
    assert (one.weight.detach().double().flatten() - w_ref).abs().max() > 0.1
    few = it.train_linear_probe(h.float(), y, steps=25, l2=l2)
    torch.testing.assert_close(few.weight.detach().double().flatten(), w_ref, atol=2e-3, rtol=2e-3)
    # an outlier dimension 10x larger than the rest (LLM residual streams have such massive activations):
    # the line search keeps L-BFGS stable, 25 iterations reach sklearn's optimum from any initialisation
    # (unit steps without it diverge from some)
    hs = h * torch.tensor([1.0, 1, 10, 1, 1], dtype=torch.float64)
    ref_s = LogisticRegression(C=1 / (2 * l2 * 300), tol=1e-10, max_iter=10_000).fit(hs.numpy(), y.numpy())
    for init_seed in range(3):
        torch.manual_seed(init_seed)
        wide = it.train_linear_probe(hs.float(), y, steps=25, l2=l2)
        torch.testing.assert_close(wide.weight.detach().double().flatten(), torch.from_numpy(ref_s.coef_[0]),
                                   atol=2e-3, rtol=2e-3)


def test_sae_budget_train_state_and_h100_default_exact():
    b = it.sae_budget(4096, 32, 8e9, 8e9)
    # (2 * 4096 * 131072 + 131072 + 4096) params x 16 bytes = 17,182,031,872 bytes: "about 17 GB"
    assert b["train_state_gb"] == pytest.approx(17.182031872, rel=1e-13)
    assert b["activation_tb"] == pytest.approx(65.536, rel=1e-13)   # 8e9 x 4096 x 2 bytes
    # the defaults are the page's assumption: 40 % of an H100's dense bf16 peak, 989 TFLOP/s
    assert b == it.sae_budget(4096, 32, 8e9, 8e9, peak_flops=989e12, utilization=0.4)


def test_topk_per_token_on_3d_batch_and_fewer_positive_than_k():
    g = torch.Generator().manual_seed(5)
    pre = torch.randn(2, 3, 7, generator=g, dtype=torch.float64)    # (batch, tokens, m)
    out = it.encode_topk(pre, 2)
    for bi in range(2):
        for t in range(3):
            row = pre[bi, t].tolist()
            keep = sorted(range(7), key=lambda j: -row[j])[:2]
            want = [max(row[j], 0.0) if j in keep else 0.0 for j in range(7)]
            assert out[bi, t].tolist() == want
    # a token with one positive pre-activation keeps 1 value, never a negative one
    torch.testing.assert_close(it.encode_topk(torch.tensor([[-1.0, 2.0, -0.5, -3.0]]), 2),
                               torch.tensor([[0.0, 2.0, 0.0, 0.0]]))


def test_jumprelu_threshold_is_strict_and_per_latent():
    theta = torch.tensor([0.5, 1.0, -1.0])
    pre = torch.tensor([[0.5, 1.5, -0.5], [0.6, 1.0, -1.0]])
    # z > theta_i passes z unchanged; z == theta_i is zeroed (the page: "pass z if z > theta_i")
    torch.testing.assert_close(it.encode_jumprelu(pre, theta), torch.tensor([[0.0, 1.5, -0.5], [0.6, 0.0, 0.0]]))


def test_sae_quality_per_feature_mean_and_signed_latents():
    # features with large different means: FVE is against each feature's own mean (sklearn's R^2)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 3)) + np.array([10.0, -5.0, 0.0])
    x_hat = x + 0.5 * rng.normal(size=(100, 3))
    f = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 2.0]])
    q = it.sae_quality(torch.tensor(x), f.repeat(50, 1), torch.tensor(x_hat))
    assert q["fve"] == pytest.approx(r2_score(x, x_hat, multioutput="variance_weighted"))
    # latent 0 fires +1 and -1 (sum 0) and is not dead; latent 1 never fires
    assert q["dead"] == pytest.approx(1 / 3) and q["l0"] == pytest.approx(1.5)


def test_n_per_pair_and_range_quantile_fast():
    z = norm.ppf(1 - 0.05 / 28) + norm.ppf(0.9)
    assert it.n_per_pair(0.85, 0.05, 28) == int(np.ceil(z ** 2 * 2 * 0.85 * 0.15 / 0.05 ** 2))
    assert it.n_per_pair(0.5, 0.1, 1) == int(np.ceil((norm.ppf(0.95) + norm.ppf(0.9)) ** 2 * 0.5 / 0.01))
    # seeded: the same seed gives the same estimate, another seed another draw
    a = it.range_quantile(3, 0.5, draws=20_000, seed=4)
    assert a == it.range_quantile(3, 0.5, draws=20_000, seed=4) != it.range_quantile(3, 0.5, draws=20_000, seed=5)
    assert a == pytest.approx(studentized_range.ppf(0.5, 3, np.inf), abs=0.03)
    # the defaults the page's 3.52 and n = 2,979 come from: 400,000 draws with seed 0, reproducible
    assert it.range_quantile(8, 0.8) == it.range_quantile(8, 0.8, draws=400_000, seed=0)


def test_probe_default_budget_is_200_lbfgs_iterations(monkeypatch):
    # the shown signature promises steps=200: the probe hands that budget to L-BFGS as max_iter
    seen = []
    real = torch.optim.LBFGS
    monkeypatch.setattr(torch.optim, "LBFGS", lambda params, **kw: seen.append(kw) or real(params, **kw))
    it.train_linear_probe(torch.randn(20, 3), (torch.arange(20) % 2))
    assert seen == [{"max_iter": 200, "line_search_fn": "strong_wolfe"}]


def test_gap_gate_bound_equal_to_margin_fails():
    # zero-variance groups: the bound is exactly the gap; "must be below the margin" -> 1.0 does not pass 1.0
    assert it.gap_gate({"a": 1.0, "b": 0.0}, {"a": 50, "b": 50}, 1.0) == (False, 1.0)
    assert it.gap_gate({"a": 1.0, "b": 0.0}, {"a": 50, "b": 50}, 1.01) == (True, 1.0)
