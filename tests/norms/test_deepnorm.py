"""Tests for snippets/norms/deepnorm.py: closed-form constants, block formula, init scaling."""
import math

import pytest
import torch
import torch.nn as nn

from snippets import load

dn = load("norms/deepnorm")


def test_decoder_only_constants_by_hand():
    # M = 6 decoder layers: alpha = 12 ** 0.25, beta = 48 ** -0.25.
    alpha, beta = dn.deepnorm_constants("decoder", n_dec=6)["decoder"]
    assert math.isclose(alpha, 12 ** 0.25) and math.isclose(alpha, 1.8612097182, rel_tol=1e-9)
    assert math.isclose(beta, 48 ** -0.25) and math.isclose(beta, 0.3799178428, rel_tol=1e-9)


def test_encoder_only_constants_by_hand():
    # N = 18: alpha = (36) ** 0.25 = sqrt(6), beta = (144) ** -0.25 = 1 / sqrt(12).
    alpha, beta = dn.deepnorm_constants("encoder", n_enc=18)["encoder"]
    assert math.isclose(alpha, math.sqrt(6))
    assert math.isclose(beta, 1 / math.sqrt(12))


def test_encoder_decoder_constants_by_hand():
    # N = M = 16: N^4 M = 16^5 = 2^20, (2^20)^(1/16) = 2^1.25.
    c = dn.deepnorm_constants("encoder-decoder", n_enc=16, n_dec=16)
    enc_a, enc_b = c["encoder"]
    dec_a, dec_b = c["decoder"]
    assert math.isclose(enc_a, 0.81 * 2 ** 1.25)
    assert math.isclose(enc_b, 0.87 * 2 ** -1.25)
    assert math.isclose(dec_a, 48 ** 0.25)     # (3 * 16) ** (1/4)
    assert math.isclose(dec_b, 192 ** -0.25)   # (12 * 16) ** (-1/4)


def test_constants_for_one_layer_and_only_the_parts_that_exist():
    # The smallest stacks, by hand: 2^(1/4), 8^(-1/4); encoder-decoder with N = M = 1 gives N^4 M = 1,
    # so the encoder's pair is the paper's bare coefficients (0.81, 0.87).
    assert dn.deepnorm_constants("encoder", n_enc=1) == {"encoder": pytest.approx((2 ** 0.25, 8 ** -0.25))}
    assert dn.deepnorm_constants("decoder", n_dec=1) == {"decoder": pytest.approx((2 ** 0.25, 8 ** -0.25))}
    c = dn.deepnorm_constants("encoder-decoder", n_enc=1, n_dec=1)
    assert c == {"encoder": pytest.approx((0.81, 0.87)), "decoder": pytest.approx((3 ** 0.25, 12 ** -0.25))}


@pytest.mark.parametrize("arch, kwargs, message", [
    ("encoder", {}, "n_enc >= 1"),                        # the count the arch needs was not given
    ("encoder", {"n_dec": 6}, "n_enc >= 1"),              # ... or only the other one was
    ("decoder", {}, "n_dec >= 1"),
    ("decoder", {"n_enc": 6}, "n_dec >= 1"),
    ("encoder-decoder", {"n_enc": 6}, "n_dec >= 1"),
    ("encoder-decoder", {"n_dec": 6}, "n_enc >= 1"),
    ("decoder", {"n_dec": -2}, "got -2"),
    ("gpt", {"n_enc": 6, "n_dec": 6}, "unknown arch 'gpt'"),
])
def test_constants_reject_missing_counts_and_unknown_arch(arch, kwargs, message):
    # A clear ValueError, not a ZeroDivisionError from 0 ** -0.25 or a silent default depth.
    with pytest.raises(ValueError, match=message):
        dn.deepnorm_constants(arch, **kwargs)


