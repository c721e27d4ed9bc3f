"""Tests for snippets/compression/low_precision.py: format maxima against torch.finfo, E2M1 rounding
against a brute-force nearest-value search with the spec's tie rule, an MXFP4 block worked by hand
(OCP MX v1.0: X = 2^(floor(log2 amax) - 2)), E4M3 rounding against torch.float8_e4m3fn, and
per-tensor vs block-wise error on a tensor with an outlier against hand-computed counts."""
import math

import pytest
import torch

from snippets import load

lp = load("compression/low_precision")

GRID = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]


def test_float_max_matches_torch_finfo():
    assert lp.float_max(4, 3, "fn") == torch.finfo(torch.float8_e4m3fn).max == 448.0
    assert lp.float_max(5, 2, "ieee") == torch.finfo(torch.float8_e5m2).max == 57344.0
    assert lp.float_max(5, 2) == 57344.0                        # IEEE-style is the default convention
    assert lp.float_max(2, 1, "finite") == 6.0 == GRID[-1]
    # OCP MX v1.0 FP6 formats (no Inf/NaN): E2M3 max 7.5, E3M2 max 28
    assert lp.float_max(2, 3, "finite") == 7.5 and lp.float_max(3, 2, "finite") == 28.0
    # and against a dtype round trip: the max is representable, the next step up is not kept
    assert torch.tensor(448.0).to(torch.float8_e4m3fn).float().item() == 448.0


def _brute_e2m1(v: float) -> float:
    a = min(abs(v), 6.0)
    d = [abs(a - g) for g in GRID]
    best = min(d)
    codes = [i for i in range(8) if d[i] == best]
    even = [i for i in codes if i % 2 == 0]
    return math.copysign(GRID[(even or codes)[0]], v)


def test_round_e2m1_against_bruteforce_including_ties():
    vals = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 6.5, 100.0, -1.25, -5.0, 0.1, 2.9, 4.9]
    got = lp.round_e2m1(torch.tensor(vals)).tolist()
    assert got == [_brute_e2m1(v) for v in vals]
    # ties by hand: 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 1.75 -> 2, 2.5 -> 2, 3.5 -> 4, 5 -> 4
    assert got[:7] == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0]


def test_mxfp4_hand_block():
    blk = torch.tensor([0.1, -0.3, 1.0, 2.5, 5.0, 10.0, -7.0, 0.0])
    q, scale = lp.mxfp4_quantize(blk, block=8)
    # amax 10: floor(log2 10) = 3, shared exponent 3 - 2 = 1, X = 2
    assert scale.item() == 2.0
    # v / X = 0.05, -0.15, 0.5, 1.25, 2.5, 5, -3.5, 0 -> 0, -0, 0.5, 1, 2, 4, -4, 0 (ties to even codes)
    assert q.flatten().tolist() == [0.0, -0.0, 0.5, 1.0, 2.0, 4.0, -4.0, 0.0]
    assert lp.mx_dequantize(q, scale, blk.shape).tolist() == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, -8.0, 0.0]
    # the scale is a power of two: exactly representable as E8M0
    assert scale.to(torch.float8_e8m0fnu).float().item() == 2.0


def test_mxfp4_saturates_values_just_below_the_next_power_of_two():
    # amax 15 -> X = 2^(3-2) = 2; 15 / 2 = 7.5 saturates to 6 -> 12 (20% error on the largest value)
    q, scale = lp.mxfp4_quantize(torch.tensor([15.0] + [1.0] * 31))
    assert scale.item() == 2.0 and (q[0, 0] * scale[0, 0]).item() == 12.0


def test_round_e4m3_matches_torch_float8():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.rand(2000, generator=g) * 500, torch.rand(500, generator=g) * 0.05,
                   torch.tensor([0.0, 2.0 ** -9, 1.5 * 2.0 ** -9, 2.0 ** -6, 240.0, 448.0, 460.0])])
    ref = x.clamp(max=448.0).to(torch.float8_e4m3fn).float()
    torch.testing.assert_close(lp.round_e4m3(x), ref, rtol=0, atol=0)
    # saturating, not NaN: E4M3 (fn) has no infinity, so out-of-range values, even inf, become 448
    assert lp.round_e4m3(torch.tensor([float("inf"), 1e30, 465.0])).tolist() == [448.0, 448.0, 448.0]


