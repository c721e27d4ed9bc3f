"""Tests for snippets/compression/llm_quantization.py: torch fake quantisation as the int8 oracle,
exact full precision on outlier columns, SmoothQuant's closed forms, GPTQ vs round-to-nearest."""
import torch

from snippets import load

lq = load("compression/llm_quantization")


def _fq_rows(x):        # per-row symmetric int8 via torch's own fake-quant op
    s = x.abs().amax(1) / 127
    return torch.fake_quantize_per_channel_affine(x, s, torch.zeros_like(s, dtype=torch.int32), 0, -127, 127)


def _fq_cols(w):
    s = w.abs().amax(0) / 127
    return torch.fake_quantize_per_channel_affine(w, s, torch.zeros_like(s, dtype=torch.int32), 1, -127, 127)


def test_vectorwise_int8_matches_torch_fake_quant():
    torch.manual_seed(0)
    x, w = torch.randn(16, 64, dtype=torch.float64), torch.randn(64, 32, dtype=torch.float64)
    ref = _fq_rows(x.float()).double() @ _fq_cols(w.float()).double()
    torch.testing.assert_close(lq.int8_vectorwise_matmul(x, w), ref, atol=1e-5, rtol=1e-5)


def test_llm_int8_outlier_columns_are_full_precision():
    x = lq.synthetic_llm_activations(tokens=32, d=128, n_outliers=3, seed=1).double()
    torch.manual_seed(1)
    w = torch.randn(128, 64, dtype=torch.float64) * 0.05
    y, mask = lq.llm_int8_matmul(x, w, threshold=6.0)
    planted = x.abs().amax(0) > 20
    assert torch.equal(mask, planted) and int(mask.sum()) == 3
    # oracle: exact product on outlier dims + torch-fake-quantised int8 product on the others
    ref = x[:, mask] @ w[mask] + _fq_rows(x[:, ~mask].float()).double() @ _fq_cols(w[~mask].float()).double()
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    # input living only in the outlier dims -> result identical to the full-precision matmul
    x_only = torch.zeros_like(x)
    x_only[:, mask] = x[:, mask]
    y_only, _ = lq.llm_int8_matmul(x_only, w, threshold=6.0)
    torch.testing.assert_close(y_only, x_only @ w, atol=1e-12, rtol=0)
    # and it is far more accurate than plain vector-wise int8 on outlier-heavy input
    err = lambda a: (a - x @ w).norm() / (x @ w).norm()                    # noqa: E731
    assert err(y) < err(lq.int8_vectorwise_matmul(x, w)) / 5


def test_smoothquant_is_exact_and_balances_ranges():
    x = lq.synthetic_llm_activations(tokens=64, d=96, seed=2).double()
    torch.manual_seed(2)
    w = torch.randn(96, 48, dtype=torch.float64) * 0.05
    xs, ws = lq.smooth(x, w, alpha=0.5)
    torch.testing.assert_close(xs @ ws, x @ w)                              # X W unchanged
    # alpha = 0.5: both sides end up with max sqrt(max|X_j| * max|W_j|) in channel j
    target = (x.abs().amax(0) * w.abs().amax(1)).sqrt()
    torch.testing.assert_close(xs.abs().amax(0), target)
    torch.testing.assert_close(ws.abs().amax(1), target)
    # hand check of the scale formula
    s = lq.smoothquant_scales(torch.tensor([16.0]), torch.tensor([0.25]), alpha=0.5)
    torch.testing.assert_close(s, torch.tensor([8.0]))                      # 16^0.5 / 0.25^0.5
    err = lambda a: ((a - x @ w).norm() / (x @ w).norm()).item()            # noqa: E731
    assert err(lq.int8_per_tensor_matmul(xs, ws)) < err(lq.int8_per_tensor_matmul(x, w)) / 2


def test_gptq_equals_rtn_when_inputs_are_uncorrelated():
    # X^T X = n I  ->  the inverse Hessian is diagonal, no error is propagated: GPTQ == RTN.
    torch.manual_seed(3)
    n, d = 256, 32
    qmat, _ = torch.linalg.qr(torch.randn(n, d, dtype=torch.float64))
    x = qmat * n ** 0.5
    w = torch.randn(16, d, dtype=torch.float64)
    torch.testing.assert_close(lq.gptq_quantize(w, x), lq.rtn_quantize(w), atol=1e-9, rtol=0)


def test_gptq_on_grid_and_better_than_rtn_on_correlated_inputs():
    for seed in range(3):
        torch.manual_seed(seed)
        w = torch.randn(32, 64, dtype=torch.float64)
        x = torch.randn(512, 64, dtype=torch.float64) @ torch.randn(64, 64, dtype=torch.float64) * 0.3
        q = lq.gptq_quantize(w, x, bits=4)
        scale = w.abs().amax(1, keepdim=True) / 7
        k = q / scale
        torch.testing.assert_close(k, k.round(), atol=1e-9, rtol=0)          # every value on the int4 grid
        assert k.abs().max() <= 7 + 1e-9
        err = lambda qq: (x @ w.T - x @ qq.T).pow(2).mean()                 # noqa: E731
        assert err(q) < 0.8 * err(lq.rtn_quantize(w, bits=4))
