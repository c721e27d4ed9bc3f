"""Tests for snippets/compression/quantization.py against torch's fake-quantisation ops,
hand-computed examples, and the FP8 limits from torch.finfo."""
import torch

from snippets import load

qz = load("compression/quantization")


def test_absmax_hand_example():
    x = torch.tensor([-1.0, 0.5, 2.54])
    q, s = qz.absmax_quantize(x)
    # scale = 2.54 / 127 = 0.02; -1/0.02 = -50, 0.5/0.02 = 25, 2.54/0.02 = 127
    torch.testing.assert_close(s, torch.tensor(0.02))
    assert q.tolist() == [-50, 25, 127] and q.dtype == torch.int8


def test_zeropoint_hand_example():
    x = torch.tensor([0.0, 1.0, 2.55])
    q, s, z = qz.zeropoint_quantize(x)
    # range [0, 2.55] onto 0..255: scale 0.01, zero point 0
    torch.testing.assert_close(s, torch.tensor(0.01))
    assert z.item() == 0 and q.tolist() == [0, 100, 255]
    x2 = torch.tensor([-1.0, 0.0, 1.55])
    q2, s2, z2 = qz.zeropoint_quantize(x2)
    # range 2.55 -> scale 0.01, zero point round(1 / 0.01) = 100; -1 -> 0, 0 -> 100, 1.55 -> 255
    assert z2.item() == 100 and q2.tolist() == [0, 100, 255]


def test_zeropoint_non_integral_min_over_scale():
    # range [-0.3, 2.0]: scale = 2.3 / 255 = 0.0090196; -min / scale = 0.3 / 0.0090196 = 33.26 -> z = 33
    x = torch.tensor([-0.3, 0.0, 0.7, 2.0])
    q, s, z = qz.zeropoint_quantize(x)
    torch.testing.assert_close(s, torch.tensor(2.3 / 255))
    assert z.item() == 33.0                               # an integer: real zero is exactly representable
    assert q.tolist() == [0, 33, 33 + round(0.7 / (2.3 / 255)), 255]    # 0.7 / s = 77.6 -> 78 -> 111
    assert qz.zeropoint_dequantize(q, s, z)[1].item() == 0.0
    # 4 bits: scale = 2.3 / 15, z = round(0.3 / 0.15333) = round(1.96) = 2
    q4, s4, z4 = qz.zeropoint_quantize(x, bits=4)
    assert z4.item() == 2 and q4.max().item() == 15 and q4.tolist()[1] == 2


def test_zeropoint_matches_torch_minmax_observers():
    from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
    torch.manual_seed(5)
    for bits in (8, 4):
        qmax = 2 ** bits - 1
        x = torch.randn(300) * 1.7 + 0.6                  # min/scale is not an integer
        obs = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine, quant_min=0, quant_max=qmax)
        obs(x)
        ref_s, ref_z = obs.calculate_qparams()
        q, s, z = qz.zeropoint_quantize(x, bits=bits)
        torch.testing.assert_close(s.reshape(1), ref_s)
        assert int(z) == int(ref_z)
        ref = torch.fake_quantize_per_tensor_affine(x, float(ref_s), int(ref_z), 0, qmax)
        torch.testing.assert_close(qz.zeropoint_dequantize(q, s, z), ref)
    w = torch.randn(6, 50) * torch.rand(6, 1) * 3 - torch.rand(6, 1)
    obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.quint8, qscheme=torch.per_channel_affine)
    obs(w)
    ref_s, ref_z = obs.calculate_qparams()
    q, s, z = qz.zeropoint_quantize(w, dim=0)
    torch.testing.assert_close(s.flatten(), ref_s)
    assert z.flatten().int().tolist() == ref_z.tolist()


def test_absmax_matches_torch_fake_quantize_per_tensor():
    torch.manual_seed(0)
    x = torch.randn(32, 64)
    q, s = qz.absmax_quantize(x)
    ref = torch.fake_quantize_per_tensor_affine(x, float(s), 0, -127, 127)
    torch.testing.assert_close(qz.absmax_dequantize(q, s), ref)