def test_nvfp4_block_scales_and_grid():
    torch.manual_seed(1)
    x = torch.randn(64) * torch.tensor([0.01, 1.0, 10.0, 0.1]).repeat_interleave(16)
    q, bs, s = lp.nvfp4_quantize(x)
    assert abs(s.item() - 448 * 6 / x.abs().max().item()) < 1e-3 * s.item()
    # block scales are E4M3 values of amax_b / 6 * s (oracle: torch's FP8 cast)
    ref = (x.reshape(-1, 16).abs().amax(-1, keepdim=True) / 6 * s).to(torch.float8_e4m3fn).float()
    torch.testing.assert_close(bs, ref, rtol=0, atol=0)
    assert set(q.abs().flatten().tolist()) <= set(GRID)
    rt = lp.nvfp4_dequantize(q, bs, s, x.shape)
    # each block's own largest magnitude survives to within the E4M3 scale rounding (2^-4 relative)
    for b in range(4):
        blk, rblk = x[16 * b:16 * (b + 1)], rt[16 * b:16 * (b + 1)]
        i = blk.abs().argmax()
        assert abs(rblk[i] - blk[i]) <= 2 ** -4 * abs(blk[i]) + 1e-9


def test_mxfp4_scale_exponent_is_clamped_to_e8m0_range():
    # E8M0 encodes 2^-127 .. 2^127. A block of tiny values (amax 2^-130, float32 subnormal) gets the
    # smallest scale 2^-127, not 2^-132: its elements are 2^-3 of a scale step and round to 0
    q, scale = lp.mxfp4_quantize(torch.full((32,), 2.0 ** -130))
    assert scale.item() == 2.0 ** -127 and torch.equal(q, torch.zeros(1, 32))
    # a normal block next to it is not affected: amax 3 -> X = 2^(1 - 2) = 0.5
    q, scale = lp.mxfp4_quantize(torch.cat([torch.full((32,), 2.0 ** -130), torch.full((32,), -3.0)]))
    assert scale.flatten().tolist() == [2.0 ** -127, 0.5] and q[1].tolist() == [-6.0] * 32


@pytest.mark.parametrize("amax_exp, scale_exp, element", [
    (-124, -126, 4.0),      # X = 2^(-124 - 2): inside the E8M0 range, the element is 2^2 = 4
    (-125, -127, 4.0),      # X = 2^-127 exactly: the smallest E8M0 scale, not yet clamped
    (-126, -127, 2.0),      # 2^-128 would be needed: clamped to 2^-127, so the element is 2, not 4
])
def test_mxfp4_scale_at_the_lower_e8m0_bound(amax_exp, scale_exp, element):
    # float32 holds 2^-126 as a normal number; the scale's exponent floor(log2 amax) - 2 crosses -127 there
    q, scale = lp.mxfp4_quantize(torch.full((32,), 2.0 ** amax_exp))
    assert scale.item() == 2.0 ** scale_exp and q[0, 0].item() == element
    assert scale.to(torch.float8_e8m0fnu).float().item() == 2.0 ** scale_exp     # an E8M0 value


@pytest.mark.parametrize("amax_exp, element", [(129, 4.0), (130, 6.0), (200, 6.0)])
def test_mxfp4_scale_at_the_upper_e8m0_bound(amax_exp, element):
    # E8M0's largest scale is 2^127 (code 0xFF is NaN). Float64 blocks can exceed float32's range: amax 2^129
    # needs exactly 2^127; 2^130 and up would need more, get 2^127, and their elements saturate at 6.
    x = torch.full((32,), 2.0 ** amax_exp, dtype=torch.float64)
    q, scale = lp.mxfp4_quantize(x)
    assert scale.item() == 2.0 ** 127 and q[0, 0].item() == element
    assert scale.to(torch.float8_e8m0fnu).double().item() == 2.0 ** 127
    assert torch.isnan(torch.tensor(2.0 ** 128, dtype=torch.float64).to(torch.float8_e8m0fnu).double())


