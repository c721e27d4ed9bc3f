"""Tests for snippets/transformer/attention.py: F.scaled_dot_product_attention, invariants, closed forms."""
import math

import torch
import torch.nn.functional as F

from snippets import load

att = load("transformer/attention")


def test_matches_torch_sdpa_with_and_without_causal_mask():
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 5)
    out, w = att.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 6))
    out_c, w_c = att.scaled_dot_product_attention(q, k, v, att.causal_mask(6))
    torch.testing.assert_close(out_c, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    assert torch.all(w_c.triu(1) == 0)


def test_padding_plus_causal_matches_sdpa_and_unpadded_run():
    torch.manual_seed(1)
    lengths = torch.tensor([6, 3])
    q, k, v = (torch.randn(2, 2, 6, 4) for _ in range(3))
    mask = att.padding_mask(lengths, 6) & att.causal_mask(6)
    out, w = att.scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert torch.all(w[1, :, :, 3:] == 0)                      # padded keys get zero weight
    # The real tokens of the short sequence give the same result as running it alone, unpadded.
    ref = F.scaled_dot_product_attention(q[1:, :, :3], k[1:, :, :3], v[1:, :, :3], is_causal=True)
    torch.testing.assert_close(out[1:, :, :3], ref)


def test_masked_keys_get_exactly_zero_weight_at_any_logit_scale():
    # Logits of size 1e5 (large activations, or fp16 ranges): a finite "minus large" fill such as
    # -1e4 or -1e9 + score no longer removes a key; -inf does, as in F.scaled_dot_product_attention.
    torch.manual_seed(3)
    q, k, v = (torch.randn(2, 1, 5, 4, dtype=torch.float64) for _ in range(3))
    q = q * 1e3
    k = k * 1e3
    k[:, :, 0] = -q[:, :, 0]                      # query 0 sees only key 0, at a logit of about -1e6
    mask = att.padding_mask(torch.tensor([5, 2]), 5) & att.causal_mask(5)
    out, w = att.scaled_dot_product_attention(q, k, v, mask)
    assert torch.all(w[~mask.expand_as(w)] == 0)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_bottom_right_causal_mask_equals_last_rows_of_full_attention():
    torch.manual_seed(2)
    q, k, v = (torch.randn(1, 2, 9, 8) for _ in range(3))
    full = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # Decode the last 2 queries against all 9 cached keys (KV-cache situation).
    out, _ = att.scaled_dot_product_attention(q[:, :, -2:], k, v, att.causal_mask(2, 9))
    torch.testing.assert_close(out, full[:, :, -2:])
    expected = torch.tensor([[1] * 8 + [0], [1] * 9], dtype=torch.bool)   # written by hand
    assert torch.equal(att.causal_mask(2, 9), expected)


def test_unscaled_logit_std_is_sqrt_dk():
    # Var(q.k) = sum_i Var(q_i k_i) = d_k for independent unit-variance entries.
    for d in (16, 256):
        std_raw, max_raw = att.logit_std_and_max_weight(d, scale=False, trials=400)
        std_scaled, max_scaled = att.logit_std_and_max_weight(d, scale=True, trials=400)
        assert abs(std_raw / math.sqrt(d) - 1) < 0.05
        assert abs(std_scaled - 1) < 0.05
        assert max_raw > max_scaled
    # Saturation grows with d_k only without the scale.
    assert att.logit_std_and_max_weight(1024, scale=False)[1] > 0.9
    assert att.logit_std_and_max_weight(1024, scale=True)[1] < 0.2


def test_softmax_gradient_vanishes_when_saturated():
    # d softmax / d z = diag(p) - p p^T; for a one-hot-like p every entry is ~0.
    z = torch.linspace(-1.0, 1.0, 64)              # neighboring logits differ by 2/63
    for factor, small in ((1.0, False), (1000.0, True)):
        zz = (factor * z).requires_grad_()
        jac = torch.autograd.functional.jacobian(lambda t: torch.softmax(t, 0), zz)
        p = torch.softmax(factor * z, 0)
        torch.testing.assert_close(jac, torch.diag(p) - torch.outer(p, p))
        assert (jac.abs().max() < 1e-3) == small


def test_max_weight_of_two_keys_against_numerical_integral():
    # Two keys: the larger softmax weight is sigmoid(|z1 - z2|). Given q, z1 - z2 = q.(k1 - k2) is
    # N(0, 2|q|^2) (divided by d_k when scaled), and |q|^2 is chi-square with d_k degrees of freedom:
    # E[sigmoid(|z1 - z2|)] by numerical integration over both (scipy), against the experiment.
    import numpy as np
    from scipy import integrate, stats
    t = np.linspace(0, 12, 6001)                                    # |N(0, 1)|: 2 * pdf on t >= 0
    for d, scale in ((4, True), (16, False)):
        r2 = stats.chi2(d).ppf((np.arange(400) + 0.5) / 400)        # quantiles of |q|^2
        sd = np.sqrt(2 * r2 / (d if scale else 1))                  # std of z1 - z2 given q
        inner = integrate.simpson(2 * stats.norm.pdf(t) / (1 + np.exp(-sd[:, None] * t)), x=t, axis=-1)
        expected = inner.mean()
        _, got = att.logit_std_and_max_weight(d, n_keys=2, scale=scale, trials=6000)
        assert abs(got - expected) < 0.01                           # Monte Carlo sd < 0.003


def test_logit_experiment_defaults_and_reproducibility():
    # documented defaults: 64 keys, scaled, 200 trials, seed 0; a seeded experiment is reproducible
    a = att.logit_std_and_max_weight(32)
    assert a == att.logit_std_and_max_weight(32, n_keys=64, scale=True, trials=200, seed=0)
    assert a == att.logit_std_and_max_weight(32)
    assert a != att.logit_std_and_max_weight(32, seed=1)
