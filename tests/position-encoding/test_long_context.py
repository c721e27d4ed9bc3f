"""Tests for snippets/position-encoding/long_context.py: hand-computed memory, a loop-built mask with
F.scaled_dot_product_attention, and needle placement by hand."""
import pytest
import torch
import torch.nn.functional as F

from snippets import load

lc = load("position-encoding/long_context")


def test_kv_cache_by_hand():
    # Llama-3.1-8B: 2 * 32 * 8 * 128 * 2 B = 128 KiB per token; x 131072 tokens = 16 GiB.
    assert lc.kv_cache_gib(131072, 32, 8, 128) == 16.0
    # LLaMA-2-7B-style MHA (32 KV heads): 4x more, 64 GiB; batch of 4 at 32k tokens: 4 * 16 = 64 GiB too.
    assert lc.kv_cache_gib(131072, 32, 32, 128) == 64.0
    assert lc.kv_cache_gib(32768, 32, 32, 128, batch=4) == 64.0


def test_sink_window_mask_matches_loop_definition_and_sdpa():
    seq, window, n_sink = 12, 4, 2
    expected = torch.zeros(seq, seq, dtype=torch.bool)
    for i in range(seq):
        for j in range(i + 1):
            expected[i, j] = (i - j < window) or (j < n_sink)
    mask = lc.sink_window_mask(seq, window, n_sink)
    assert torch.equal(mask, expected)
    assert int(mask.sum(-1).max()) == window + n_sink                # bounded cache per query
    # StreamingLLM's default keeps 4 sink tokens: row 9 of a window of 3 sees 0-3 (sinks) and 7-9
    assert lc.sink_window_mask(10, 3)[9].nonzero().flatten().tolist() == [0, 1, 2, 3, 7, 8, 9]
    assert lc.sink_window_mask(10, 3, n_sink=0)[9].nonzero().flatten().tolist() == [7, 8, 9]
    # With window >= seq and no sinks needed, it is plain causal attention.
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, 2, seq, 8) for _ in range(3))
    torch.testing.assert_close(
        F.scaled_dot_product_attention(q, k, v, attn_mask=lc.sink_window_mask(seq, seq, 0)),
        F.scaled_dot_product_attention(q, k, v, is_causal=True))


def test_needle_position_and_recall():
    filler = [f"S{i}." for i in range(20)]
    for depth, k in ((0.0, 0), (0.25, 5), (0.5, 10), (1.0, 20)):
        text, idx = lc.build_needle_prompt(filler, "NEEDLE.", depth)
        assert idx == k and text.split(" ")[k] == "NEEDLE." and len(text.split(" ")) == 21
    assert lc.needle_recall(["It is 4217.", "no idea", "4217"], "4217") == 2 / 3
    # nearest sentence boundary, rounded: 0.33 * 20 = 6.6 -> 7, 0.12 * 20 = 2.4 -> 2
    assert lc.build_needle_prompt(filler, "N.", 0.33)[1] == 7
    assert lc.build_needle_prompt(filler, "N.", 0.12)[1] == 2
    # case-insensitive both ways
    assert lc.needle_recall(["The Code Is Blue", "blue", "red"], "BLUE") == 2 / 3
    for depth in (-0.01, 1.01):
        with pytest.raises(ValueError, match=r"^depth must be in \[0, 1\]$"):
            lc.build_needle_prompt(filler, "N.", depth)


def test_attention_flops_match_torch_flop_counter():
    """12 * h * T FLOPs per token per layer for QK^T and PV, forward + backward, counted by torch."""
    from torch.utils.flop_counter import FlopCounterMode
    heads, seq, head_dim = 4, 64, 16
    q, k, v = (torch.randn(1, heads, seq, head_dim, requires_grad=True) for _ in range(3))
    with FlopCounterMode(display=False) as counter:
        out = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        out.sum().backward()
    hidden = heads * head_dim
    total, share = lc.train_flops_per_token(0.0, 1, hidden, seq)
    assert counter.get_total_flops() == total * seq          # per token x tokens, one layer
    assert share == 1.0


def test_long_stage_cost_by_hand():
    # 7B: 6N = 4.044e10; attention at 128K = 12 * 32 * 4096 * 131072 = 2.0616e11 -> 84 %
    total, share = lc.train_flops_per_token(6.74e9, 32, 4096, 131072)
    assert total == 6 * 6.74e9 + 12 * 32 * 4096 * 131072
    assert round(share, 3) == 0.836
    # at 4K the same model spends 13.7 %, and a 128K token costs 5.26x a 4K token
    short, short_share = lc.train_flops_per_token(6.74e9, 32, 4096, 4096)
    assert round(short_share, 3) == 0.137 and round(total / short, 2) == 5.26
    # 5B tokens: 5e9 * 2.4660e11 / (0.4 * 989e12) / 3600 = 866 GPU-hours
    assert round(lc.long_stage_gpu_hours(6.74e9, 32, 4096, 131072, 5e9)) == 866
    # 1B tokens (the low end of the short answer's 1-5B budget): 1e9 * 2.4660e11 / 3.956e14 / 3600 = 173
    assert round(lc.long_stage_gpu_hours(6.74e9, 32, 4096, 131072, 1e9)) == 173
    # to the FLOP: 989e12 FLOP/s is the H100 SXM dense BF16 peak, 3600 s an hour, default MFU 40 %
    assert lc.long_stage_gpu_hours(6.74e9, 32, 4096, 131072, 5e9) == pytest.approx(
        5e9 * (6 * 6.74e9 + 12 * 32 * 4096 * 131072) / (0.4 * 989e12) / 3600, rel=1e-12)
    assert lc.long_stage_gpu_hours(1e9, 1, 1024, 1024, 1e9, mfu=0.5, peak_flops=1e15) == pytest.approx(
        1e9 * (6e9 + 12 * 1024 * 1024) / 0.5e15 / 3600, rel=1e-12)