def test_per_channel_matches_torch_fake_quantize_per_channel():
    torch.manual_seed(1)
    w = torch.randn(16, 40) * torch.rand(16, 1) * 5
    q, s = qz.absmax_quantize(w, dim=0)
    ref = torch.fake_quantize_per_channel_affine(w, s.flatten(), torch.zeros(16, dtype=torch.int32), 0, -127, 127)
    torch.testing.assert_close(qz.absmax_dequantize(q, s), ref)
    a = torch.randn(8, 40).abs() + torch.arange(8).unsqueeze(1)     # per-row asymmetric
    q2, s2, z2 = qz.zeropoint_quantize(a, dim=0)
    ref2 = torch.fake_quantize_per_channel_affine(a, s2.flatten(), z2.flatten().int(), 0, 0, 255)
    torch.testing.assert_close(qz.zeropoint_dequantize(q2, s2, z2), ref2)


def test_error_bounds_and_granularity():
    torch.manual_seed(2)
    w = torch.randn(64, 256) * torch.logspace(-2, 0, 64).unsqueeze(1)
    q, s = qz.absmax_quantize(w)
    # round-to-nearest: |error| <= scale / 2 everywhere
    assert ((w - qz.absmax_dequantize(q, s)).abs() <= s / 2 + 1e-7).all()
    qc, sc = qz.absmax_quantize(w, dim=0)
    e_tensor = qz.quant_error(w, qz.absmax_dequantize(q, s))
    e_chan = qz.quant_error(w, qz.absmax_dequantize(qc, sc))
    assert e_chan < e_tensor / 3            # rows with small range get their own, finer scale
    # per-group INT4 with group = full row is exactly per-channel INT4
    q4, s4 = qz.absmax_quantize(w, bits=4, dim=0)
    torch.testing.assert_close(qz.group_quantize(w, 256, 4), qz.absmax_dequantize(q4, s4))
    assert qz.quant_error(w, qz.group_quantize(w, 32, 4)) <= qz.quant_error(w, qz.absmax_dequantize(q4, s4))


def test_zero_point_beats_absmax_on_one_sided_data():
    torch.manual_seed(3)
    a = torch.relu(torch.randn(4096))
    qa, sa = qz.absmax_quantize(a, bits=4)       # half of the 15 levels sit on negatives never used
    qz_, sz, zz = qz.zeropoint_quantize(a, bits=4)
    assert qz.quant_error(a, qz.zeropoint_dequantize(qz_, sz, zz)) < 0.5 * qz.quant_error(a, qz.absmax_dequantize(qa, sa))


def test_fp8_limits_and_relative_error():
    assert torch.finfo(torch.float8_e4m3fn).max == 448.0
    assert torch.finfo(torch.float8_e5m2).max == 57344.0
    torch.manual_seed(4)
    x = torch.randn(10000) * 3
    for fmt, mant in (("e4m3", 3), ("e5m2", 2)):
        y = qz.fp8_roundtrip(x, fmt)
        normal = x.abs() > x.abs().max() / 2**6                   # away from the subnormal range
        rel = ((y - x).abs() / x.abs())[normal]
        assert rel.max() <= 2.0 ** -(mant + 1) + 1e-6           # half an ulp: 2^-(m+1)


def test_kv_quant_cost_by_hand():
    # Llama-3-8B: 32 layers x 8 KV heads x 128 dims x 2 (K, V) x 2 bytes = 131072 bytes = 128 KiB
    assert qz.kv_bytes_per_token(32, 8, 128, 16) == 131072
    assert qz.kv_bytes_per_token(32, 8, 128, 8) == 65536
    # 65536 values/token; INT4 with an fp16 scale + fp16 zero per 32 values: 4 + 1 = 5 bits/value
    assert qz.kv_bytes_per_token(32, 8, 128, 4, 32) == 65536 * 5 / 8 == 40960
    assert qz.kv_bytes_per_token(32, 8, 128, 2, 32) == 65536 * 3 / 8    # 3 bits/value, not 2
    # 56 GB / (131072 B * 8192) = 56e9 / 1.0737e9 = 52.15 -> 52 sequences; FP8 -> 104
    assert qz.sequences_that_fit(56, 131072, 8192) == 52
    assert qz.sequences_that_fit(56, 65536, 8192) == 104
    assert qz.sequences_that_fit(2.2, 131072, 8192) == 2                 # 2.2 GB holds two 1 GiB (1.074 GB) sequences
    assert qz.sequences_that_fit(2.1, 131072, 8192) == 1                 # 2.1 GB < 2 x 1.074 GB