def test_alpha_grows_and_beta_shrinks_with_depth():
    prev_a, prev_b = 0.0, 1.0
    for m in (1, 6, 24, 100, 1000):
        a, b = dn.deepnorm_constants("decoder", n_dec=m)["decoder"]
        assert a > prev_a and b < prev_b
        prev_a, prev_b = a, b


def test_residual_block_formula_with_nn_layernorm():
    torch.manual_seed(0)
    d, alpha = 16, 2.5
    ffn = dn.FeedForward(d, 4 * d)
    block = dn.DeepNormResidual(ffn, d, alpha)
    nn.init.normal_(block.norm.weight)
    nn.init.normal_(block.norm.bias)
    x = torch.randn(3, 5, d)
    # Oracle: an independent nn.LayerNorm with copied affine params, and an nn.Linear-built FFN.
    ref_ln = nn.LayerNorm(d)
    ref_ln.load_state_dict(block.norm.state_dict())
    fc1, fc2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
    fc1.load_state_dict(ffn.fc1.state_dict())
    fc2.load_state_dict(ffn.fc2.state_dict())
    g = fc2(torch.nn.functional.gelu(fc1(x)))
    torch.testing.assert_close(block(x), ref_ln(alpha * x + g))


def test_alpha_one_is_post_ln():
    torch.manual_seed(1)
    d = 8
    sub = nn.Linear(d, d)
    block = dn.DeepNormResidual(sub, d, alpha=1.0)
    x = torch.randn(2, 3, d)
    torch.testing.assert_close(block(x), nn.functional.layer_norm(x + sub(x), (d,)))


def test_init_scales_ffn_value_output_by_beta():
    # Statistical check with a fixed seed. Xavier normal std = gain * sqrt(2 / (fan_in + fan_out)).
    # With d = 512 each square matrix has 262,144 entries, so the sample std is within
    # about 0.2% of the target (1 / sqrt(2n)); we allow 2%.
    torch.manual_seed(0)
    d, d_ff, m = 512, 1024, 24
    alpha, beta = dn.deepnorm_constants("decoder", n_dec=m)["decoder"]
    layer = dn.DeepNormDecoderLayer(d, n_heads=8, d_ff=d_ff, alpha=alpha)
    dn.deepnorm_init_(layer, beta)
    attn, ffn = layer.attn.sublayer, layer.ffn.sublayer
    xavier_sq = math.sqrt(2 / (d + d))
    xavier_ff = math.sqrt(2 / (d + d_ff))
    expected = {
        "q_proj": xavier_sq, "k_proj": xavier_sq,                  # gain 1
        "v_proj": beta * xavier_sq, "out_proj": beta * xavier_sq,  # gain beta
        "fc1": beta * xavier_ff, "fc2": beta * xavier_ff,
    }
    modules = {"q_proj": attn.q_proj, "k_proj": attn.k_proj, "v_proj": attn.v_proj,
               "out_proj": attn.out_proj, "fc1": ffn.fc1, "fc2": ffn.fc2}
    for name, mod in modules.items():
        std = mod.weight.std().item()
        assert abs(std / expected[name] - 1) < 0.02, (name, std, expected[name])
        assert torch.count_nonzero(mod.bias) == 0
    # The ratio v_proj / q_proj std is beta.
    ratio = attn.v_proj.weight.std() / attn.q_proj.weight.std()
    assert abs(ratio.item() / beta - 1) < 0.03


