"""Tests for snippets/transformer/multi_head.py: nn.MultiheadAttention, F.scaled_dot_product_attention(enable_gqa),
hand-computed KV-cache sizes, and the MLA absorption identity."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snippets import load

mh = load("transformer/multi_head")


def test_mha_matches_nn_multiheadattention_with_copied_weights():
    torch.manual_seed(0)
    d, h = 32, 4
    ref = nn.MultiheadAttention(d, h, batch_first=True)
    nn.init.normal_(ref.in_proj_bias)
    nn.init.normal_(ref.out_proj.bias)
    mine = mh.GroupedQueryAttention(d, h)                   # n_kv_heads defaults to n_heads: plain MHA
    wq, wk, wv = ref.in_proj_weight.chunk(3)
    bq, bk, bv = ref.in_proj_bias.chunk(3)
    with torch.no_grad():
        for lin, w, b in ((mine.q_proj, wq, bq), (mine.k_proj, wk, bk), (mine.v_proj, wv, bv),
                          (mine.o_proj, ref.out_proj.weight, ref.out_proj.bias)):
            lin.weight.copy_(w)
            lin.bias.copy_(b)
    x = torch.randn(3, 7, d)
    expected, _ = ref(x, x, x, need_weights=False)
    torch.testing.assert_close(mine(x), expected, atol=1e-5, rtol=1e-5)
    causal = torch.ones(7, 7, dtype=torch.bool).triu(1)      # True = masked, nn.MultiheadAttention convention
    expected_c, _ = ref(x, x, x, attn_mask=causal, need_weights=False)
    torch.testing.assert_close(mine(x, causal=True), expected_c, atol=1e-5, rtol=1e-5)


def test_gqa_and_mqa_match_sdpa_enable_gqa():
    torch.manual_seed(1)
    d, h = 48, 6
    x = torch.randn(2, 5, d)
    for n_kv in (3, 2, 1):
        m = mh.GroupedQueryAttention(d, h, n_kv, bias=False)
        b, s, dh = 2, 5, d // h
        q = m.q_proj(x).view(b, s, h, dh).transpose(1, 2)
        k = m.k_proj(x).view(b, s, n_kv, dh).transpose(1, 2)
        v = m.v_proj(x).view(b, s, n_kv, dh).transpose(1, 2)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        expected = m.o_proj(o.transpose(1, 2).reshape(b, s, d))
        torch.testing.assert_close(m(x, causal=True), expected, atol=1e-5, rtol=1e-5)


def test_gqa_projection_sizes():
    m = mh.GroupedQueryAttention(4096, 32, 8, bias=False)    # Llama-3-8B attention shapes
    assert m.k_proj.weight.shape == (1024, 4096) and m.q_proj.weight.shape == (4096, 4096)
    # 4096*4096*2 (q, o) + 4096*1024*2 (k, v) = 41,943,040 parameters, by hand
    assert sum(p.numel() for p in m.parameters()) == 41_943_040


def test_kv_cache_sizes_by_hand():
    # LLaMA-2-7B: 32 layers, 32 heads x 128, fp16: 2*32*32*128*2 = 524,288 B = 0.5 MiB per token.
    assert mh.kv_cache_bytes_per_token(32, 32, 128, 2) == 524_288
    # Llama-3-8B: 8 KV heads -> a quarter of that; MQA (1 KV head) -> 1/32.
    assert mh.kv_cache_bytes_per_token(32, 8, 128, 2) == 131_072
    assert mh.kv_cache_bytes_per_token(32, 1, 128, 2) == 16_384
    # 4k tokens of LLaMA-2-7B cache = 2 GiB.
    assert mh.kv_cache_bytes_per_token(32, 32, 128, 2) * 4096 == 2 * 2 ** 30
    # DeepSeek-V2: d_c = 512, d_h^R = 64 -> 576 elements per layer; MHA with 128 heads x 128 dims -> 32,768;
    # 576 / (2 * 128) = 2.25, the paper's "GQA with only 2.25 groups".
    mla = mh.mla_cache_bytes_per_token(1, 512, 64, bytes_per_elem=1)
    assert mla == 576
    assert mh.kv_cache_bytes_per_token(1, 128, 128, 1) == 32_768
    assert mla / (2 * 128) == 2.25


def test_mla_absorbed_scores_equal_naive_scores():
    torch.manual_seed(2)
    heads, q_len, k_len, d_c, dh = 4, 3, 10, 16, 8
    q = torch.randn(heads, q_len, dh, dtype=torch.float64)
    c = torch.randn(k_len, d_c, dtype=torch.float64)
    w_uk = torch.randn(heads, d_c, dh, dtype=torch.float64)
    # Oracle: build each head's keys with an explicit loop.
    expected = torch.stack([q[i] @ (c @ w_uk[i]).T for i in range(heads)])
    torch.testing.assert_close(mh.mla_scores_naive(q, c, w_uk), expected)
    torch.testing.assert_close(mh.mla_scores_absorbed(q, c, w_uk), expected)


# --- cross-layer attention (CLA) ----------------------------------------------------------------

def test_kv_cache_bytes_by_hand():
    # Llama-3-8B shape: 32 layers, head_dim 128, bf16 (2 bytes), 32,768 tokens, batch 1.
    tok = 32768
    assert mh.kv_cache_bytes(32, 32, 128, tok) == 2 * 32 * 32 * 128 * 2 * tok == 16 * 2 ** 30   # MHA
    assert mh.kv_cache_bytes(32, 8, 128, tok) == 4 * 2 ** 30                                    # GQA-8
    assert mh.kv_cache_bytes(32, 1, 128, tok) == 512 * 2 ** 20                                  # MQA
    assert mh.kv_cache_bytes(32, 8, 128, tok, cla_share=2) == 2 * 2 ** 30                       # GQA-8 + CLA2
    assert mh.kv_cache_bytes(32, 1, 128, tok, cla_share=2) == 256 * 2 ** 20                     # MQA + CLA2
    # An odd layer count with share 2 keeps ceil(L / 2) caches: 3 layers -> 2 caches.
    assert mh.kv_cache_bytes(3, 1, 4, 1, cla_share=2) == 2 * 2 * 1 * 4 * 2
    # Per token, per-layer form agrees with the existing function.
    assert mh.kv_cache_bytes(32, 8, 128, 1) == mh.kv_cache_bytes_per_token(32, 8, 128)


@pytest.mark.parametrize("n_kv_heads,share,n_layers", [(8, 2, 4), (2, 2, 4), (1, 3, 5), (4, 1, 2)])
def test_cla_forward_matches_sdpa_with_shared_kv(n_kv_heads, share, n_layers):
    torch.manual_seed(share * 10 + n_kv_heads)
    d, h, b, s = 64, 8, 2, 7
    m = mh.CrossLayerAttention(d, h, n_kv_heads, n_layers, share).double()
    x = torch.randn(b, s, d, dtype=torch.float64)
    out, cache = m(x)
    assert len(cache) == -(-n_layers // share)
    # Oracle: the same weights, attention by F.scaled_dot_product_attention (enable_gqa), where
    # layer i uses the K/V computed by layer share * (i // share) from that layer's input.
    dh = d // h
    y = x
    for i in range(n_layers):
        if i % share == 0:
            w_kv = m.kv[i // share].weight                       # (2 * n_kv * dh, d)
            kv = y @ w_kv.T
            k = kv[..., : n_kv_heads * dh].view(b, s, n_kv_heads, dh).transpose(1, 2)
            v = kv[..., n_kv_heads * dh:].view(b, s, n_kv_heads, dh).transpose(1, 2)
            torch.testing.assert_close(cache[i // share][0], k)
            torch.testing.assert_close(cache[i // share][1], v)
        q = (y @ m.q[i].weight.T).view(b, s, h, dh).transpose(1, 2)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        y = y + a.transpose(1, 2).reshape(b, s, d) @ m.o[i].weight.T
    torch.testing.assert_close(out, y)


def test_cla_share_1_is_an_ordinary_gqa_stack():
    # With share = 1 every layer owns its K/V: the first layer equals GroupedQueryAttention
    # (bias-free) with the same weights, plus the residual.
    torch.manual_seed(7)
    d, h, g = 32, 4, 2
    cla = mh.CrossLayerAttention(d, h, g, n_layers=1, share=1)
    gqa = mh.GroupedQueryAttention(d, h, g, bias=False)
    with torch.no_grad():
        gqa.q_proj.weight.copy_(cla.q[0].weight)
        gqa.k_proj.weight.copy_(cla.kv[0].weight[: g * d // h])
        gqa.v_proj.weight.copy_(cla.kv[0].weight[g * d // h:])
        gqa.o_proj.weight.copy_(cla.o[0].weight)
    x = torch.randn(2, 6, d)
    torch.testing.assert_close(cla(x)[0], x + gqa(x, causal=True))
# --- head count vs head size vs KV heads ----------------------------------------------------

def _count_attention_forward_flops(d, h, kv, dh, s):
    """FLOPs of an explicit GQA forward pass, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode
    wq, wk, wv = nn.Linear(d, h * dh, bias=False), nn.Linear(d, kv * dh, bias=False), nn.Linear(d, kv * dh, bias=False)
    wo = nn.Linear(h * dh, d, bias=False)
    x = torch.randn(1, s, d)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        q = wq(x).view(1, s, h, dh).transpose(1, 2)
        k = wk(x).view(1, s, kv, dh).transpose(1, 2).repeat_interleave(h // kv, dim=1)
        v = wv(x).view(1, s, kv, dh).transpose(1, 2).repeat_interleave(h // kv, dim=1)
        p = (q @ k.transpose(-2, -1) / dh ** 0.5).softmax(-1)
        wo((p @ v).transpose(1, 2).reshape(1, s, h * dh))
    n_params = sum(m.weight.numel() for m in (wq, wk, wv, wo))
    return counter.get_total_flops(), n_params


@pytest.mark.parametrize("h,kv,dh", [(4, 4, 16), (8, 8, 8), (16, 16, 4), (8, 2, 8), (4, 1, 32)])
def test_attention_costs_match_flop_counter(h, kv, dh):
    d, s = 64, 24
    flops, n_params = _count_attention_forward_flops(d, h, kv, dh, s)
    c = mh.attention_layer_costs(d, h, kv, dh, s)
    assert c["params"] == n_params
    assert (c["proj_flops"] + c["score_flops"]) * s == flops


def test_score_flops_do_not_depend_on_the_head_split():
    # at fixed h * dh = d_model the attention-score FLOPs are the same for every split
    splits = [(4, 16), (8, 8), (16, 4)]
    assert len({_count_attention_forward_flops(64, h, h, dh, 24)[0] for h, dh in splits}) == 1


def test_rank_of_one_head_is_capped_by_head_dim():
    torch.manual_seed(0)
    s, dh = 32, 4
    q, k = torch.randn(s, dh, dtype=torch.float64), torch.randn(s, dh, dtype=torch.float64)
    assert torch.linalg.matrix_rank(q @ k.T).item() == mh.attention_layer_costs(64, 16, 16, dh, s)["rank_per_head"] == 4
    # ...and by the sequence: 6 keys of a 16-dim head give a 6 x 6 score matrix, rank 6
    s, dh = 6, 16
    q, k = torch.randn(s, dh, dtype=torch.float64), torch.randn(s, dh, dtype=torch.float64)
    assert torch.linalg.matrix_rank(q @ k.T).item() == mh.attention_layer_costs(64, 4, 4, dh, s)["rank_per_head"] == 6


def test_kv_bytes_for_real_configs_by_hand():
    # official config.json values: layers, KV heads, head_dim; bf16
    cases = {                       # (layers, kv_heads, head_dim) -> bytes per token, all layers
        "Llama-3-8B": ((32, 8, 128), 131_072),     # 2*8*128*2 = 4096 B/layer
        "Llama-3-70B": ((80, 8, 128), 327_680),
        "Qwen2.5-7B": ((28, 4, 128), 57_344),      # 2*4*128*2 = 2048 B/layer
        "Gemma-2-9B": ((42, 8, 256), 344_064),     # 2*8*256*2 = 8192 B/layer
    }
    for (layers, kv, dh), expected in cases.values():
        assert layers * mh.attention_layer_costs(4096, 32, kv, dh, 1)["kv_bytes"] == expected
        assert mh.kv_cache_bytes_per_token(layers, kv, dh) == expected


def test_cache_sizes_with_defaults_batch_and_bad_head_counts():
    # MLA default bf16: DeepSeek-V2's 576 elements per token per layer = 1,152 bytes; 60 layers = 69,120
    assert mh.mla_cache_bytes_per_token(1, 512, 64) == 1152
    assert mh.mla_cache_bytes_per_token(60, 512, 64, bytes_per_elem=2) == 69_120
    # the cache grows linearly with the batch: 4 sequences of 1,000 tokens, 2 layers, 8 x 128, bf16
    assert mh.kv_cache_bytes(2, 8, 128, 1000, batch=4) == 2 * 2 * 8 * 128 * 2 * 1000 * 4
    # query heads must split evenly into KV groups, and d_model into heads
    with pytest.raises(AssertionError):
        mh.GroupedQueryAttention(48, 6, 4)
    with pytest.raises(AssertionError):
        mh.GroupedQueryAttention(50, 6, 3)
