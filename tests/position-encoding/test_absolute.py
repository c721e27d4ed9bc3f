"""Tests for snippets/position-encoding/absolute.py: nn.MultiheadAttention invariants and closed forms."""
import math

import torch
from torch import nn

from snippets import load

ab = load("position-encoding/absolute")


def test_attention_without_positions_is_permutation_equivariant():
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.randn(2, 6, 16)
    perm = torch.randperm(6)
    out = ab.self_attention_no_position(x, attn)
    torch.testing.assert_close(ab.self_attention_no_position(x[:, perm], attn), out[:, perm], atol=1e-6, rtol=1e-5)
    # Adding sinusoidal positions breaks the symmetry.
    pe = ab.sinusoidal_position_encoding(6, 16)
    out_pe = ab.self_attention_no_position(x + pe, attn)
    assert not torch.allclose(ab.self_attention_no_position(x[:, perm] + pe, attn), out_pe[:, perm], atol=1e-3)


def test_causal_mask_alone_breaks_permutation_equivariance():
    torch.manual_seed(1)
    attn = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(1, 5, 8)
    perm = torch.tensor([4, 3, 2, 1, 0])
    out = ab.self_attention_no_position(x, attn, causal=True)
    assert not torch.allclose(ab.self_attention_no_position(x[:, perm], attn, causal=True), out[:, perm], atol=1e-3)


def test_sinusoidal_values_by_hand():
    d = 8
    pe = ab.sinusoidal_position_encoding(3, d)
    torch.testing.assert_close(pe[0], torch.tensor([0.0, 1.0] * 4))
    w = [10000 ** (-2 * i / d) for i in range(4)]                    # 1, 0.1, 0.01, 0.001
    expected = [f(1 * wi) for wi in w for f in (math.sin, math.cos)]
    torch.testing.assert_close(pe[1], torch.tensor(expected))
    assert pe.abs().max() <= 1.0


