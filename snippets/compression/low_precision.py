"""FP4 and FP8 formats: MXFP4 and NVFP4 block quantisation, the largest value of a small float
format, and per-tensor delayed scaling vs fine-grained (block-wise) scaling.

Pages: docs/compression/low_precision.{zh,en}.md
"""
from __future__ import annotations

import math

import torch

# The 8 non-negative E2M1 (FP4) values; code i has mantissa bit i & 1.
E2M1_GRID = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0])


# --8<-- [start:float_max]
def float_max(exp_bits: int, man_bits: int, convention: str = "ieee") -> float:
    """Largest finite value of a small float format with bias 2^(exp_bits-1) - 1.

    ieee:   top exponent field reserved for Inf/NaN (E5M2).
    fn:     top exponent usable, only the all-ones mantissa there is NaN (OCP FP8 E4M3).
    finite: no Inf/NaN encodings at all (FP4 E2M1).
    """
    bias = 2 ** (exp_bits - 1) - 1
    top = 2 ** exp_bits - 1
    if convention == "ieee":
        return (2 - 2 ** -man_bits) * 2.0 ** (top - 1 - bias)
    if convention == "fn":
        return (2 - 2 ** (1 - man_bits)) * 2.0 ** (top - bias)
    return (2 - 2 ** -man_bits) * 2.0 ** (top - bias)
# --8<-- [end:float_max]


