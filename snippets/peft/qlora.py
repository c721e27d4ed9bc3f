"""QLoRA building blocks: the NF4 code book, block-wise NF4 quantization and double quantization.

Pages: docs/peft/qlora.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:nf4_levels]
def nf4_levels(offset: float = 0.9677083) -> torch.Tensor:
    """The 16 NF4 values: quantiles of N(0, 1), normalized to [-1, 1], with an exact 0.

    8 positive levels from quantiles of linspace(offset, 0.5, 9)[:-1], 7 negative from
    linspace(offset, 0.5, 8)[:-1] (asymmetric so that 0 is representable), plus 0.
    """
    pos = torch.special.ndtri(torch.linspace(offset, 0.5, 9, dtype=torch.float64)[:-1])
    neg = -torch.special.ndtri(torch.linspace(offset, 0.5, 8, dtype=torch.float64)[:-1])
    v = torch.cat([pos, torch.zeros(1, dtype=torch.float64), neg]).sort().values
    return v / v.abs().max()
# --8<-- [end:nf4_levels]


# --8<-- [start:nf4_quant]
def quantize_nf4(w: torch.Tensor, block: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Block-wise absmax NF4: each block of `block` weights is scaled by its absmax
    into [-1, 1] and each value is replaced by the index of the nearest NF4 level.

    w: any shape with numel divisible by block. Returns (codes uint8 (n_blocks, block),
    absmax float32 (n_blocks,)). Real kernels pack two 4-bit codes per byte.
    """
    x = w.reshape(-1, block).float()
    absmax = x.abs().amax(dim=1).clamp_min(1e-12)              # (n_blocks,)
    levels = nf4_levels().float()
    codes = ((x / absmax[:, None])[..., None] - levels).abs().argmin(dim=-1)
    return codes.to(torch.uint8), absmax


def dequantize_nf4(codes: torch.Tensor, absmax: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Inverse of quantize_nf4 (done on the fly in QLoRA's forward, into bf16)."""
    return (nf4_levels().float()[codes.long()] * absmax[:, None]).reshape(shape)
# --8<-- [end:nf4_quant]


# --8<-- [start:double_quant]
def quant_constant_bits(block1: int = 64, double: bool = True, block2: int = 256,
                        bits_c2: int = 8) -> float:
    """Extra bits per weight spent on quantization constants.

    Without DQ: one fp32 absmax per block1 weights = 32 / block1.
    With DQ: 8-bit absmax per block1 weights, plus one fp32 constant per block2 of them.
    """
    if not double:
        return 32 / block1
    return bits_c2 / block1 + 32 / (block1 * block2)


def double_quantize(absmax: torch.Tensor, block2: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Quantize the first-level constants: subtract their mean (they are all positive),
    then symmetric 8-bit absmax per block of `block2`. Returns (int8 codes, fp32 scales, mean).
    The paper uses an 8-bit float format; int8 keeps the sketch short."""
    mean = absmax.mean()
    c = (absmax - mean).reshape(-1, block2)
    scale = c.abs().amax(dim=1).clamp_min(1e-12) / 127           # (n_blocks2,)
    q = torch.round(c / scale[:, None]).to(torch.int8)
    return q, scale, mean


def double_dequantize(q: torch.Tensor, scale: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    return (q.float() * scale[:, None]).reshape(-1) + mean
# --8<-- [end:double_quant]


if __name__ == "__main__":
    print("NF4 levels:", [round(v, 4) for v in nf4_levels().tolist()])
    torch.manual_seed(0)
    w = torch.randn(256, 256) * 0.02
    codes, absmax = quantize_nf4(w)
    err = (dequantize_nf4(codes, absmax, w.shape) - w).abs()
    print(f"NF4 mean |error| {err.mean():.2e} vs mean |w| {w.abs().mean():.2e}")
    for dq in (False, True):
        bits = quant_constant_bits(double=dq)
        print(f"double quant={dq}: {bits:.3f} extra bits/weight -> "
              f"{bits * 65e9 / 8 / 1e9:.2f} GB of constants for a 65B model")
