"""Vision encoders and image-text alignment: ViT patch embedding, resizing ViT position
embeddings to a new grid, and SigLIP's pairwise sigmoid loss (full and chunked).

Pages: docs/multimodal/encoders.{zh,en}.md
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# --8<-- [start:patchify]
def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut images into non-overlapping patch x patch squares and flatten each one.

    images: (batch, channels, H, W) with H and W multiples of `patch`.
    Returns (batch, n_patches, channels * patch * patch), patches in row-major order
    (left to right, then top to bottom), each flattened as (channel, row, column).
    """
    b, c, h, w = images.shape
    gh, gw = h // patch, w // patch
    x = images.reshape(b, c, gh, patch, gw, patch)       # split H into (gh, patch), W into (gw, patch)
    x = x.permute(0, 2, 4, 1, 3, 5)                      # (b, gh, gw, c, patch, patch)
    return x.reshape(b, gh * gw, c * patch * patch)


class PatchEmbed(nn.Module):
    """ViT input: linear projection of flattened patches, a [CLS] token, learned 1-D positions."""

    def __init__(self, image_size: int, patch: int, channels: int, dim: int) -> None:
        super().__init__()
        self.patch = patch
        self.grid = image_size // patch
        self.proj = nn.Linear(channels * patch * patch, dim)          # the same maths as Conv2d(k=s=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 1 + self.grid ** 2, dim) * 0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:          # (b, c, H, W) -> (b, 1 + N, dim)
        tokens = self.proj(patchify(images, self.patch))                # (b, N, dim)
        cls = self.cls.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.pos
# --8<-- [end:patchify]


# --8<-- [start:resize_pos]
def resize_pos_embed(pos: torch.Tensor, old_grid: tuple[int, int], new_grid: tuple[int, int],
                     n_prefix: int = 1, mode: str = "bicubic", align_corners: bool = False) -> torch.Tensor:
    """Resize learned ViT position embeddings to a new patch grid (new resolution or aspect ratio).

    pos: (1, n_prefix + gh * gw, dim); the first n_prefix rows ([CLS], registers) have no
    position in the image and are kept as they are. The grid rows are laid out row-major
    (as `patchify` emits patches), reshaped to a (dim, gh, gw) image, interpolated, flattened back.
    """
    (gh, gw), (nh, nw) = old_grid, new_grid
    prefix, grid = pos[:, :n_prefix], pos[:, n_prefix:]
    dim = grid.shape[-1]
    grid = grid.reshape(1, gh, gw, dim).permute(0, 3, 1, 2)            # (1, dim, gh, gw)
    grid = F.interpolate(grid, size=(nh, nw), mode=mode, align_corners=align_corners)
    grid = grid.permute(0, 2, 3, 1).reshape(1, nh * nw, dim)
    return torch.cat([prefix, grid], dim=1)
# --8<-- [end:resize_pos]


# --8<-- [start:siglip_loss]
def siglip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor,
                t: float | torch.Tensor, b: float | torch.Tensor) -> torch.Tensor:
    """SigLIP: every (image i, text j) pair is its own binary classification, label +1 if i == j.

    logits = t * cos(image_i, text_j) + b; loss = -(1/n) * sum_ij log sigmoid(z_ij * logit_ij),
    z_ij = +1 on the diagonal, -1 elsewhere. No softmax: no term needs a whole row or column.
    Paper init: t = exp(t'), t' = log 10 (so t = 10), b = -10.
    """
    img = F.normalize(image_emb, dim=-1)
    txt = F.normalize(text_emb, dim=-1)
    logits = t * img @ txt.T + b                                  # (n, n)
    n = logits.shape[0]
    z = 2 * torch.eye(n, dtype=logits.dtype, device=logits.device) - 1   # +1 diagonal, -1 elsewhere
    return -F.logsigmoid(z * logits).sum() / n


def siglip_loss_chunked(image_emb: torch.Tensor, text_emb: torch.Tensor,
                        t: float | torch.Tensor, b: float | torch.Tensor, devices: int) -> torch.Tensor:
    """The same loss computed as SigLIP's multi-device implementation does it.

    Device k holds images and texts of its own slice. In step s it scores its images against
    the text slice of device (k + s) mod D (texts are passed round a ring), so it only ever
    materialises a (n/D, n/D) block and never gathers all n embeddings.
    """
    imgs = F.normalize(image_emb, dim=-1).chunk(devices)
    txts = F.normalize(text_emb, dim=-1).chunk(devices)
    n = image_emb.shape[0]
    total = image_emb.new_zeros(())
    for k in range(devices):
        for s in range(devices):
            j = (k + s) % devices
            logits = t * imgs[k] @ txts[j].T + b                  # (n/D, n/D) block
            sign = (2 * torch.eye(len(logits), dtype=logits.dtype) - 1) if j == k else -torch.ones_like(logits)
            total = total - F.logsigmoid(sign * logits).sum()     # only own-slice blocks hold positives
    return total / n
# --8<-- [end:siglip_loss]


if __name__ == "__main__":
    torch.manual_seed(0)
    emb = PatchEmbed(image_size=224, patch=16, channels=3, dim=768)
    print("ViT-B/16 tokens for a 224x224 image:", tuple(emb(torch.randn(1, 3, 224, 224)).shape),
          "(196 patches + [CLS])")
    new = resize_pos_embed(emb.pos.detach(), (14, 14), (24, 24))
    print("position table 224px -> 384px:", tuple(emb.pos.shape), "->", tuple(new.shape))
    n, d = 1024, 64
    img0, txt0 = torch.eye(2 * n)[:n], torch.eye(2 * n)[n:]      # every pair, matched or not, has cos = 0
    for bias in (0.0, -10.0):                                     # "untrained": all logits equal the bias
        print(f"SigLIP loss with all cos = 0, t = 10, b = {bias:+.0f}, n = {n}: "
              f"{siglip_loss(img0, txt0, 10.0, bias).item():.2f}   (n*ln2 = {n * math.log(2):.1f})")
    img, txt = torch.randn(8, d), torch.randn(8, d)
    print("full vs 4-device chunked:", round(siglip_loss(img, txt, 10.0, -10.0).item(), 6),
          round(siglip_loss_chunked(img, txt, 10.0, -10.0, 4).item(), 6))