# --8<-- [start:mxfp4]
def round_e2m1(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest E2M1 value, saturating at +-6; ties go to the even code (RNE)."""
    mag = x.abs().clamp(max=6.0)
    dist = (mag.unsqueeze(-1) - E2M1_GRID).abs()             # (..., 8)
    best = dist.min(-1, keepdim=True).values
    tie_ok = (dist == best)
    even_first = tie_ok & (torch.arange(8) % 2 == 0)          # prefer an even code among ties
    code = torch.where(even_first.any(-1), even_first.float().argmax(-1), tie_ok.float().argmax(-1))
    return torch.sign(x) * E2M1_GRID[code]


def mxfp4_quantize(x: torch.Tensor, block: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """OCP MX: per block of `block` elements one E8M0 scale X = 2^(floor(log2 amax) - 2)
    (2 = exponent of E2M1's largest normal, 6 = 1.5 * 2^2); elements = round_e2m1(v / X).
    Returns (E2M1 values, power-of-two scales), shaped (n_blocks, block) and (n_blocks, 1)."""
    v = x.reshape(-1, block)
    amax = v.abs().amax(-1, keepdim=True)
    exp = torch.floor(torch.log2(amax.clamp(min=2.0 ** -127))) - 2
    scale = torch.exp2(exp.clamp(-127, 127))
    return round_e2m1(v / scale), scale


def mx_dequantize(q: torch.Tensor, scale: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    return (q * scale).reshape(shape)
# --8<-- [end:mxfp4]


# --8<-- [start:nvfp4]
def round_e4m3(x: torch.Tensor) -> torch.Tensor:
    """Round non-negative values to FP8 E4M3 (3 mantissa bits, min normal 2^-6, subnormal step
    2^-9, saturate at 448), round-half-to-even."""
    x = x.clamp(0, 448.0)
    e = torch.floor(torch.log2(x.clamp(min=2.0 ** -6)))       # subnormals share the 2^-6 binade
    step = torch.exp2(e - 3)
    return (torch.round(x / step) * step).clamp(max=448.0)


def nvfp4_quantize(x: torch.Tensor, block: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NVFP4: E2M1 elements, one E4M3 scale per 16 elements, one FP32 scale per tensor.

    The per-tensor scale s = 448 * 6 / amax(tensor) maps block scales amax_b / 6 into E4M3's range;
    each block stores round_e4m3(amax_b / 6 * s) and decodes with that value / s.
    Returns (E2M1 values, E4M3 block scales, per-tensor scale)."""
    v = x.reshape(-1, block)
    s = 448.0 * 6.0 / x.abs().max().clamp(min=1e-12)
    block_scale = round_e4m3(v.abs().amax(-1, keepdim=True) / 6.0 * s)
    decode = block_scale / s
    q = round_e2m1(torch.where(decode > 0, v / decode, torch.zeros_like(v)))
    return q, block_scale, s


def nvfp4_dequantize(q: torch.Tensor, block_scale: torch.Tensor, s: torch.Tensor,
                     shape: torch.Size) -> torch.Tensor:
    return (q * block_scale / s).reshape(shape)
# --8<-- [end:nvfp4]


# --8<-- [start:scaling]
def fake_quant_fp4(x: torch.Tensor, block: int | None = None) -> torch.Tensor:
    """Absmax FP4 round trip with real-valued scales: one scale per tensor (block=None) or per block."""
    v = x.reshape(1, -1) if block is None else x.reshape(-1, block)
    scale = v.abs().amax(-1, keepdim=True).clamp(min=1e-12) / 6.0
    return (round_e2m1(v / scale) * scale).reshape(x.shape)


def delayed_scale(amax_history: list[float], fp8_max: float = 448.0, margin: int = 0) -> float:
    """Transformer Engine-style delayed scaling: scale from the max of PAST amaxes, so that
    amax * scale = fp8_max / 2^margin. The current tensor is not looked at."""
    return fp8_max / max(amax_history) / 2 ** margin


def fp8_round_trip(x: torch.Tensor, scale: float, fp8_max: float = 448.0) -> torch.Tensor:
    """Scale, saturate to +-fp8_max, round to E4M3, unscale."""
    y = (x * scale).clamp(-fp8_max, fp8_max)
    return torch.sign(y) * round_e4m3(y.abs()) / scale
# --8<-- [end:scaling]


# --8<-- [start:fp4_training]
def stochastic_round_e2m1(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Round to one of the two neighbouring E2M1 values, the upper one with probability
    (|x| - lo) / (hi - lo), so E[result] = x (unbiased; used for gradients in FP4 training)."""
    mag = x.abs().clamp(max=6.0)
    idx = (torch.searchsorted(E2M1_GRID, mag, right=True) - 1).clamp(max=6)
    lo, hi = E2M1_GRID[idx], E2M1_GRID[idx + 1]
    up = torch.rand(x.shape, generator=generator) < (mag - lo) / (hi - lo)
    return torch.sign(x) * torch.where(up, hi, lo)


def hadamard(n: int) -> torch.Tensor:
    """Orthonormal Sylvester-Hadamard matrix (n a power of two): H @ H.T = I. Rotating both GEMM
    operands along the inner dimension leaves the product unchanged ((Hx).(Hw) = x.w) and spreads an
    outlier over all n entries, shrinking the block's max/RMS ratio."""
    k = n.bit_length() - 1                                     # n = 2^k
    if n < 1 or n != 2 ** k:
        raise ValueError(f"hadamard: n must be a power of two, got {n}")
    h = torch.ones(1, 1)
    for _ in range(k):                                         # Sylvester: [[H, H], [H, -H]]
        h = torch.cat([torch.cat([h, h], 1), torch.cat([h, -h], 1)], 0)
    return h / math.sqrt(n)
# --8<-- [end:fp4_training]


if __name__ == "__main__":
    print("E4M3 max", float_max(4, 3, "fn"), "E5M2 max", float_max(5, 2), "E2M1 max", float_max(2, 1, "finite"))
    blk = torch.tensor([0.1, -0.3, 1.0, 2.5, 5.0, 10.0, -7.0, 0.0])
    q, sc = mxfp4_quantize(blk, block=8)
    print("MXFP4 block", blk.tolist(), "-> scale", sc.item(), "->", mx_dequantize(q, sc, blk.shape).tolist())
    torch.manual_seed(0)
    w = torch.randn(4096)
    w[7] = 40.0                                                # one outlier
    for name, rt in [("per-tensor FP4", fake_quant_fp4(w)), ("MXFP4 (32)", mx_dequantize(*mxfp4_quantize(w), w.shape)),
                     ("NVFP4 (16)", nvfp4_dequantize(*nvfp4_quantize(w), w.shape))]:
        print(f"{name:15s} relative RMSE {((rt - w).norm() / w.norm()).item():.3f}")
    g = torch.Generator().manual_seed(0)
    sr = stochastic_round_e2m1(torch.full((10000,), 1.25), g)
    print("1.25 -> RNE", round_e2m1(torch.tensor(1.25)).item(), "| SR mean", round(sr.mean().item(), 3))
    s = delayed_scale([10.0, 11.0, 9.0])
    print("delayed scale", round(s, 2), "-> a spike of 60 comes back as", fp8_round_trip(torch.tensor([60.0]), s).item())
