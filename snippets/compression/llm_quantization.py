"""LLM-specific post-training quantisation: LLM.int8() outlier decomposition, SmoothQuant
scale migration, and GPTQ's error-compensating column-by-column rounding.

Pages: docs/compression/llm_quantization.{zh,en}.md
Notation: X (tokens, d_in) activations, W (d_in, d_out) weights, Y = X W.
"""
from __future__ import annotations

import torch


# --8<-- [start:vectorwise]
def int8_vectorwise_matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """W8A8 with one scale per row of X (per token) and per column of W (per output channel).
    The int8 x int8 products are accumulated exactly (int32 on GPU) and rescaled once."""
    sx = x.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / 127          # (tokens, 1)
    sw = w.abs().amax(dim=0, keepdim=True).clamp(min=1e-12) / 127          # (1, d_out)
    qx, qw = torch.round(x / sx), torch.round(w / sw)                      # integers in [-127, 127]
    return (qx @ qw) * sx * sw                                             # outer product of scales
# --8<-- [end:vectorwise]


# --8<-- [start:llm_int8]
def llm_int8_matmul(x: torch.Tensor, w: torch.Tensor, threshold: float = 6.0) -> tuple[torch.Tensor, torch.Tensor]:
    """LLM.int8(): feature dimensions of X holding any |value| > threshold are multiplied in 16-bit
    (here: full precision); the rest go through vector-wise int8. Returns (Y, outlier column mask)."""
    outlier = (x.abs() > threshold).any(dim=0)                             # (d_in,), usually < 1% of dims
    y_fp = x[:, outlier] @ w[outlier, :]                                   # mixed-precision part
    y_int8 = int8_vectorwise_matmul(x[:, ~outlier], w[~outlier, :])
    return y_fp + y_int8, outlier
# --8<-- [end:llm_int8]


# --8<-- [start:smoothquant]
def smoothquant_scales(x_absmax: torch.Tensor, w_absmax: torch.Tensor, alpha: float = 0.5) -> torch.Tensor:
    """Per input channel j: s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)."""
    return (x_absmax.clamp(min=1e-5) ** alpha / w_absmax.clamp(min=1e-5) ** (1 - alpha))


