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
    # small magnitudes (|x| << 1): the scales come from the data, not from the 1e-12 guard
    xs, ws = x * 1e-3, w * 1e-3
    ref = _fq_rows(xs.float()).double() @ _fq_cols(ws.float()).double()
    torch.testing.assert_close(lq.int8_vectorwise_matmul(xs, ws), ref, atol=1e-10, rtol=1e-5)


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


def test_llm_int8_threshold_is_strict():
    # a feature whose largest |value| equals the threshold stays in int8; just above it goes to 16-bit
    x = torch.tensor([[6.0, 1.0, 6.01], [-2.0, 0.5, 0.0]], dtype=torch.float64)
    w = torch.randn(3, 4, dtype=torch.float64)
    _, mask = lq.llm_int8_matmul(x, w, threshold=6.0)
    assert mask.tolist() == [False, False, True]
    x[0, 1] = 6.5                                           # the paper's default threshold is 6.0
    assert lq.llm_int8_matmul(x, w)[1].tolist() == [False, True, True]


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
    s = lq.smoothquant_scales(torch.tensor([0.25]), torch.tensor([0.04]))    # default alpha 0.5, maxima < 1
    torch.testing.assert_close(s, torch.tensor([2.5]))                      # 0.5 / 0.2
    d_xs, d_ws = lq.smooth(x, w)
    torch.testing.assert_close(d_xs.abs().amax(0), target)                   # default alpha 0.5
    s = lq.smoothquant_scales(torch.tensor([16.0]), torch.tensor([0.25]), alpha=0.75)
    torch.testing.assert_close(s, torch.tensor([8.0 / 0.25 ** 0.25]))      # 16^0.75 / 0.25^0.25 = 8 * sqrt(2)
    # alpha = 0.75 moves more of the range to the weights: max|X_j / s_j| = max|X_j|^0.25 * max|W_j|^0.25
    xs, ws = lq.smooth(x, w, alpha=0.75)
    torch.testing.assert_close(xs @ ws, x @ w)
    torch.testing.assert_close(xs.abs().amax(0), (x.abs().amax(0) * w.abs().amax(1)) ** 0.25)
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


def _gptq_reference(w, x, bits, damp):
    """GPTQ written the OBQ way (Frantar et al. 2022, eq. 2-3): an explicit inverse Hessian, updated by
    removing each quantised column, instead of the snippet's Cholesky rows. Same math, other code."""
    w = w.clone().double()
    h = 2 * x.double().T @ x.double()
    h = h + damp * h.diagonal().mean() * torch.eye(h.shape[0], dtype=h.dtype)
    h_inv = torch.linalg.inv(h)
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1) / qmax
    q = torch.zeros_like(w)
    for i in range(w.shape[1]):
        q[:, i] = torch.clamp(torch.round(w[:, i] / scale), -qmax, qmax) * scale
        err = (w[:, i] - q[:, i]) / h_inv[i, i]
        w -= err[:, None] * h_inv[i][None, :]                  # columns < i are already 0 in row i
        h_inv = h_inv - h_inv[:, i:i + 1] @ h_inv[i:i + 1, :] / h_inv[i, i]
    return q


def test_gptq_matches_obq_style_reference_with_damping():
    torch.manual_seed(5)
    w = torch.randn(12, 16, dtype=torch.float64)
    x = torch.randn(40, 16, dtype=torch.float64) @ torch.randn(16, 16, dtype=torch.float64)
    x[:, 3] = x[:, 5] * 0.999                                  # nearly collinear columns: damping matters
    for bits, damp in ((4, 0.01), (3, 0.1), (4, 1.0)):
        torch.testing.assert_close(lq.gptq_quantize(w, x, bits, damp), _gptq_reference(w, x, bits, damp),
                                   atol=1e-9, rtol=0)
    # defaults: 4 bits, damp 0.01; small weights (row max << 1) keep their own grid
    torch.testing.assert_close(lq.gptq_quantize(w * 1e-3, x), _gptq_reference(w * 1e-3, x, 4, 0.01),
                               atol=1e-12, rtol=0)
    assert lq.gptq_quantize(w.float(), x.float()).dtype == torch.float32     # returned in x's dtype


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


def test_deploy_cost_by_hand():
    assert lq.bits_per_weight(4, 128, 16, 16) == 4.25          # 4 + 32/128
    assert lq.bits_per_weight(4, 128, 16) == 4.125             # scale only (symmetric)
    assert lq.bits_per_weight(3) == 3.0
    assert lq.bits_per_weight(4, 64) == 4.25                   # default fp16 scale: 4 + 16/64
    assert lq.weight_gb(175e9, 16) == 350.0                      # GPT-3/OPT-175B in FP16
    assert lq.weight_gb(175e9, 8) == 175.0
    assert abs(lq.weight_gb(175e9, 3) - 65.625) < 1e-9           # 3-bit fits one 80 GB GPU
    assert [lq.gpus_needed(g) for g in (350.0, 175.0, 65.625)] == [5, 3, 1]
    assert lq.gpus_needed(80.0) == 1 and lq.gpus_needed(80.1) == 2   # boundary
    # only 90 % of each 80 GB usable (runtime, fragmentation): 72 GB per GPU
    assert lq.gpus_needed(144.0, usable=0.9) == 2 and lq.gpus_needed(150.0, usable=0.9) == 3
    assert lq.gpus_needed(100.0, gpu_gb=141.0) == 1
    # 70B FP16 = 140 GB over 3.35 TB/s = 41.79 ms; INT4 g128 = 37.19 GB -> 11.10 ms
    assert abs(lq.decode_ms_floor(140.0, 3.35) - 140 / 3.35) < 1e-9
    assert abs(lq.decode_ms_floor(lq.weight_gb(70e9, 4.25), 3.35) - 37.1875 / 3.35) < 1e-9


def test_quant_drift_matches_torch_kl_div():
    torch.manual_seed(7)
    ref = torch.randn(50, 32)
    q = ref + 0.3 * torch.randn(50, 32)
    kl, agree = lq.quant_drift(ref, q)
    oracle = torch.nn.functional.kl_div(q.log_softmax(-1), ref.log_softmax(-1), log_target=True,
                                        reduction="batchmean")
    assert abs(kl - float(oracle)) < 1e-6
    assert agree == float((ref.argmax(-1) == q.argmax(-1)).float().mean())
    assert lq.quant_drift(ref, ref) == (0.0, 1.0)                # identical model: no drift
    assert lq.quant_drift(ref, ref + 5.0)[0] < 1e-6              # softmax is shift-invariant
