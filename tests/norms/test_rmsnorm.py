"""Tests for snippets/norms/rmsnorm.py against torch built-ins and invariants."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from snippets import load

rn = load("norms/rmsnorm")


def test_rms_norm_matches_torch_rmsnorm():
    torch.manual_seed(0)
    x = torch.randn(4, 7, 16) * 3
    ref = nn.RMSNorm(16, eps=1e-6)
    nn.init.normal_(ref.weight)
    torch.testing.assert_close(rn.rms_norm(x, ref.weight, eps=1e-6), ref(x))


def test_rms_norm_hand_example():
    # x = [3, 4]: mean(x^2) = 12.5, rms = sqrt(12.5).
    x = torch.tensor([3.0, 4.0], dtype=torch.float64)
    expected = x / math.sqrt(12.5)
    torch.testing.assert_close(rn.rms_norm(x, eps=0.0), expected)


def test_rms_norm_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(3, 4, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: rn.rms_norm(x, w, eps=1e-6), (x, w))


def test_rescaling_invariant_but_not_recentring_invariant():
    torch.manual_seed(1)
    x = torch.randn(5, 16, dtype=torch.float64)
    w = torch.randn(16, dtype=torch.float64)
    # Re-scaling: RMSNorm(c x) == RMSNorm(x) for c > 0 (eps = 0).
    torch.testing.assert_close(rn.rms_norm(7.5 * x, w, eps=0.0), rn.rms_norm(x, w, eps=0.0))
    # Re-centring: LayerNorm ignores a constant shift, RMSNorm does not.
    layer_norm = nn.LayerNorm(16, eps=0.0, elementwise_affine=False).double()
    torch.testing.assert_close(layer_norm(x + 3.0), layer_norm(x))
    assert (rn.rms_norm(x + 3.0, w, eps=0.0) - rn.rms_norm(x, w, eps=0.0)).abs().max() > 0.1


def test_rms_norm_equals_layer_norm_on_zero_mean_input():
    torch.manual_seed(2)
    x = torch.randn(6, 32, dtype=torch.float64)
    x = x - x.mean(-1, keepdim=True)
    layer_norm = nn.LayerNorm(32, eps=1e-6, elementwise_affine=False).double()
    torch.testing.assert_close(rn.rms_norm(x, eps=1e-6), layer_norm(x))


def test_qk_norm_attention_matches_sdpa_on_normalised_inputs():
    torch.manual_seed(3)
    b, h, s, d = 2, 3, 5, 8
    q, k, v = (torch.randn(b, h, s, d) for _ in range(3))
    q_norm, k_norm = nn.RMSNorm(d, eps=1e-6), nn.RMSNorm(d, eps=1e-6)
    nn.init.normal_(q_norm.weight, 1.0, 0.2)
    nn.init.normal_(k_norm.weight, 1.0, 0.2)
    out, _ = rn.qk_norm_attention(q, k, v, q_norm.weight, k_norm.weight, causal=True)
    ref = F.scaled_dot_product_attention(q_norm(q), k_norm(k), v, is_causal=True)
    torch.testing.assert_close(out, ref)


def test_qk_norm_logits_bounded_by_cauchy_schwarz():
    torch.manual_seed(4)
    b, h, s, d = 1, 2, 7, 16
    q, k, v = (torch.randn(b, h, s, d) for _ in range(3))
    gq, gk = torch.randn(d), torch.randn(d)
    for scale in (1.0, 1e3, 1e6):
        _, logits = rn.qk_norm_attention(scale * q, scale * k, v, gq, gk, causal=False)
        # After RMSNorm (eps -> 0) each head vector has norm sqrt(d); with gains g:
        # |q_hat . k_hat| <= max|gq| max|gk| d, so |logit| <= max|gq| max|gk| sqrt(d).
        bound = gq.abs().max() * gk.abs().max() * math.sqrt(d)
        assert logits.abs().max() <= bound * (1 + 1e-5)
    # Without QK-norm the logits grow with the scale squared.
    plain = (1e3 * q) @ (1e3 * k).transpose(-2, -1) / math.sqrt(d)
    assert plain.abs().max() > 1e5


def test_qk_norm_logits_invariant_to_scaling_q_and_k():
    torch.manual_seed(5)
    q, k, v = (torch.randn(1, 2, 6, 8, dtype=torch.float64) for _ in range(3))
    g = torch.ones(8, dtype=torch.float64)
    _, l1 = rn.qk_norm_attention(q, k, v, g, g, eps=0.0, causal=False)
    _, l2 = rn.qk_norm_attention(40 * q, 0.01 * k, v, g, g, eps=0.0, causal=False)
    torch.testing.assert_close(l1, l2)


def test_qk_norm_attention_defaults_are_causal_and_eps_1e_6():
    # Called with defaults only: the page's contract is causal=True and eps=1e-6. Tiny q/k
    # (mean square ~1e-6, the size of eps) make the default eps visible in the output.
    torch.manual_seed(6)
    b, h, s, d = 1, 2, 6, 8
    q, k = (torch.randn(b, h, s, d, dtype=torch.float64) * 1e-3 for _ in range(2))
    v = torch.randn(b, h, s, d, dtype=torch.float64)
    g_q = torch.linspace(0.5, 1.5, d, dtype=torch.float64)
    g_k = torch.linspace(1.5, 0.5, d, dtype=torch.float64)
    out, logits = rn.qk_norm_attention(q, k, v, g_q, g_k)
    q_ref = F.rms_norm(q, (d,), g_q, eps=1e-6)                 # oracle: PyTorch's RMSNorm
    k_ref = F.rms_norm(k, (d,), g_k, eps=1e-6)
    ref = F.scaled_dot_product_attention(q_ref, k_ref, v, is_causal=True)
    torch.testing.assert_close(out, ref)
    # The future positions are -inf in the returned logits, the rest is finite.
    future = torch.ones(s, s, dtype=torch.bool).triu(1)
    assert torch.isneginf(logits[..., future]).all() and torch.isfinite(logits[..., ~future]).all()
    torch.testing.assert_close(rn.rms_norm(q, g_q), q_ref)