def smooth(x: torch.Tensor, w: torch.Tensor, alpha: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Move quantisation difficulty from activations to weights: X diag(s)^-1 and diag(s) W.
    The product is unchanged; in a real model 1/s is folded into the previous LayerNorm/linear."""
    s = smoothquant_scales(x.abs().amax(dim=0), w.abs().amax(dim=1), alpha)   # (d_in,)
    return x / s, w * s.unsqueeze(1)
# --8<-- [end:smoothquant]


def int8_per_tensor_matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """W8A8 with a single scale for X and a single scale for W (the fastest kernel layout)."""
    sx, sw = x.abs().max() / 127, w.abs().max() / 127
    return (torch.round(x / sx) @ torch.round(w / sw)) * sx * sw


# --8<-- [start:gptq]
def gptq_quantize(w: torch.Tensor, x: torch.Tensor, bits: int = 4, damp: float = 0.01) -> torch.Tensor:
    """GPTQ for one linear layer, y = x @ w.T with w: (out, in), calibration x: (n, in).

    Quantise input columns one at a time (round to nearest on a per-row grid) and spread each
    column's rounding error onto the not-yet-quantised columns using the inverse Hessian of
    ||x w^T - x q^T||^2, H = 2 x^T x. Returns the dequantised weight (on the grid).
    """
    w = w.clone().double()
    d_in = w.shape[1]
    h = 2 * x.double().T @ x.double()
    h += damp * h.diagonal().mean() * torch.eye(d_in, dtype=h.dtype)           # dampening
    h_inv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1).clamp(min=1e-12) / qmax                         # (out,) fixed grid
    q = torch.zeros_like(w)
    for i in range(d_in):
        q[:, i] = torch.clamp(torch.round(w[:, i] / scale), -qmax, qmax) * scale
        err = (w[:, i] - q[:, i]) / h_inv[i, i]
        w[:, i:] -= err.unsqueeze(1) * h_inv[i, i:].unsqueeze(0)                # OBS update of the rest
    return q.to(x.dtype)
# --8<-- [end:gptq]


def rtn_quantize(w: torch.Tensor, bits: int = 4) -> torch.Tensor:
    """Round-to-nearest baseline on the same per-row grid as gptq_quantize."""
    qmax = 2 ** (bits - 1) - 1
    scale = w.abs().amax(dim=1, keepdim=True).clamp(min=1e-12) / qmax
    return torch.clamp(torch.round(w / scale), -qmax, qmax) * scale


def synthetic_llm_activations(tokens: int = 256, d: int = 512, n_outliers: int = 4,
                              magnitude: float = 60.0, seed: int = 0) -> torch.Tensor:
    """Activations with a few feature dimensions that are large for every token,
    the pattern LLM.int8() and SmoothQuant describe in models above a few billion parameters."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, d, generator=g)
    cols = torch.randperm(d, generator=g)[:n_outliers]
    x[:, cols] *= magnitude
    return x


# --8<-- [start:deploy_cost]
def bits_per_weight(bits: int, group_size: int | None = None, scale_bits: int = 16, zero_bits: int = 0) -> float:
    """Stored bits per weight including group metadata: each group of `group_size` weights shares one
    scale (and optionally one zero point). INT4, g128, fp16 scale + fp16 zero -> 4 + 32/128 = 4.25."""
    return bits + ((scale_bits + zero_bits) / group_size if group_size else 0.0)


def weight_gb(n_params: float, bpw: float) -> float:
    """Weight memory in GB (1e9 bytes)."""
    return n_params * bpw / 8 / 1e9


def gpus_needed(total_gb: float, gpu_gb: float = 80.0, usable: float = 1.0) -> int:
    """Smallest number of GPUs whose usable memory holds `total_gb` (weights only, no KV cache)."""
    return int(-(-total_gb // (gpu_gb * usable)))


def decode_ms_floor(weight_gb_total: float, bandwidth_tb_s: float) -> float:
    """Batch-1 decode is memory-bound: every token streams all weights once, so
    time/token >= bytes / bandwidth. This is why weight-only INT4 speeds up decode."""
    return weight_gb_total / (bandwidth_tb_s * 1e3) * 1e3


def quant_drift(logits_ref: torch.Tensor, logits_q: torch.Tensor) -> tuple[float, float]:
    """Cheap accuracy-loss alarm before running task evals: mean KL(p_ref || p_quant) per token and the
    top-1 agreement between the FP16 and the quantized model on the same in-domain prompts.
    logits: (tokens, vocab)."""
    logp, logq = logits_ref.log_softmax(-1), logits_q.log_softmax(-1)
    kl = (logp.exp() * (logp - logq)).sum(-1).mean()
    agree = (logits_ref.argmax(-1) == logits_q.argmax(-1)).float().mean()
    return float(kl), float(agree)
# --8<-- [end:deploy_cost]


if __name__ == "__main__":
    torch.manual_seed(0)
    x = synthetic_llm_activations()
    w = torch.randn(512, 256) * 0.05
    y = x @ w
    rel = lambda a: float((a - y).norm() / y.norm())                       # noqa: E731
    y8, mask = llm_int8_matmul(x, w)
    print(f"outlier dims: {int(mask.sum())} of {mask.numel()}")
    print(f"relative error  W8A8 per-tensor {rel(int8_per_tensor_matmul(x, w)):.4f} | "
          f"vector-wise {rel(int8_vectorwise_matmul(x, w)):.4f} | LLM.int8() {rel(y8):.4f} | "
          f"SmoothQuant + per-tensor {rel(int8_per_tensor_matmul(*smooth(x, w))):.4f}")
    wl = torch.randn(64, 128)
    xc = torch.randn(512, 128) @ torch.randn(128, 128) * 0.3              # correlated calibration inputs
    err = lambda q: float((xc @ wl.T - xc @ q.T).pow(2).mean())             # noqa: E731
    print(f"INT4 layer output MSE: RTN {err(rtn_quantize(wl)):.3f} vs GPTQ {err(gptq_quantize(wl, xc)):.3f}")
    for name, bpw in (("FP16", 16.0), ("INT8", 8.0), ("INT4 g128", bits_per_weight(4, 128, 16, 16)),
                      ("INT3 per-row", 3.0)):
        gb = weight_gb(175e9, bpw)
        print(f"175B {name:12s} {gb:6.1f} GB -> {gpus_needed(gb)} x 80 GB GPUs; "
              f"70B decode floor on 3.35 TB/s: {decode_ms_floor(weight_gb(70e9, bpw), 3.35):5.1f} ms/token")
