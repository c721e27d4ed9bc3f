"""Pruning and sparsity: unstructured magnitude pruning, structured (row) pruning,
2:4 semi-structured sparsity, and Wanda's |W| * ||X|| score.

Pages: docs/compression/pruning.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:magnitude]
def magnitude_mask(w: torch.Tensor, amount: float) -> torch.Tensor:
    """Unstructured pruning: zero the round(amount * numel) weights with the smallest |w|.
    Returns a {0, 1} mask of w's shape (1 = keep)."""
    k = round(amount * w.numel())
    mask = torch.ones_like(w)
    if k > 0:
        idx = torch.topk(w.abs().flatten(), k, largest=False).indices
        mask.view(-1)[idx] = 0
    return mask


def row_mask(w: torch.Tensor, amount: float) -> torch.Tensor:
    """Structured pruning: drop whole output rows (neurons / channels) with the smallest L2 norm.
    w: (out, in). The layer really becomes smaller, so it is faster on any hardware."""
    k = round(amount * w.shape[0])
    mask = torch.ones_like(w)
    if k > 0:
        mask[torch.topk(w.norm(dim=1), k, largest=False).indices] = 0
    return mask
# --8<-- [end:magnitude]


# --8<-- [start:n_m]
def n_m_mask(w: torch.Tensor, n: int = 2, m: int = 4) -> torch.Tensor:
    """N:M semi-structured sparsity: in every group of m consecutive weights along the input
    dimension keep the n largest |w| (2:4 runs on NVIDIA sparse tensor cores). w: (out, in)."""
    out_f, in_f = w.shape
    groups = w.abs().reshape(out_f, in_f // m, m)                     # (out, in/m, m)
    keep = torch.topk(groups, n, dim=-1).indices
    mask = torch.zeros_like(groups).scatter(-1, keep, 1.0)
    return mask.reshape(out_f, in_f)
# --8<-- [end:n_m]


# --8<-- [start:wanda]
def wanda_mask(w: torch.Tensor, x: torch.Tensor, amount: float) -> torch.Tensor:
    """Wanda (Sun et al., 2023): score S_ij = |W_ij| * ||X_j||_2 over calibration tokens, and prune
    the lowest `amount` of each output row separately. w: (out, in); x: (tokens, in). No retraining."""
    score = w.abs() * x.norm(dim=0).unsqueeze(0)                      # (out, in)
    k = round(amount * w.shape[1])
    mask = torch.ones_like(w)
    if k > 0:
        mask.scatter_(1, torch.topk(score, k, dim=1, largest=False).indices, 0.0)
    return mask
# --8<-- [end:wanda]


# --8<-- [start:two_four_cost]
def pack_2_4(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compress a 2:4-sparse weight (out, in) the way sparse tensor cores store it: the 2 kept values of
    every group of 4 -> values (out, in/2), and each value's position 0..3 inside its group -> idx
    (out, in/2), which costs 2 bits per kept value."""
    out_f, in_f = w.shape
    groups = w.reshape(out_f, in_f // 4, 4)
    idx = torch.topk(groups.abs(), 2, dim=-1).indices.sort(dim=-1).values    # (out, in/4, 2)
    vals = torch.gather(groups, -1, idx)
    return vals.reshape(out_f, in_f // 2), idx.reshape(out_f, in_f // 2).to(torch.uint8)


def unpack_2_4(vals: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Inverse of pack_2_4: scatter the kept values back into a dense (out, in) matrix."""
    out_f, half = vals.shape
    dense = torch.zeros(out_f, half // 2, 4, dtype=vals.dtype)
    dense.scatter_(-1, idx.long().reshape(out_f, half // 2, 2), vals.reshape(out_f, half // 2, 2))
    return dense.reshape(out_f, half * 2)


def two_four_size_ratio(value_bits: int, index_bits: int = 2) -> float:
    """Compressed 2:4 size / dense size: half the values survive, each with a 2-bit position index.
    16-bit weights: (8 + 1) / 16 = 0.5625, i.e. 1.78x smaller, not 2x."""
    return (0.5 * value_bits + 0.5 * index_bits) / value_bits


def amdahl_speedup(fraction: float, kernel_speedup: float) -> float:
    """End-to-end speed-up when only `fraction` of the time (the sparsified GEMMs) runs
    `kernel_speedup` times faster: 1 / ((1 - f) + f / s)."""
    return 1.0 / ((1.0 - fraction) + fraction / kernel_speedup)
# --8<-- [end:two_four_cost]


if __name__ == "__main__":
    torch.manual_seed(0)
    w = torch.randn(64, 128)
    x = torch.randn(256, 128) * torch.logspace(-1, 1, 128)          # input features of very different size
    y = x @ w.T
    rel = lambda m: float(((x @ (w * m).T) - y).norm() / y.norm())    # noqa: E731
    print(f"50% sparsity, relative output error: magnitude {rel(magnitude_mask(w, 0.5)):.3f}, "
          f"Wanda {rel(wanda_mask(w, x, 0.5)):.3f}, 2:4 {rel(n_m_mask(w)):.3f}, rows {rel(row_mask(w, 0.5)):.3f}")
    print("2:4 mask of the first 8 weights of row 0:", n_m_mask(w)[0, :8].int().tolist())
    vals, idx = pack_2_4(w * n_m_mask(w))
    print(f"2:4 packed: values {tuple(vals.shape)}, indices {tuple(idx.shape)}; "
          f"fp16 size ratio {two_four_size_ratio(16):.4f}, int8 {two_four_size_ratio(8):.3f}")
    for f, s in ((0.6, 2.0), (0.6, 1.3), (0.9, 1.3)):
        print(f"GEMM share {f:.0%}, GEMM speed-up {s}x -> end-to-end {amdahl_speedup(f, s):.2f}x")
