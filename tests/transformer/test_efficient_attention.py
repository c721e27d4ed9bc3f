"""Tests for snippets/transformer/efficient_attention.py: nn.MultiheadAttention parameter count,
torch FlopCounterMode, torch.softmax / logsumexp, F.scaled_dot_product_attention, quadratic linear attention."""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from snippets import load

ea = load("transformer/efficient_attention")


def test_param_count_matches_nn_multiheadattention_and_hand():
    for d, h in ((64, 4), (512, 8)):
        ref = nn.MultiheadAttention(d, h, bias=True)
        assert ea.attention_params(d, h, h, d // h, bias=True) == sum(p.numel() for p in ref.parameters())
    # LLaMA-2-7B layer by hand: 4 * 4096^2 = 67,108,864; Llama-3-8B (8 KV heads): 2*4096^2 + 2*4096*1024.
    assert ea.attention_params(4096, 32, 32, 128) == 67_108_864
    assert ea.attention_params(4096, 32, 8, 128) == 2 * 4096 ** 2 + 2 * 4096 * 1024


def test_flops_match_torch_flop_counter():
    torch.manual_seed(0)
    n, d, h, h_kv = 24, 32, 4, 2
    dh = d // h
    x = torch.randn(1, n, d)
    wq, wk, wv, wo = torch.randn(d, d), torch.randn(h_kv * dh, d), torch.randn(h_kv * dh, d), torch.randn(d, d)
    with FlopCounterMode(display=False) as counter:
        q = F.linear(x, wq).view(1, n, h, dh).transpose(1, 2)
        k = F.linear(x, wk).view(1, n, h_kv, dh).transpose(1, 2).repeat_interleave(h // h_kv, 1)
        v = F.linear(x, wv).view(1, n, h_kv, dh).transpose(1, 2).repeat_interleave(h // h_kv, 1)
        p = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dh), -1)
        F.linear((p @ v).transpose(1, 2).reshape(1, n, d), wo)
    assert ea.attention_flops(n, d, h, h_kv, dh)["total"] == counter.get_total_flops()


def test_quadratic_term_overtakes_projections_beyond_2d():
    d = 1024
    at = lambda n: ea.attention_flops(n, d, 8, 8, 128)     # noqa: E731
    # 8 n d^2 (projections) vs 4 n^2 d (Q K^T and P V): equal at n = 2d.
    c = at(2 * d)
    assert c["projections"] == c["scores"] + c["weighted_sum"]
    assert at(4 * d)["scores"] * 2 > at(4 * d)["projections"]


def test_online_softmax_matches_torch_even_with_huge_logits():
    torch.manual_seed(1)
    x = torch.randn(3, 37) * 5
    x[0, 30] = 1000.0                                  # exp(1000) overflows without max subtraction
    for block in (1, 4, 8, 37, 64):
        torch.testing.assert_close(ea.online_softmax(x, block), torch.softmax(x, -1))


def test_tiled_attention_matches_sdpa_for_many_block_sizes():
    torch.manual_seed(2)
    q, k, v = torch.randn(2, 3, 29, 16), torch.randn(2, 3, 29, 16), torch.randn(2, 3, 29, 16)
    for causal in (False, True):
        ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        scores = q @ k.transpose(-2, -1) / 4.0
        if causal:
            scores = scores.masked_fill(torch.ones(29, 29, dtype=torch.bool).triu(1), float("-inf"))
        for bq, bk in ((1, 1), (4, 4), (8, 5), (16, 32), (29, 29), (64, 64)):
            out, lse = ea.tiled_attention(q, k, v, bq, bk, causal=causal)
            torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(lse, torch.logsumexp(scores, -1), atol=1e-5, rtol=1e-5)


def test_tiled_attention_with_fewer_queries_than_keys():
    torch.manual_seed(3)
    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 40, 8), torch.randn(1, 2, 40, 8)
    out, _ = ea.tiled_attention(q, k, v, 2, 7)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


