import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snippets import load

glu = load("activations/glu")


def test_torch_glu_is_value_times_sigmoid_gate():
    # Oracle for the gating convention: F.glu(a) = a_1 * sigmoid(a_2), a split in half on the last dim.
    torch.manual_seed(0)
    a = torch.randn(3, 4, 10, dtype=torch.float64)
    a1, a2 = a[..., :5], a[..., 5:]
    torch.testing.assert_close(F.glu(a, dim=-1), a1 * torch.sigmoid(a2))
    torch.testing.assert_close(glu.glu(a), F.glu(a, dim=-1))
    torch.testing.assert_close(glu.glu(a, dim=1), F.glu(a, dim=1))


def _copy(m):
    return (m.w_gate.weight.detach().clone(), m.w_up.weight.detach().clone(), m.w_down.weight.detach().clone())


def test_swiglu_ffn_matches_hand_composition():
    torch.manual_seed(0)
    d, h = 16, 40
    m = glu.GatedFFN(d, h, "silu")
    W, V, W2 = _copy(m)
    x = torch.randn(2, 7, d)
    expected = F.linear(F.silu(F.linear(x, W)) * F.linear(x, V), W2)
    torch.testing.assert_close(m(x), expected)


@pytest.mark.parametrize(
    "name, act",
    [
        ("relu", F.relu),
        ("gelu", lambda t: F.gelu(t)),
        ("gelu_tanh", lambda t: F.gelu(t, approximate="tanh")),
        ("identity", lambda t: t),
    ],
)
def test_other_variants_match_hand_composition(name, act):
    torch.manual_seed(1)
    d, h = 12, 32
    m = glu.GatedFFN(d, h, name)
    W, V, W2 = _copy(m)
    x = torch.randn(3, 5, d)
    torch.testing.assert_close(m(x), F.linear(act(F.linear(x, W)) * F.linear(x, V), W2))


def test_sigmoid_variant_is_torch_glu_on_concatenated_projection():
    # FFN_GLU(x) = (sigmoid(xW) * xV) W2 = W2(F.glu([xV, xW])): F.glu gates the first half with the second.
    torch.manual_seed(2)
    d, h = 10, 24
    m = glu.GatedFFN(d, h, "sigmoid")
    W, V, W2 = _copy(m)
    x = torch.randn(4, d)
    a = torch.cat([F.linear(x, V), F.linear(x, W)], dim=-1)
    torch.testing.assert_close(m(x), F.linear(F.glu(a, dim=-1), W2))


def test_unknown_gate_activation_is_rejected():
    with pytest.raises(ValueError, match=r"unknown gate activation 'swish2'; choose from \['gelu', 'gelu_tanh', 'identity'"):
        glu.GatedFFN(8, 16, "swish2")


def test_swiglu_gradients_match_autograd_of_reference():
    torch.manual_seed(3)
    d, h = 8, 16
    m = glu.GatedFFN(d, h, "silu").double()
    W, V, W2 = (t.requires_grad_(True) for t in _copy(m))
    x = torch.randn(5, d, dtype=torch.float64)
    m(x).pow(2).sum().backward()
    F.linear(F.silu(F.linear(x, W)) * F.linear(x, V), W2).pow(2).sum().backward()
    torch.testing.assert_close(m.w_gate.weight.grad, W.grad)
    torch.testing.assert_close(m.w_up.weight.grad, V.grad)
    torch.testing.assert_close(m.w_down.weight.grad, W2.grad)


