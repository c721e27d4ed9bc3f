"""Tests for snippets/safety/interpretability.py: IG closed forms and completeness axiom; probe on planted data."""
import torch

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
