"""Tests for snippets/peft/qlora.py.

Oracles: the NF4 table printed in the QLoRA paper (appendix) / bitsandbytes, the same quantiles from
scipy.stats.norm.ppf in float64, nearest levels picked by hand, a worst-case error bound computed from the
level gaps, and the paper's bit accounting for double quantization.
"""
import numpy as np
import pytest
import torch
from scipy.stats import norm

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


def test_levels_are_float64_quantiles_from_scipy():
    # The recipe of the paper (and bitsandbytes' create_normal_map), computed in float64 with scipy:
    # 8 positive quantiles, 7 negative ones, an exact 0, divided by the largest |value|.
    for offset in (0.9677083, 0.99):
        pos = norm.ppf(np.linspace(offset, 0.5, 9)[:-1])
        neg = -norm.ppf(np.linspace(offset, 0.5, 8)[:-1])
        v = np.sort(np.concatenate([pos, [0.0], neg]))
        v = v / np.abs(v).max()
        got = q.nf4_levels(offset)
        assert got.dtype == torch.float64
        np.testing.assert_allclose(got.numpy(), v, rtol=0, atol=1e-12)


def test_nearest_level_by_hand():
    # absmax 1 (the first value); each value sits just on one side of a midpoint between two levels
    # of the paper's table: 0.5 < (0.4407 + 0.5626) / 2 = 0.5017 < 0.51, -0.61065 is the midpoint of
    # -0.6962 and -0.5251, 0.0398 that of 0 and 0.0796.
    vals = [1.0, 0.5, 0.51, -0.6, -0.62, 0.039, 0.041, -1.0, 0.0, -0.04, -0.05]
    want = [15, 12, 13, 2, 1, 7, 8, 0, 7, 7, 6]
    x = torch.tensor(vals + [0.0] * (64 - len(vals))).reshape(4, 16)   # any shape with numel % 64 == 0
    codes, absmax = q.quantize_nf4(x)                                  # default block 64
    assert codes.dtype == torch.uint8 and codes.shape == (1, 64)
    assert absmax.dtype == torch.float32 and absmax.tolist() == [1.0]
    assert codes[0, :len(vals)].tolist() == want
    assert q.dequantize_nf4(codes, absmax, x.shape).shape == (4, 16)


def test_negative_absmax_and_all_zero_block():
    # absmax is of |w|: a block whose largest magnitude is negative scales by that magnitude;
    # an all-zero block (padding) stays exactly zero, with no NaN from 0 / 0.
    x = torch.cat([torch.linspace(-4.0, 1.0, 32), torch.zeros(32)])
    codes, absmax = q.quantize_nf4(x, block=32)
    assert absmax.tolist() == [4.0, pytest.approx(0.0, abs=1e-12)]
    w_hat = q.dequantize_nf4(codes, absmax, x.shape)
    assert w_hat[0] == -4.0 and torch.equal(w_hat[32:], torch.zeros(32))
    assert codes[1].tolist() == [7] * 32


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
    assert q.quant_constant_bits(double=False) == 0.5                      # default block1 64
    assert q.quant_constant_bits(32, double=False) == 1.0
    assert q.quant_constant_bits() == 8 / 64 + 32 / (64 * 256)             # defaults: DQ, 64, 256, 8 bits
    assert q.quant_constant_bits(128, block2=64, bits_c2=4) == 4 / 128 + 32 / (128 * 64)
    dq = q.quant_constant_bits(64, double=True, block2=256)
    assert abs(dq - (8 / 64 + 32 / (64 * 256))) < 1e-15 and round(dq, 3) == 0.127
    saving_gb = (0.5 - dq) * 65e9 / 8 / 1e9
    assert abs(saving_gb - 3.03) < 0.01                                    # paper: ~3 GB for 65B


def test_double_quantization_reconstructs_constants():
    torch.manual_seed(1)
    w = torch.randn(64 * 512) * 0.02
    _, absmax = q.quantize_nf4(w)
    codes, scale, mean = q.double_quantize(absmax)                   # default block2 256
    assert codes.shape == (2, 256) and scale.shape == (2,)
    rec = q.double_dequantize(codes, scale, mean)
    torch.testing.assert_close(mean, absmax.mean())
    # symmetric int8 over the centred constants: step = max |c| / 127 per block of 256, error <= half a step
    c = (absmax - absmax.mean()).reshape(2, 256)
    step = c.abs().amax(dim=1) / 127
    torch.testing.assert_close(scale, step)
    assert ((rec - absmax).abs().reshape(2, 256) <= step[:, None] / 2 + 1e-9).all()
    assert codes.dtype == torch.int8
    assert codes.abs().amax(dim=1).tolist() == [127, 127]            # the full int8 range is used


def test_double_quantization_by_hand():
    # 4 constants, mean 2.5, centred [-1.5, -0.5, 0.5, 1.5], blocks of 2: block 1 is [-1.5, -0.5]
    # (step 1.5/127: codes -127 and round(-42.33) = -42), block 2 is [0.5, 1.5] (codes 42 and 127)
    absmax = torch.tensor([1.0, 2.0, 3.0, 4.0])
    codes, scale, mean = q.double_quantize(absmax, block2=2)
    assert codes.tolist() == [[-127, -42], [42, 127]]
    torch.testing.assert_close(scale, torch.tensor([1.5 / 127, 1.5 / 127]))
    assert mean.item() == 2.5
    torch.testing.assert_close(q.double_dequantize(codes, scale, mean),
                               torch.tensor([1.0, 2.5 - 42 * 1.5 / 127, 2.5 + 42 * 1.5 / 127, 4.0]))
    # equal constants: centred to 0, no 0 / 0
    codes, scale, mean = q.double_quantize(torch.full((4,), 0.3), block2=4)
    assert codes.tolist() == [[0, 0, 0, 0]]
    torch.testing.assert_close(q.double_dequantize(codes, scale, mean), torch.full((4,), 0.3))