def test_sinusoidal_norm_and_dot_product_depends_only_on_offset():
    d = 32
    pe = ab.sinusoidal_position_encoding(200, d).double()
    torch.testing.assert_close(pe.norm(dim=-1), torch.full((200,), math.sqrt(d / 2), dtype=torch.float64),
                               atol=1e-5, rtol=1e-5)
    w = torch.tensor([10000 ** (-2 * i / d) for i in range(d // 2)], dtype=torch.float64)
    for p, k in ((0, 5), (17, 5), (120, 5), (3, 40), (90, 40)):
        closed_form = torch.cos(k * w).sum()                          # sum_i cos(k w_i)
        torch.testing.assert_close(pe[p] @ pe[p + k], closed_form, atol=1e-5, rtol=1e-5)


def test_shift_is_a_fixed_linear_map():
    # PE[p + k] = M_k PE[p], M_k block-diagonal with 2x2 rotations by k w_i, the same for every p.
    d, k = 16, 7
    pe = ab.sinusoidal_position_encoding(100, d).double()
    m = torch.zeros(d, d, dtype=torch.float64)
    for i in range(d // 2):
        a = k * 10000 ** (-2 * i / d)
        # (sin(x+a), cos(x+a)) = [[cos a, sin a], [-sin a, cos a]] (sin x, cos x)
        m[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    torch.testing.assert_close(pe[k:] , pe[:-k] @ m.T, atol=1e-5, rtol=1e-5)


def test_learned_embedding_adds_rows_and_refuses_long_inputs():
    torch.manual_seed(2)
    layer = ab.LearnedPositionEmbedding(max_len=8, d_model=4)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(layer(x), x + layer.table.weight[:5])
    try:
        layer(torch.randn(1, 9, 4))
    except ValueError:
        pass
    else:
        raise AssertionError("positions beyond max_len must fail")


def test_needle_weight_matches_torch_softmax():
    for gap, n in ((10.0, 8192), (10.0, 131072), (2.0, 5)):
        logits = torch.zeros(n, dtype=torch.float64)
        logits[0] = gap
        assert ab.needle_weight(gap, n) == pytest_approx(float(torch.softmax(logits, 0)[0]))


def test_llama4_query_scale_matches_transformers_formula_and_hand_values():
    # transformers' Llama4TextAttention: log1p(floor((pos + 1) / floor_scale)) * attn_scale + 1
    pos = torch.tensor([0, 8190, 8191, 131071], dtype=torch.float32)
    ref = torch.log1p(torch.floor((pos + 1.0) / 8192)) * 0.1 + 1.0
    ours = torch.tensor([ab.llama4_query_scale(int(p)) for p in pos])
    torch.testing.assert_close(ours, ref)
    assert ab.llama4_query_scale(8190) == 1.0                                   # below 8K: untouched
    assert round(ab.llama4_query_scale(131071), 4) == round(1 + 0.1 * math.log(17), 4) == 1.2833


def pytest_approx(x):
    import pytest
    return pytest.approx(x, rel=1e-9)


def test_causal_self_attention_matches_float_subsequent_mask():
    # oracle: the same module with PyTorch's own additive causal mask (-inf above the diagonal)
    torch.manual_seed(3)
    attn = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(2, 5, 8)
    ref, _ = attn(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(5), need_weights=False)
    torch.testing.assert_close(ab.self_attention_no_position(x, attn, causal=True), ref)
    # without the flag the model sees everything: same as no mask at all
    full, _ = attn(x, x, x, need_weights=False)
    torch.testing.assert_close(ab.self_attention_no_position(x, attn), full)


def test_learned_embedding_accepts_exactly_max_len():
    layer = ab.LearnedPositionEmbedding(max_len=8, d_model=4)
    x = torch.zeros(1, 8, 4)
    torch.testing.assert_close(layer(x)[0], layer.table.weight)       # every row used once, in order


def test_inference_under_no_grad_matches_training_graph_path():
    # eval + no_grad sends nn.MultiheadAttention down its fused fast path; same attention, same output
    torch.manual_seed(4)
    attn = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(2, 5, 8)
    for causal in (False, True):
        ref = ab.self_attention_no_position(x, attn, causal=causal)
        with torch.no_grad():
            torch.testing.assert_close(ab.self_attention_no_position(x, attn, causal=causal), ref, atol=1e-6, rtol=1e-5)


def test_attention_does_not_build_the_weight_matrix(monkeypatch):
    # need_weights=False is what lets MultiheadAttention use the fused scaled_dot_product_attention
    # instead of materialising (batch, heads, seq, seq) weights only to average and return them.
    calls = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    torch.manual_seed(5)
    attn = nn.MultiheadAttention(8, 2, batch_first=True).eval()
    x = torch.randn(3, 4, 8)
    out = ab.self_attention_no_position(x, attn, causal=True)
    assert calls == [torch.Size([3, 2, 4, 4])]                          # (batch, heads, seq, head_dim)
    assert out.shape == (3, 4, 8)


def test_sinusoidal_stays_exact_at_long_positions():
    # float64 angles: at p ~ 1e5 a float32 frequency (rel. error ~6e-8) would already be off by ~1e-3 rad.
    # Oracle: Python's double-precision math.sin / math.cos of p * 10000^(-2i/d).
    d = 16
    pe = ab.sinusoidal_position_encoding(100_001, d)
    assert pe.dtype == torch.float32
    for p in (65_537, 99_991, 100_000):
        expected = [f(p * 10000 ** (-2 * i / d)) for i in range(d // 2) for f in (math.sin, math.cos)]
        torch.testing.assert_close(pe[p], torch.tensor(expected), atol=2e-6, rtol=0)


def test_learned_embedding_init_std():
    # BERT / GPT-2 initialise position rows from N(0, 0.02^2); a custom std is honoured.
    torch.manual_seed(6)
    w = ab.LearnedPositionEmbedding(max_len=2048, d_model=64).table.weight.detach()   # 131072 draws
    assert abs(float(w.mean())) < 5 * 0.02 / math.sqrt(w.numel())
    assert abs(float(w.std()) / 0.02 - 1) < 0.01                     # std of the estimate ~0.2 %
    w = ab.LearnedPositionEmbedding(max_len=2048, d_model=64, std=0.5).table.weight.detach()
    assert abs(float(w.std()) / 0.5 - 1) < 0.01


def test_too_long_error_names_length_and_limit():
    import pytest
    layer = ab.LearnedPositionEmbedding(max_len=8, d_model=4)
    with pytest.raises(ValueError, match=r"\b11\b.*\bmax_len 8\b"):
        layer(torch.zeros(1, 11, 4))
