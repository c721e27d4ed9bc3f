"""Tests for snippets/norms/layernorm.py against torch built-ins and invariants."""
import torch
import torch.nn as nn

from snippets import load

ln = load("norms/layernorm")


def test_layer_norm_matches_nn_layernorm():
    torch.manual_seed(0)
    d = 32
    x = torch.randn(4, 7, d) * 5 + 2                      # (batch, seq, d)
    ref = nn.LayerNorm(d, eps=1e-5)
    nn.init.normal_(ref.weight)
    nn.init.normal_(ref.bias)
    out = ln.layer_norm(x, ref.weight, ref.bias, eps=1e-5)
    torch.testing.assert_close(out, ref(x))


def test_layer_norm_uses_biased_variance():
    # Hand-computed example: x = [1, 2, 3, 4], mean 2.5, biased var 1.25.
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)
    expected = (x - 2.5) / torch.sqrt(torch.tensor(1.25, dtype=torch.float64))
    torch.testing.assert_close(ln.layer_norm(x, eps=0.0), expected)


def test_layer_norm_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w, b: ln.layer_norm(x, w, b, eps=1e-5), (x, w, b))


def test_batch_norm_matches_nn_batchnorm1d_training_mode():
    torch.manual_seed(0)
    b, s, d = 4, 6, 8
    x = torch.randn(b, s, d) * 3 + 1
    bn = nn.BatchNorm1d(d, eps=1e-5, affine=False).train()
    # BatchNorm1d wants (N, C, L): channels = features, so move d to dim 1 and back.
    ref = bn(x.transpose(1, 2)).transpose(1, 2)
    torch.testing.assert_close(ln.batch_norm_train(x, eps=1e-5), ref)


def test_layer_norm_tokens_matches_nn_layernorm_without_affine():
    torch.manual_seed(1)
    x = torch.randn(4, 6, 8) * 3 + 1
    ref = nn.LayerNorm(8, eps=1e-5, elementwise_affine=False)
    torch.testing.assert_close(ln.layer_norm_tokens(x, eps=1e-5), ref(x))


def test_axes_normalised():
    torch.manual_seed(2)
    x = torch.randn(5, 7, 16) * 4 - 3
    y_bn = ln.batch_norm_train(x, eps=0.0)
    y_ln = ln.layer_norm_tokens(x, eps=0.0)
    zeros_d = torch.zeros(16)
    zeros_tok = torch.zeros(5, 7)
    # BN: each feature has mean 0 / var 1 across (batch, seq); LN: each token across d.
    torch.testing.assert_close(y_bn.mean(dim=(0, 1)), zeros_d, atol=1e-5, rtol=0)
    torch.testing.assert_close(y_bn.var(dim=(0, 1), unbiased=False), zeros_d + 1, atol=1e-4, rtol=0)
    torch.testing.assert_close(y_ln.mean(dim=-1), zeros_tok, atol=1e-5, rtol=0)
    torch.testing.assert_close(y_ln.var(dim=-1, unbiased=False), zeros_tok + 1, atol=1e-4, rtol=0)


def test_layer_norm_is_batch_independent_batch_norm_is_not():
    torch.manual_seed(3)
    x = torch.randn(4, 5, 8)
    # A sample normalised alone (batch size 1, as in autoregressive decoding) ...
    alone_ln = ln.layer_norm_tokens(x[:1])
    alone_bn = ln.batch_norm_train(x[:1])
    # ... equals the same sample normalised inside a batch for LN, not for BN.
    torch.testing.assert_close(ln.layer_norm_tokens(x)[:1], alone_ln)
    assert (ln.batch_norm_train(x)[:1] - alone_bn).abs().max() > 0.1


def test_unbiased_variance_mistake_shrinks_output_by_closed_form_factor():
    # The "Common mistake" on the page: using Tensor.var (unbiased, divides by d - 1)
    # scales the output by sqrt((d - 1) / d) relative to LayerNorm (eps = 0).
    torch.manual_seed(4)
    d = 8
    x = torch.randn(3, d, dtype=torch.float64)
    wrong = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(dim=-1, keepdim=True))
    right = nn.functional.layer_norm(x, (d,), eps=0.0)            # oracle: PyTorch's LayerNorm
    torch.testing.assert_close(wrong, right * ((d - 1) / d) ** 0.5)
    torch.testing.assert_close(ln.layer_norm(x, eps=0.0), right)


def test_eps_is_added_inside_the_root_with_default_1e_5():
    # Tokens whose variance (~1e-6) is below eps: eps dominates the denominator, so adding it
    # with the wrong sign or using another default changes the output by orders of magnitude.
    torch.manual_seed(5)
    d = 8
    x = torch.randn(3, 4, d, dtype=torch.float64) * 1e-3 + 7.0
    ref = nn.functional.layer_norm(x, (d,), eps=1e-5)          # oracle: PyTorch's default eps
    torch.testing.assert_close(ln.layer_norm(x), ref)
    torch.testing.assert_close(ln.layer_norm_tokens(x), ref)
    bn_ref = nn.functional.batch_norm(x.reshape(-1, d), None, None, training=True, eps=1e-5)
    torch.testing.assert_close(ln.batch_norm_train(x), bn_ref.reshape(x.shape))
    # A constant token: variance 0, so the output is 0 (not NaN) because eps > 0.
    flat = torch.full((1, d), 3.0, dtype=torch.float64)
    torch.testing.assert_close(ln.layer_norm(flat), torch.zeros(1, d, dtype=torch.float64))
    # eps passed explicitly is used (not the default): closed form (x - mean) / sqrt(var + eps).
    y = torch.tensor([[0.0, 2.0]], dtype=torch.float64)         # mean 1, biased var 1
    torch.testing.assert_close(ln.layer_norm(y, eps=3.0), torch.tensor([[-0.5, 0.5]], dtype=torch.float64))
    torch.testing.assert_close(ln.batch_norm_train(y.reshape(2, 1, 1), eps=3.0).flatten(),
                               torch.tensor([-0.5, 0.5], dtype=torch.float64))
    torch.testing.assert_close(ln.layer_norm_tokens(y.reshape(1, 1, 2), eps=3.0).flatten(),
                               torch.tensor([-0.5, 0.5], dtype=torch.float64))