def test_self_attention_matches_sdpa_causal():
    # Oracle: F.scaled_dot_product_attention with is_causal=True on the same projections.
    torch.manual_seed(2)
    b, s, d, h = 2, 7, 32, 4
    attn = dn.SelfAttention(d, h)
    x = torch.randn(b, s, d)
    heads = lambda t: t.view(b, s, h, d // h).transpose(1, 2)
    o = torch.nn.functional.scaled_dot_product_attention(
        heads(attn.q_proj(x)), heads(attn.k_proj(x)), heads(attn.v_proj(x)), is_causal=True
    )
    ref = attn.out_proj(o.transpose(1, 2).reshape(b, s, d))
    torch.testing.assert_close(attn(x), ref)


def test_init_leaves_other_linear_layers_alone():
    # Only fc1/fc2/v_proj/out_proj (gain beta) and q_proj/k_proj (gain 1) are re-initialised.
    torch.manual_seed(3)
    model = nn.ModuleDict({"layer": dn.DeepNormDecoderLayer(64, 4, 128, alpha=2.0), "head": nn.Linear(64, 10)})
    head_before = model["head"].weight.detach().clone()
    dn.deepnorm_init_(model, beta=0.3)
    torch.testing.assert_close(model["head"].weight, head_before)


def test_init_skips_other_linear_layers_wherever_they_come_in_the_model():
    # An input projection that named_modules() visits before the layer must be skipped, not end the
    # walk: the layer after it is still re-initialised (nn.Linear's default biases are non-zero).
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(64, 64), dn.DeepNormDecoderLayer(64, 4, 128, alpha=2.0))
    proj_before = model[0].weight.detach().clone(), model[0].bias.detach().clone()
    a, f = model[1].attn.sublayer, model[1].ffn.sublayer
    targets = {"q_proj": a.q_proj, "k_proj": a.k_proj, "v_proj": a.v_proj, "out_proj": a.out_proj,
               "fc1": f.fc1, "fc2": f.fc2}
    assert all(torch.count_nonzero(m.bias) > 0 for m in targets.values())
    dn.deepnorm_init_(model, beta=0.3)
    torch.testing.assert_close((model[0].weight, model[0].bias), proj_before)
    for name, m in targets.items():
        assert torch.count_nonzero(m.bias) == 0, name


def test_decoder_layer_forward_is_attention_then_ffn_each_deepnormed():
    # Oracle: x1 = LN_a(alpha x + Attn(x)) with Attn from SDPA (causal), then LN_f(alpha x1 + FFN(x1)),
    # built from nn.functional with the layer's weights; non-trivial LN affine params so the two
    # norms cannot be swapped unnoticed, and alpha != 1 so a missing alpha shows.
    torch.manual_seed(4)
    b, s, d, h, d_ff, alpha = 2, 5, 16, 4, 32, 1.7
    layer = dn.DeepNormDecoderLayer(d, h, d_ff, alpha)
    for norm in (layer.attn.norm, layer.ffn.norm):
        nn.init.normal_(norm.weight, 1.0, 0.5)
        nn.init.normal_(norm.bias, 0.0, 0.5)
    F = torch.nn.functional
    a, f = layer.attn.sublayer, layer.ffn.sublayer
    x = torch.randn(b, s, d)
    heads = lambda t: t.view(b, s, h, d // h).transpose(1, 2)
    o = F.scaled_dot_product_attention(heads(F.linear(x, a.q_proj.weight, a.q_proj.bias)),
                                       heads(F.linear(x, a.k_proj.weight, a.k_proj.bias)),
                                       heads(F.linear(x, a.v_proj.weight, a.v_proj.bias)), is_causal=True)
    attn_out = F.linear(o.transpose(1, 2).reshape(b, s, d), a.out_proj.weight, a.out_proj.bias)
    x1 = F.layer_norm(alpha * x + attn_out, (d,), layer.attn.norm.weight, layer.attn.norm.bias)
    ffn_out = F.linear(F.gelu(F.linear(x1, f.fc1.weight, f.fc1.bias)), f.fc2.weight, f.fc2.bias)
    expected = F.layer_norm(alpha * x1 + ffn_out, (d,), layer.ffn.norm.weight, layer.ffn.norm.bias)
    torch.testing.assert_close(layer(x), expected)
    # Causal: changing the last token changes no earlier output.
    x2 = x.clone()
    x2[:, -1] += 3.0
    torch.testing.assert_close(layer(x2)[:, :-1], layer(x)[:, :-1])
