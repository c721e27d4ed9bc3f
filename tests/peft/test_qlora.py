"""Tests for snippets/peft/qlora.py.

Oracles: the NF4 table printed in the QLoRA paper (appendix) / bitsandbytes, a worst-case
error bound computed from the level gaps, and the paper's bit accounting for double quantization.
"""
import torch

from snippets import load

q = load("peft/qlora")

# Dettmers et al. 2023, QLoRA, Appendix E (NormalFloat 4-bit data type), as in bitsandbytes.
PAPER_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
             -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
             0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
             0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0]


def test_levels_match_paper_table():
    torch.testing.assert_close(q.nf4_levels(), torch.tensor(PAPER_NF4, dtype=torch.float64),
                               rtol=0, atol=1e-6)
    assert len(set(q.nf4_levels().tolist())) == 16          # 4 bits, all used
    assert 0.0 in q.nf4_levels().tolist()                   # exact zero (padding, zeros stay zero)


def test_dequantization_error_is_bounded_by_half_the_largest_gap():
    torch.manual_seed(0)
    w = torch.randn(64 * 200) * 0.02
    codes, absmax = q.quantize_nf4(w, block=64)
    w_hat = q.dequantize_nf4(codes, absmax, w.shape)
    levels = torch.tensor(PAPER_NF4)
    half_gap = (levels[1:] - levels[:-1]).max() / 2          # 0.152 (between -1 and -0.696)
    bound = absmax.repeat_interleave(64) * half_gap
    assert ((w_hat - w).abs() <= bound + 1e-7).all()
    assert codes.max() <= 15
    # The absmax of each block is represented exactly (level +-1).
    blocks = w.reshape(-1, 64)
    idx = blocks.abs().argmax(dim=1)
    torch.testing.assert_close(w_hat.reshape(-1, 64).gather(1, idx[:, None]),
                               blocks.gather(1, idx[:, None]))


def test_levels_round_trip_exactly():
    x = torch.tensor(PAPER_NF4 * 4, dtype=torch.float32) * 3.0   # 64 values, absmax 3
    codes, absmax = q.quantize_nf4(x, block=64)
    torch.testing.assert_close(q.dequantize_nf4(codes, absmax, x.shape), x)


def test_double_quant_bits_and_65b_saving_by_hand():
    assert q.quant_constant_bits(64, double=False) == 0.5                  # 32 / 64
    dq = q.quant_constant_bits(64, double=True, block2=256)
    assert abs(dq - (8 / 64 + 32 / (64 * 256))) < 1e-15 and round(dq, 3) == 0.127
    saving_gb = (0.5 - dq) * 65e9 / 8 / 1e9
    assert abs(saving_gb - 3.03) < 0.01                                    # paper: ~3 GB for 65B


def test_double_quantization_reconstructs_constants():
    torch.manual_seed(1)
    w = torch.randn(64 * 512) * 0.02
    _, absmax = q.quantize_nf4(w)
    codes, scale, mean = q.double_quantize(absmax, block2=256)
    rec = q.double_dequantize(codes, scale, mean)
    # symmetric int8: error <= half a step = scale / 2 per block of 256
    assert ((rec - absmax).abs() <= scale.repeat_interleave(256) / 2 + 1e-9).all()
    assert codes.dtype == torch.int8