def test_param_count_equals_dense_4d_ffn_when_h_is_8d_over_3():
    for d in (3, 48, 96, 768):
        h = 8 * d // 3
        assert glu.glu_ffn_param_count(d, h) == 2 * d * (4 * d)  # 3 d h = 8 d^2
    d = 48  # divisible by 3 -> h = 128 exactly
    dense = nn.Sequential(nn.Linear(d, 4 * d, bias=False), nn.ReLU(), nn.Linear(4 * d, d, bias=False))
    gated = glu.GatedFFN(d, 8 * d // 3, "silu")
    assert sum(p.numel() for p in gated.parameters()) == sum(p.numel() for p in dense.parameters())
    assert sum(p.numel() for p in gated.parameters()) == glu.glu_ffn_param_count(d, 128)
    # Shazeer (2020): T5-base d_model = 768, dense d_ff = 3072, GLU variants d_ff = 2048
    assert glu.glu_ffn_param_count(768, 2048) == 2 * 768 * 3072


@pytest.mark.parametrize(
    "dim, multiple_of, mult, expected",
    [
        (4096, 256, None, 11008),   # LLaMA-7B / LLaMA-2-7B intermediate_size
        (5120, 256, None, 13824),   # LLaMA-2-13B
        (6656, 256, None, 17920),   # LLaMA-30B (33B)
        (8192, 256, None, 22016),   # LLaMA-65B
        (8192, 4096, 1.3, 28672),   # LLaMA-2-70B
        (4096, 1024, 1.3, 14336),   # LLaMA-3-8B
        (8192, 1024, 1.3, 28672),   # LLaMA-3-70B
    ],
)
def test_llama_hidden_sizes_from_released_configs(dim, multiple_of, mult, expected):
    assert glu.llama_ffn_hidden_dim(dim, multiple_of, mult) == expected


def test_llama_7b_hidden_by_hand():
    # 4 * 4096 = 16384; 2/3 of it = 10922.67 -> 10922; next multiple of 256 is 43 * 256 = 11008
    assert int(2 * 16384 / 3) == 10922 and 43 * 256 == 11008
    assert glu.llama_ffn_hidden_dim(4096) == 43 * 256


@pytest.mark.parametrize(
    "dim, multiple_of, mult, pct",
    [(4096, 256, None, 0.78), (5120, 256, None, 1.25), (8192, 256, None, 0.78), (8192, 4096, 1.3, 31.25), (4096, 1024, 1.3, 31.25)],
)
def test_ffn_size_vs_dense_4d_percentages_in_page(dim, multiple_of, mult, pct):
    # Page table: extra FFN weights of the rounded SwiGLU FFN relative to a dense 4d FFN (8 d^2).
    h = glu.llama_ffn_hidden_dim(dim, multiple_of, mult)
    extra = 100 * (3 * dim * h / (8 * dim * dim) - 1)
    assert abs(extra - pct) < 0.005


def test_llama_7b_ffn_share_stated_in_page():
    # LLaMA-7B has 6,738,415,616 parameters (hand-known); page says FFNs hold ~4.33 B (~64%).
    d, layers, vocab = 4096, 32, 32000
    ffn = glu.glu_ffn_param_count(d, glu.llama_ffn_hidden_dim(d))
    per_layer = 4 * d * d + ffn + 2 * d  # attention projections + SwiGLU FFN + two RMSNorm weights
    total = layers * per_layer + d + 2 * vocab * d  # + final norm + untied embedding and LM head
    assert total == 6_738_415_616
    assert ffn == 135_266_304
    assert round(layers * ffn / 1e9, 2) == 4.33
    assert round(100 * layers * ffn / total) == 64


def test_llama_hidden_rounding_at_boundaries_against_a_counting_oracle():
    # Oracle written differently from the snippet: count up in steps of multiple_of until the
    # step reaches floor(multiplier * floor(8 d / 3)) (exact integer/fraction arithmetic).
    from fractions import Fraction

    def oracle(dim, multiple_of, mult):
        hidden = (8 * dim) // 3
        if mult is not None:
            hidden = int(Fraction(mult) * hidden)     # Fraction(1.3) is the float 1.3 exactly
        size = multiple_of
        while size < hidden:
            size += multiple_of
        return size

    for dim in range(1, 200):
        for multiple_of in (1, 2, 3, 8, 64):
            for mult in (None, 1.3, 0.5):
                assert glu.llama_ffn_hidden_dim(dim, multiple_of, mult) == oracle(dim, multiple_of, mult), \
                    (dim, multiple_of, mult)
    # Hand values at the boundaries: 8*96/3 = 256 is already a multiple of 256 (stays 256);
    # 8*3/3 = 8 with multiple_of 8 stays 8, one more unit (dim 4 -> 10) rounds up to 16.
    assert glu.llama_ffn_hidden_dim(96) == 256
    assert glu.llama_ffn_hidden_dim(3, 8) == 8 and glu.llama_ffn_hidden_dim(4, 8) == 16
    assert glu.llama_ffn_hidden_dim(97) == 512                    # 258 -> next multiple 512
    assert glu.llama_ffn_hidden_dim(10, 1) == 26                  # multiple_of 1: floor(80 / 3)


def test_default_gate_is_silu_swiglu():
    # GatedFFN(d, h) with no activation is SwiGLU: down(silu(gate x) * up x), by F.silu.
    torch.manual_seed(7)
    m = glu.GatedFFN(8, 12)
    x = torch.randn(2, 3, 8)
    ref = F.linear(F.silu(F.linear(x, m.w_gate.weight)) * F.linear(x, m.w_up.weight), m.w_down.weight)
    torch.testing.assert_close(m(x), ref)