def test_linear_attention_recurrence_equals_quadratic_form():
    torch.manual_seed(4)
    q, k, v = (torch.randn(2, 2, 11, 6, dtype=torch.float64) for _ in range(3))
    # Oracle: the "attention-like" form, phi(Q) phi(K)^T masked causally and row-normalized.
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    a = (phi_q @ phi_k.transpose(-2, -1)).tril()
    expected = (a @ v) / (a.sum(-1, keepdim=True) + 1e-6)
    torch.testing.assert_close(ea.causal_linear_attention(q, k, v), expected)


def test_split_k_merge_matches_sdpa_any_split_any_order():
    torch.manual_seed(11)
    q, k, v = torch.randn(2, 3, 64), torch.randn(2, 100, 64), torch.randn(2, 100, 64)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    cuts = (0, 1, 37, 38, 100)                                          # includes a 1-key split
    parts = [ea.partial_attention(q, k[:, a:b], v[:, a:b]) for a, b in zip(cuts, cuts[1:])]
    out, lse = ea.merge_states([o for o, _ in parts], [l for _, l in parts])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(lse, torch.logsumexp(q @ k.transpose(-2, -1) / 8.0, -1))
    rev, _ = ea.merge_states([o for o, _ in parts][::-1], [l for _, l in parts][::-1])
    torch.testing.assert_close(rev, ref, atol=1e-5, rtol=1e-5)          # order-independent


def test_fully_masked_split_and_row_give_no_nan():
    torch.manual_seed(12)
    q, k, v = torch.randn(4, 16), torch.randn(10, 16), torch.randn(10, 16)
    mask = torch.ones(4, 10, dtype=torch.bool)
    mask[:, 5:] = False                                                 # the second split is fully masked
    mask[3] = False                                                     # query 3 sees no key at all
    a = ea.partial_attention(q, k[:5], v[:5], mask[:, :5])
    b = ea.partial_attention(q, k[5:], v[5:], mask[:, 5:])
    assert torch.isinf(b[1]).all() and not torch.isnan(b[0]).any()
    out, _ = ea.merge_states([a[0], b[0]], [a[1], b[1]])
    assert not torch.isnan(out).any()
    ref = torch.nn.functional.scaled_dot_product_attention(q[:3], k[:5], v[:5])
    torch.testing.assert_close(out[:3], ref, atol=1e-5, rtol=1e-5)
    assert torch.equal(out[3], torch.zeros(16))                         # defined as 0, not NaN
    # the naive rescale without the guard is exactly the NaN the guard prevents
    m = torch.tensor(float("-inf"))
    assert torch.isnan(torch.exp(m - m))


def test_long_context_memory_by_hand():
    gib, mib = 2**30, 2**20
    n = 131072
    # Llama-3-8B-like layer: 2 * 8 * 128 * 2 bytes = 4 KiB per token per layer; 32 layers = 128 KiB/token
    assert ea.decode_state_bytes(n, ["full"] * 32) == 16 * gib
    assert ea.decode_state_bytes(n, ["window"] * 32) == 512 * mib               # 4096 tokens, 32x less
    assert ea.decode_state_bytes(1000, ["window"]) == ea.decode_state_bytes(1000, ["full"])  # below window
    lin = ea.decode_state_bytes(n, ["linear"])                                  # 32 * 128 * 128 * 2 = 1 MiB
    assert lin == mib and ea.decode_state_bytes(10 * n, ["linear"]) == lin     # independent of length
    assert ea.decode_state_bytes(n, ["linear"] * 24 + ["full"] * 8) == 4 * gib + 24 * mib
    assert ea.decode_state_bytes(n, ["linear"] * 28 + ["full"] * 4) == 2 * gib + 28 * mib


def test_online_softmax_any_leading_dims_and_first_element():
    # "softmax over the last dim": leading dims (2, 3) as well as (rows,), and a flat row, where the
    # first element carries exactly 1/37 of the mass (a block loop that skips it would give 1/36).
    torch.manual_seed(5)
    x = torch.randn(2, 3, 37, dtype=torch.float64) * 3
    x[0, 0] = 0.0
    x[1, 2, 0] = 40.0                                          # the first element is the maximum
    for block in (1, 5, 37):
        out = ea.online_softmax(x, block)
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, torch.softmax(x, -1))
        torch.testing.assert_close(out[0, 0], torch.full((37,), 1 / 37, dtype=torch.float64))


