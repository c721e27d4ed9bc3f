import math

import pytest
import torch
import torch.nn.functional as F

from snippets import load

act = load("activations/functions")

X = torch.linspace(-8, 8, 4001, dtype=torch.float64)


def test_gelu_exact_matches_torch():
    torch.testing.assert_close(act.gelu_exact(X), F.gelu(X, approximate="none"))


def test_gelu_tanh_matches_torch():
    torch.testing.assert_close(act.gelu_tanh(X), F.gelu(X, approximate="tanh"))


def test_silu_matches_torch():
    torch.testing.assert_close(act.silu(X), F.silu(X))
    torch.testing.assert_close(act.swish(X), F.silu(X))          # swish's default beta = 1 is SiLU


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0, 1.702, 4.0])
def test_swish_beta_matches_closed_form(beta):
    expected = X / (1.0 + torch.exp(-beta * X))  # x * sigmoid(beta x), written by hand
    torch.testing.assert_close(act.swish(X, beta), expected)


def test_swish_limits():
    torch.testing.assert_close(act.swish(X, 0.0), X / 2)  # beta = 0: linear
    torch.testing.assert_close(act.swish(X, 200.0), F.relu(X), atol=5e-3, rtol=0)  # beta -> inf: ReLU


def _autograd(f, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g


def test_derivatives_match_autograd_of_torch_builtins():
    torch.testing.assert_close(act.gelu_exact_grad(X), _autograd(lambda t: F.gelu(t), X))
    torch.testing.assert_close(act.gelu_tanh_grad(X), _autograd(lambda t: F.gelu(t, approximate="tanh"), X))
    torch.testing.assert_close(act.swish_grad(X), _autograd(F.silu, X))
    for beta in (0.5, 2.0):
        torch.testing.assert_close(act.swish_grad(X, beta), _autograd(lambda t: t * torch.sigmoid(beta * t), X))


def test_gradcheck_float64():
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    for f in (act.gelu_exact, act.gelu_tanh, act.silu, lambda t: act.swish(t, 1.5)):
        assert torch.autograd.gradcheck(f, (x,))


def test_tanh_approximation_max_error_stated_in_page():
    # Page states: max |GELU_tanh - GELU_exact| = 4.73e-4 at |x| ~= 2.70, and
    # max |x sigmoid(1.702 x) - GELU_exact| = 2.03e-2 at |x| ~= 2.27. Oracle: PyTorch's own F.gelu.
    x = torch.linspace(-10, 10, 2_000_001, dtype=torch.float64)
    err = (F.gelu(x, approximate="tanh") - F.gelu(x, approximate="none")).abs()
    i = int(err.argmax())
    assert abs(err[i].item() - 4.73e-4) < 5e-7
    assert abs(abs(x[i].item()) - 2.70) < 0.005
    err_sig = (x * torch.sigmoid(1.702 * x) - F.gelu(x)).abs()
    k = int(err_sig.argmax())
    assert abs(err_sig[k].item() - 2.03e-2) < 5e-5
    assert abs(abs(x[k].item()) - 2.27) < 0.005


def test_approximation_errors_are_even_functions():
    # Page states: both approximations satisfy f(x) - f(-x) = x, like exact GELU, so their errors are even.
    x = torch.linspace(0, 8, 8001, dtype=torch.float64)
    for approx in (lambda t: F.gelu(t, approximate="tanh"), lambda t: t * torch.sigmoid(1.702 * t), F.gelu):
        torch.testing.assert_close(approx(x) - approx(-x), x, atol=1e-12, rtol=0)
    e = lambda t: F.gelu(t, approximate="tanh") - F.gelu(t)  # noqa: E731
    torch.testing.assert_close(e(x), e(-x), atol=1e-12, rtol=0)


def test_non_monotonic_dip_stated_in_page():
    # Page states: GELU min ~= -0.170 at x ~= -0.752; SiLU min ~= -0.278 at x ~= -1.278.
    x = torch.linspace(-5, 5, 1_000_001, dtype=torch.float64)
    for f, y_min, x_min in [(F.gelu, -0.1700, -0.7518), (F.silu, -0.2785, -1.2785)]:
        y = f(x)
        j = int(y.argmin())
        assert abs(y[j].item() - y_min) < 1e-4 and abs(x[j].item() - x_min) < 1e-3
    # SiLU's minimum value equals x* + 1 (from sigmoid(x*) = 1 + 1/x* at the stationary point)
    j = int(F.silu(x).argmin())
    assert abs(F.silu(x)[j].item() - (x[j].item() + 1)) < 1e-5
    # derivatives from the snippet vanish at those points
    assert abs(act.gelu_exact_grad(torch.tensor(-0.7518, dtype=torch.float64)).item()) < 1e-3
    assert abs(act.swish_grad(torch.tensor(-1.2785, dtype=torch.float64)).item()) < 1e-3


def test_gelu_slope_exceeds_one_at_sqrt2():
    # Page states: GELU'(x) peaks at x = sqrt(2) with value ~1.129 (Phi(sqrt 2) + sqrt(2) phi(sqrt 2)).
    s = math.sqrt(2.0)
    phi = math.exp(-1.0) / math.sqrt(2 * math.pi)
    Phi = 0.5 * (1 + math.erf(1.0))
    g = _autograd(F.gelu, X)
    assert abs(g.max().item() - (Phi + s * phi)) < 1e-5
    assert abs(X[int(g.argmax())].item() - s) < 0.005  # the peak sits at sqrt(2), where GELU'' = phi(x)(2 - x^2) = 0
    assert abs(Phi + s * phi - 1.129) < 1e-3


def test_silu_slope_peak_stated_in_page():
    # Page states: SiLU'(x) peaks at ~1.100 near x ~= 2.40.
    g = _autograd(F.silu, X)
    i = int(g.argmax())
    assert abs(g[i].item() - 1.0998) < 1e-3 and abs(X[i].item() - 2.40) < 0.01


def test_value_table_in_page():
    pts = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0], dtype=torch.float64)
    table = {
        "gelu": [-0.0040, -0.1587, 0.0, 0.8413, 2.9960],
        "silu": [-0.1423, -0.2689, 0.0, 0.7311, 2.8577],
        "gelu_grad": [-0.0119, -0.0833, 0.5, 1.0833, 1.0119],
        "silu_grad": [-0.0881, 0.0723, 0.5, 0.9277, 1.0881],
    }
    ref = {
        "gelu": F.gelu(pts),
        "silu": F.silu(pts),
        "gelu_grad": _autograd(F.gelu, pts),
        "silu_grad": _autograd(F.silu, pts),
    }
    for k, vals in table.items():
        torch.testing.assert_close(ref[k], torch.tensor(vals, dtype=torch.float64), atol=6e-5, rtol=0)