def test_group_quantize_equals_per_channel_on_each_group():
    # every group of `group_size` consecutive weights of a row is its own "channel"
    torch.manual_seed(6)
    w = torch.randn(6, 32) * torch.logspace(-1, 1, 32)          # scales differ along the row
    q, s = qz.absmax_quantize(w.reshape(-1, 8), bits=4, dim=0)  # (6 * 4 groups, 8)
    torch.testing.assert_close(qz.group_quantize(w, 8, 4), qz.absmax_dequantize(q, s).reshape(6, 32))
    # by hand, one group of 4 at 4 bits: scale = 0.7 / 7 = 0.1 -> [0.7, -0.3, 0.1, 0.0] exactly on the grid
    g = torch.tensor([[0.7, -0.3, 0.1, 0.04, 8.0, 1.0, 0.0, 0.0]])
    torch.testing.assert_close(qz.group_quantize(g, 4, 4)[0, :4], torch.tensor([0.7, -0.3, 0.1, 0.0]))


def test_per_channel_along_last_axis_and_negative_dim():
    # dim=1 / dim=-1: one scale per column; reference is torch's per-channel fake quantisation on axis 1
    torch.manual_seed(7)
    w = torch.randn(5, 12) * torch.logspace(-2, 1, 12)           # columns with very different ranges
    for dim in (1, -1):
        q, s = qz.absmax_quantize(w, dim=dim)
        assert s.shape == (1, 12)
        torch.testing.assert_close(s.flatten(), w.abs().amax(dim=0) / 127)
        ref = torch.fake_quantize_per_channel_affine(w, s.flatten(), torch.zeros(12, dtype=torch.int32), 1, -127, 127)
        torch.testing.assert_close(qz.absmax_dequantize(q, s), ref)
        a = w + 3 * torch.rand(1, 12)                              # asymmetric per column
        q2, s2, z2 = qz.zeropoint_quantize(a, dim=dim)
        assert s2.shape == (1, 12)
        lo, hi = a.amin(dim=0).clamp(max=0), a.amax(dim=0).clamp(min=0)
        torch.testing.assert_close(s2.flatten(), (hi - lo) / 255)
        ref2 = torch.fake_quantize_per_channel_affine(a, s2.flatten(), z2.flatten().int(), 1, 0, 255)
        torch.testing.assert_close(qz.zeropoint_dequantize(q2, s2, z2), ref2)


def test_integer_dtype_holds_every_level():
    # bits <= 8 fits int8 / uint8; from 9 bits the levels (255 / 511, ...) need a wider type
    for bits in (4, 8, 9, 16):
        qmax = 2 ** (bits - 1) - 1
        x = torch.tensor([-1.0, 0.25, 1.0])
        q, s = qz.absmax_quantize(x, bits=bits)
        assert q.dtype == (torch.int8 if bits <= 8 else torch.int32), bits
        assert q.tolist() == [-qmax, round(qmax / 4), qmax], bits        # +-max|x| -> +-qmax, no wrap-around
        umax = 2 ** bits - 1
        u = torch.tensor([0.0, 0.25, 1.0]) * umax / 100               # one-sided: zero point 0, scale 0.01
        qu, su, zu = qz.zeropoint_quantize(u, bits=bits)
        assert qu.dtype == (torch.uint8 if bits <= 8 else torch.int32), bits
        assert zu.item() == 0 and qu.tolist() == [0, round(umax / 4), umax], bits
        torch.testing.assert_close(su, torch.tensor(0.01))


def test_zeropoint_clamps_when_both_ends_round_up():
    # scale 1/256 (exact), -min/s = 153.5 -> z = 154 (half to even), max/s = 101.5 -> 102: 102 + 154 = 256 > 255,
    # so the top level must be clamped to 255 (as torch's fake quantisation does), not wrap to 0 in uint8
    x = torch.tensor([-153.5, 0.0, 50.0, 101.5]) / 256
    q, s, z = qz.zeropoint_quantize(x)
    assert s.item() == 1 / 256 and z.item() == 154
    assert q.tolist() == [0, 154, 204, 255]
    ref = torch.fake_quantize_per_tensor_affine(x, 1 / 256, 154, 0, 255)
    torch.testing.assert_close(qz.zeropoint_dequantize(q, s, z), ref)
    w = x.reshape(1, 4).repeat(3, 1)                             # the same per channel
    qc, sc, zc = qz.zeropoint_quantize(w, dim=0)
    assert qc.tolist() == [[0, 154, 204, 255]] * 3