def test_tiled_attention_in_float64_and_linear_attention_with_batch_ne_heads():
    # float64 inputs give float64 outputs and logsumexp, exact to float64 rounding
    torch.manual_seed(6)
    q, k, v = (torch.randn(2, 3, 21, 8, dtype=torch.float64) for _ in range(3))
    out, lse = ea.tiled_attention(q, k, v, 4, 6, causal=True)
    assert out.dtype == lse.dtype == torch.float64
    scores = (q @ k.transpose(-2, -1) / 8 ** 0.5).masked_fill(torch.ones(21, 21, dtype=torch.bool).triu(1),
                                                              float("-inf"))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lse, torch.logsumexp(scores, -1), rtol=1e-12, atol=1e-12)
    # batch 2, 3 heads: the recurrent state is per (batch, head)
    phi_q, phi_k = F.elu(q) + 1, F.elu(k) + 1
    a = (phi_q @ phi_k.transpose(-2, -1)).tril()
    torch.testing.assert_close(ea.causal_linear_attention(q, k, v), (a @ v) / (a.sum(-1, keepdim=True) + 1e-6))


def test_split_k_merge_with_large_logits():
    # scores of several hundred: exp(lse) overflows float32 (above ~88), so the merge has to weight
    # splits by exp(lse_i - L), never by exp(lse_i) itself
    torch.manual_seed(13)
    q, k, v = torch.randn(2, 3, 16) * 20, torch.randn(2, 40, 16) * 20, torch.randn(2, 40, 16)
    parts = [ea.partial_attention(q, k[:, a:b], v[:, a:b]) for a, b in ((0, 15), (15, 40))]
    out, lse = ea.merge_states([o for o, _ in parts], [l for _, l in parts])
    assert lse.min() > 100
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)


# bf16 / fp16 inputs: like torch.softmax and F.scaled_dot_product_attention, the output keeps the input dtype
# and matches a float64 computation on the same (rounded) inputs to within a few ulps of that dtype
# (bf16: 8 mantissa bits, ulp 2**-7 at 1; fp16: 11 bits, ulp 2**-10 at 1).
HALF_ATOL = {torch.bfloat16: 3e-2, torch.float16: 4e-3}


def test_online_softmax_half_precision_keeps_dtype_and_matches_float64():
    torch.manual_seed(7)
    x = torch.randn(3, 40) * 3
    for dt, atol in HALF_ATOL.items():
        xl = x.to(dt)
        out = ea.online_softmax(xl, 8)
        assert out.dtype == dt
        torch.testing.assert_close(out.double(), torch.softmax(xl.double(), -1), atol=atol / 3, rtol=atol)


def test_tiled_and_linear_attention_half_precision_keep_dtype_and_match_float64():
    torch.manual_seed(8)
    q, k, v = (torch.randn(1, 2, 24, 16) for _ in range(3))
    causal_mask = torch.ones(24, 24, dtype=torch.bool).triu(1)
    for dt, atol in HALF_ATOL.items():
        ql, kl, vl = (t.to(dt) for t in (q, k, v))
        qd, kd, vd = (t.double() for t in (ql, kl, vl))
        for causal in (False, True):
            out, lse = ea.tiled_attention(ql, kl, vl, 8, 8, causal=causal)
            assert out.dtype == lse.dtype == dt
            scores = qd @ kd.transpose(-2, -1) / 4.0
            if causal:
                scores = scores.masked_fill(causal_mask, float("-inf"))
            torch.testing.assert_close(out.double(), F.scaled_dot_product_attention(qd, kd, vd, is_causal=causal),
                                       atol=atol, rtol=atol)
            torch.testing.assert_close(lse.double(), torch.logsumexp(scores, -1), atol=atol, rtol=atol)
        out = ea.causal_linear_attention(ql, kl, vl)
        assert out.dtype == dt
        phi_q, phi_k = F.elu(qd) + 1, F.elu(kd) + 1
        a = (phi_q @ phi_k.transpose(-2, -1)).tril()
        torch.testing.assert_close(out.double(), (a @ vd) / (a.sum(-1, keepdim=True) + 1e-6), atol=atol, rtol=atol)