def test_fp8_round_trip_saturates_both_signs():
    s = lp.delayed_scale([11.0])
    assert lp.fp8_round_trip(torch.tensor([-60.0, 60.0]), s).tolist() == pytest.approx([-11.0, 11.0], rel=1e-6)
    # a smaller fp8_max (E4M3 at 240, as some hardware uses) saturates there
    assert lp.fp8_round_trip(torch.tensor([-1000.0, 1000.0]), 1.0, fp8_max=240.0).tolist() == [-240.0, 240.0]


def test_nvfp4_all_zero_block_stays_zero():
    # a block of zeros (e.g. pruned or padded) gets block scale 0: it must decode to 0, not 0/0 = nan
    x = torch.cat([torch.zeros(16), torch.linspace(-3, 3, 16)])
    q, bs, s = lp.nvfp4_quantize(x)
    assert bs[0].item() == 0.0 and torch.equal(q[0], torch.zeros(16))
    rt = lp.nvfp4_dequantize(q, bs, s, x.shape)
    assert torch.isfinite(rt).all() and torch.equal(rt[:16], torch.zeros(16))
    # a whole tensor of zeros (amax 0): the per-tensor scale must stay finite, or 0 * inf = nan scales
    q, bs, s = lp.nvfp4_quantize(torch.zeros(32))
    assert math.isfinite(s.item()) and torch.equal(bs, torch.zeros(2, 1)) and torch.equal(q, torch.zeros(2, 16))
    assert torch.equal(lp.nvfp4_dequantize(q, bs, s, torch.Size([32])), torch.zeros(32))
    # a tiny but non-zero tensor still maps its amax onto E4M3's largest value, 448
    q, bs, s = lp.nvfp4_quantize(torch.full((16,), 3e-9))
    assert bs.item() == 448.0 and q.flatten().tolist() == [6.0] * 16
    # a block far below the tensor's amax gets an E4M3 scale that rounds to 0: its elements are stored as 0
    q, bs, s = lp.nvfp4_quantize(torch.cat([torch.full((16,), 1e-6), torch.full((16,), 1e3)]))
    assert bs[0].item() == 0.0 and torch.equal(q[0], torch.zeros(16))
    # MX too: an all-zero block decodes to zeros
    qm, sm = lp.mxfp4_quantize(torch.zeros(32))
    assert torch.equal(lp.mx_dequantize(qm, sm, torch.Size([32])), torch.zeros(32))


def test_outlier_per_tensor_vs_block_hand_counts():
    x = torch.ones(64)
    x[5] = 100.0
    # per tensor: scale 100/6, every 1 becomes 0.06 of a step -> rounds to 0: 63 values lost
    per_tensor = lp.fake_quant_fp4(x)
    assert int((per_tensor == 0).sum()) == 63 and per_tensor[5].item() == 100.0
    # blocks of 16: only the 15 ones sharing the outlier's block are lost, the other 48 are exact
    blocked = lp.fake_quant_fp4(x, block=16)
    assert int((blocked == 0).sum()) == 15
    assert torch.equal(blocked[16:], torch.ones(48))
    # a tensor whose amax is below 1: amax maps to 6 (scale 0.3 / 6 = 0.05) and 0.1 to the grid value 2
    torch.testing.assert_close(lp.fake_quant_fp4(torch.tensor([0.3, 0.1])), torch.tensor([0.3, 0.1]))


def test_delayed_scaling_misses_a_spike_current_scaling_does_not():
    # the largest amax (11) is NOT the most recent one (9): the scale must use the max of the history
    s = lp.delayed_scale([10.0, 11.0, 9.0])            # 448 / 11
    assert abs(s - 448 / 11) < 1e-12
    spike = torch.tensor([60.0])
    # 60 * 448/11 > 448 -> saturates -> comes back as 11
    assert abs(lp.fp8_round_trip(spike, s).item() - 11.0) < 1e-5
    # scale from the current amax: 60 maps to 448 exactly and returns as 60
    assert abs(lp.fp8_round_trip(spike, lp.delayed_scale([60.0])).item() - 60.0) < 1e-5
    # margin 1 halves the scale and leaves a factor-2 headroom
    assert lp.delayed_scale([10.0], margin=1) == 22.4