def test_absmax_and_group_stay_in_range_at_24_bits():
    # at 24 bits qmax = 2^23 - 1 is at fp32's resolution: 0.7 / (0.7 / qmax) rounds to 2^23 = qmax + 1,
    # so only the clamp keeps q in [-qmax, qmax] (torch's fake quantisation clamps the same way)
    qmax = 2 ** 23 - 1
    x = torch.tensor([0.7, -0.7, 0.1])
    q, s = qz.absmax_quantize(x, bits=24)
    assert q.dtype == torch.int32 and q.tolist()[:2] == [qmax, -qmax]
    ref = torch.fake_quantize_per_tensor_affine(x, float(s), 0, -qmax, qmax)
    torch.testing.assert_close(qz.absmax_dequantize(q, s), ref, rtol=0, atol=0)
    g = torch.tensor([[0.7, -0.7, 0.1, 0.0]])
    scale = torch.tensor(0.7) / qmax
    torch.testing.assert_close(qz.group_quantize(g, 4, 24)[0, :2], torch.stack([qmax * scale, -qmax * scale]),
                               rtol=0, atol=0)


def test_group_quantize_defaults_are_128_and_4_bits():
    torch.manual_seed(8)
    w = torch.randn(4, 256) * torch.logspace(-1, 1, 256)
    groups = w.reshape(-1, 128)                                  # 4 rows x 2 groups of 128
    scale = groups.abs().amax(dim=1, keepdim=True) / 7           # INT4: qmax = 7
    ref = torch.fake_quantize_per_channel_affine(groups, scale.flatten(), torch.zeros(8, dtype=torch.int32),
                                                 0, -7, 7).reshape(4, 256)
    torch.testing.assert_close(qz.group_quantize(w), ref)


def test_fp8_hand_values_and_default_format():
    # max|x| = 1 maps to 448 (E4M3) / 57344 (E5M2); 0.9375 -> 420 = 1.640625 * 2^8 -> E4M3 (3 mantissa bits)
    # rounds to 1.625 * 2^8 = 416 -> 416/448 = 13/14; in E5M2 53760 = 1.640625 * 2^15 rounds to 1.75 * 2^15 -> 1.0
    x = torch.tensor([1.0, 0.9375, -0.5])
    e4 = torch.tensor([1.0, 13 / 14, -0.5])
    torch.testing.assert_close(qz.fp8_roundtrip(x, "e4m3"), e4)
    torch.testing.assert_close(qz.fp8_roundtrip(x), e4)                       # default format is E4M3
    torch.testing.assert_close(qz.fp8_roundtrip(x, "e5m2"), torch.tensor([1.0, 1.0, -0.5]))
    # a tiny tensor is scaled up to the full range, not flushed to zero (2^-20 * 448 is below E4M3's 2^-9)
    tiny = x * 2.0 ** -20
    torch.testing.assert_close(qz.fp8_roundtrip(tiny), e4 * 2.0 ** -20, rtol=1e-6, atol=0)
    assert torch.equal(qz.fp8_roundtrip(torch.zeros(4)), torch.zeros(4))


def test_sequences_that_fit_at_the_byte_boundary():
    # one 8K sequence of FP16 Llama-3-8B KV = 131072 * 8192 = 2^30 bytes; GB = 1e9 bytes exactly
    assert qz.sequences_that_fit(2.147483648, 131072, 8192) == 2         # exactly 2 * 2^30 bytes
    assert qz.sequences_that_fit(2.147483647, 131072, 8192) == 1         # one byte short of two
    assert qz.sequences_that_fit(1.073741823, 131072, 8192) == 0


def test_small_tensors_use_their_own_range():
    # quantisation is scale-invariant: multiplying x by 2^-20 (tiny weights, max ~1e-6) gives the same levels;
    # the 1e-12 floor only guards an all-zero tensor
    x = torch.tensor([[-1.0, 0.3, 0.9], [0.05, -0.4, 0.2]])
    c = 2.0 ** -20
    q, s = qz.absmax_quantize(x)
    qt, st = qz.absmax_quantize(x * c)
    assert torch.equal(q, qt) and torch.equal(st, s * c)
    qc, sc = qz.absmax_quantize(x, dim=0)
    qct, sct = qz.absmax_quantize(x * c, dim=0)
    assert torch.equal(qc, qct) and torch.equal(sct, sc * c)
    qu, su, zu = qz.zeropoint_quantize(x, bits=4)
    qut, sut, zut = qz.zeropoint_quantize(x * c, bits=4)
    assert torch.equal(qu, qut) and torch.equal(zu, zut) and torch.equal(sut, su * c)
    assert torch.equal(qz.group_quantize(x * c, 3, 4), qz.group_quantize(x, 3, 4) * c)
    z, zs = qz.absmax_quantize(torch.zeros(3))
    assert z.tolist() == [0, 0, 0] and zs.item() > 0
