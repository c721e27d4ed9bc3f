"""INT8 / INT4 quantisation basics: absmax (symmetric) and zero-point (asymmetric),
per-tensor vs per-channel vs per-group scales, and the FP8 formats.

Pages: docs/compression/quantization.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:absmax]
def absmax_quantize(x: torch.Tensor, bits: int = 8, dim: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric quantisation: q = round(x / s), s = max|x| / (2^(bits-1) - 1), zero maps to 0.

    dim=None: one scale for the whole tensor (per-tensor); dim=k: one scale per index of
    dimension k (per-channel; for a weight (out, in) use dim=0 = per output channel).
    Returns (q as int8/int32 values, scale broadcastable to x).
    """
    qmax = 2 ** (bits - 1) - 1
    if dim is None:
        amax = x.abs().max()
    else:
        other = [d for d in range(x.dim()) if d != dim % x.dim()]
        amax = x.abs().amax(dim=other, keepdim=True)
    scale = amax.clamp(min=1e-12) / qmax
    q = torch.clamp(torch.round(x / scale), -qmax, qmax)
    return q.to(torch.int8 if bits <= 8 else torch.int32), scale


def absmax_dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale
# --8<-- [end:absmax]


# --8<-- [start:zeropoint]
def zeropoint_quantize(x: torch.Tensor, bits: int = 8, dim: int | None = None
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Asymmetric quantisation onto [0, 2^bits - 1]: q = round(x / s) + z.

    s = (max - min) / (2^bits - 1), z = round(-min / s), so the range [min, max] uses every level
    (useful for one-sided data such as post-ReLU/GELU activations). Returns (q, scale, zero_point).
    """
    qmax = 2 ** bits - 1
    if dim is None:
        lo, hi = x.min(), x.max()
    else:
        other = [d for d in range(x.dim()) if d != dim % x.dim()]
        lo, hi = x.amin(dim=other, keepdim=True), x.amax(dim=other, keepdim=True)
    lo, hi = torch.minimum(lo, torch.zeros_like(lo)), torch.maximum(hi, torch.zeros_like(hi))  # keep 0 exact
    scale = (hi - lo).clamp(min=1e-12) / qmax
    zero_point = torch.round(-lo / scale)
    q = torch.clamp(torch.round(x / scale) + zero_point, 0, qmax)
    return q.to(torch.uint8 if bits <= 8 else torch.int32), scale, zero_point


def zeropoint_dequantize(q: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    return (q.float() - zero_point) * scale
# --8<-- [end:zeropoint]


# --8<-- [start:group]
def group_quantize(w: torch.Tensor, group_size: int = 128, bits: int = 4) -> torch.Tensor:
    """Weight-only per-group absmax quantisation (as in INT4 formats): every `group_size`
    consecutive input weights of a row share one scale. w: (out, in). Returns dequantised w."""
    out_f, in_f = w.shape
    groups = w.reshape(out_f, in_f // group_size, group_size)                 # (out, n_groups, group)
    qmax = 2 ** (bits - 1) - 1
    scale = groups.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / qmax   # (out, n_groups, 1)
    q = torch.clamp(torch.round(groups / scale), -qmax, qmax)
    return (q * scale).reshape(out_f, in_f)
# --8<-- [end:group]


def quant_error(x: torch.Tensor, x_hat: torch.Tensor) -> float:
    """Mean squared quantisation error."""
    return float((x - x_hat).pow(2).mean())


# --8<-- [start:fp8]
def fp8_roundtrip(x: torch.Tensor, fmt: str = "e4m3") -> torch.Tensor:
    """Per-tensor scaled FP8 cast: scale max|x| to the format's largest finite value, cast, cast back.
    E4M3: max 448, more mantissa (weights/activations); E5M2: max 57344, more range (gradients)."""
    dtype = torch.float8_e4m3fn if fmt == "e4m3" else torch.float8_e5m2
    scale = x.abs().max().clamp(min=1e-12) / torch.finfo(dtype).max
    return (x / scale).to(dtype).float() * scale
# --8<-- [end:fp8]


# --8<-- [start:kv_quant_cost]
def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, bits: int,
                       group_size: int | None = None, meta_bits: int = 32) -> float:
    """KV-cache bytes per token: K and V for every layer and KV head. Low-bit formats also store
    per-group metadata (`meta_bits`, e.g. fp16 scale + fp16 zero = 32 bits) per `group_size` values."""
    per_value = bits + (meta_bits / group_size if group_size else 0.0)
    return 2 * layers * kv_heads * head_dim * per_value / 8


def sequences_that_fit(kv_budget_gb: float, bytes_per_token: float, context: int) -> int:
    """How many sequences of `context` tokens fit in the KV budget (GB = 1e9 bytes)."""
    return int(kv_budget_gb * 1e9 // (bytes_per_token * context))
# --8<-- [end:kv_quant_cost]


if __name__ == "__main__":
    torch.manual_seed(0)
    # a weight whose output channels have very different ranges
    w = torch.randn(64, 256) * torch.logspace(-2, 0, 64).unsqueeze(1)
    q, s = absmax_quantize(w)
    qc, sc = absmax_quantize(w, dim=0)
    print(f"INT8 per-tensor MSE {quant_error(w, absmax_dequantize(q, s)):.2e}  "
          f"per-channel MSE {quant_error(w, absmax_dequantize(qc, sc)):.2e}")
    a = torch.relu(torch.randn(1000))                               # one-sided activations
    qa, sa = absmax_quantize(a, bits=4)
    qz, sz, zz = zeropoint_quantize(a, bits=4)
    print(f"INT4 on ReLU output: absmax MSE {quant_error(a, absmax_dequantize(qa, sa)):.2e}  "
          f"zero-point MSE {quant_error(a, zeropoint_dequantize(qz, sz, zz)):.2e}")
    w2 = torch.randn(64, 512)
    w2[:, 7] *= 20                                                   # one big input column
    qr, sr = absmax_quantize(w2, bits=4, dim=0)
    print(f"INT4 per-channel MSE {quant_error(w2, absmax_dequantize(qr, sr)):.2e}  "
          f"group-128 MSE {quant_error(w2, group_quantize(w2, 128, 4)):.2e}")
    x = torch.randn(4096)
    print(f"FP8 E4M3 MSE {quant_error(x, fp8_roundtrip(x, 'e4m3')):.2e}  E5M2 MSE {quant_error(x, fp8_roundtrip(x, 'e5m2')):.2e}")
    for name, b, g in (("FP16", 16, None), ("FP8", 8, None), ("INT4 g32", 4, 32), ("INT2 g32", 2, 32)):
        per_tok = kv_bytes_per_token(32, 8, 128, b, g)                   # Llama-3-8B shape
        print(f"Llama-3-8B KV {name:9s} {per_tok / 1024:6.1f} KiB/token -> "
              f"{sequences_that_fit(56, per_tok, 8192)} sequences of 8K in 56 GB")