def test_stochastic_rounding_is_unbiased_and_rne_is_not():
    g = torch.Generator().manual_seed(0)
    x = torch.full((40000,), 1.25)
    sr = lp.stochastic_round_e2m1(x, g)
    assert set(sr.unique().tolist()) == {1.0, 1.5}             # only the two neighbours
    assert abs(sr.mean().item() - 1.25) < 0.01                  # E[SR(x)] = x
    assert lp.round_e2m1(torch.tensor(1.25)).item() == 1.0      # RNE: biased by -0.25 every time
    # negative values and the top of the range
    assert abs(lp.stochastic_round_e2m1(torch.full((40000,), -5.0), g).mean().item() + 5.0) < 0.02
    assert lp.stochastic_round_e2m1(torch.tensor([6.0, 9.0]), g).tolist() == [6.0, 6.0]
    # the draws come from the generator passed in, not the global RNG: same seed, same result
    torch.manual_seed(1)
    a = lp.stochastic_round_e2m1(torch.full((64,), 2.5), torch.Generator().manual_seed(5))
    torch.manual_seed(2)
    b = lp.stochastic_round_e2m1(torch.full((64,), 2.5), torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and set(a.tolist()) == {2.0, 3.0}


def test_stochastic_rounding_leaves_grid_values_alone_even_when_rand_draws_zero():
    # A value already on the E2M1 grid has p(up) = 0 (or hi = x at 6), so it must come back unchanged
    # for every draw, including torch.rand's exact 0.0 (probability 2^-24 per element): "rand <= p"
    # would move it up one step there. Find a seed whose 2^20 draws contain a 0.0 (about 1 in 16 do).
    n = 2 ** 20
    seed = next((s for s in range(200) if (torch.rand(n, generator=torch.Generator().manual_seed(s)) == 0).any()),
                None)
    assert seed is not None, "no seed in range(200) gives an exact 0.0 in 2^20 torch.rand draws"
    grid = torch.cat([lp.E2M1_GRID, -lp.E2M1_GRID])
    x = grid[torch.arange(n) % 16]
    out = lp.stochastic_round_e2m1(x, torch.Generator().manual_seed(seed))
    assert torch.equal(out, x)


@pytest.mark.parametrize("n", [1, 2, 4, 8, 32])
def test_hadamard_every_power_of_two_matches_scipy(n):
    from scipy.linalg import hadamard as scipy_hadamard
    torch.testing.assert_close(lp.hadamard(n), torch.tensor(scipy_hadamard(n), dtype=torch.float32) / math.sqrt(n))


@pytest.mark.parametrize("n", [0, 3, 6, 12, -4])
def test_hadamard_rejects_a_size_that_is_not_a_power_of_two(n):
    with pytest.raises(ValueError, match=f"power of two, got {n}"):
        lp.hadamard(n)


def test_hadamard_matches_scipy_and_helps_an_outlier_block():
    from scipy.linalg import hadamard as scipy_hadamard
    h = lp.hadamard(16)
    torch.testing.assert_close(h, torch.tensor(scipy_hadamard(16), dtype=torch.float32) / 4.0)
    torch.testing.assert_close(h @ h.T, torch.eye(16))
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(16, generator=g), torch.randn(16, generator=g)
    x[3] = 12.0                                                 # one outlier in a 16-element block
    # the rotation is free for a dot product along the rotated (inner) dimension
    torch.testing.assert_close((h @ x) @ (h @ w), x @ w)

    def crest(v):
        return (v.abs().max() / v.pow(2).mean().sqrt()).item()
    # a one-hot block has the largest possible crest factor sqrt(16) = 4; rotated it is flat (1)
    e = torch.zeros(16)
    e[0] = 1.0
    assert abs(crest(e) - 4.0) < 1e-6 and abs(crest(h @ e) - 1.0) < 1e-6
    assert crest(h @ x) < crest(x)
