"""Unified understanding + generation: the Transfusion-style attention mask
(causal over the whole sequence, bidirectional inside each image) and token budgets.

Pages: docs/multimodal/unified.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:mask]
def transfusion_mask(segments: list[tuple[str, int]]) -> torch.Tensor:
    """Boolean attention mask (L, L) for a mixed sequence; True = query i may attend to key j.

    segments: e.g. [("text", 3), ("image", 4), ("text", 2)] in sequence order.
    Rule: j <= i (causal, as in a language model) OR i and j lie in the same image
    (every patch of an image sees the whole image, including later patches).
    """
    image_id = []                                     # -1 for text, k for the k-th image
    k = 0
    for kind, length in segments:
        if kind not in ("text", "image"):
            raise ValueError(f"unknown segment kind {kind!r}")
        image_id += [k if kind == "image" else -1] * length
        k += kind == "image"
    img = torch.tensor(image_id)
    n = img.numel()
    causal = torch.ones(n, n, dtype=torch.bool).tril()
    same_image = (img[:, None] == img[None, :]) & (img[:, None] >= 0)
    return causal | same_image
# --8<-- [end:mask]


# --8<-- [start:tokens]
def image_token_count(height: int, width: int, downsample: int, patch: int = 1) -> int:
    """Sequence positions one image costs: (H / f / p) * (W / f / p).

    f = tokenizer / VAE downsampling factor, p = extra patchify size on the latent grid.
    """
    if height % (downsample * patch) or width % (downsample * patch):
        raise ValueError("image size must be divisible by downsample * patch")
    return (height // downsample // patch) * (width // downsample // patch)
# --8<-- [end:tokens]


if __name__ == "__main__":
    m = transfusion_mask([("text", 2), ("image", 3), ("text", 2)])
    print("mask (1 = may attend):")
    for row in m.int().tolist():
        print("  ", row)
    print("Chameleon 512x512, f=16 VQ:", image_token_count(512, 512, 16), "tokens")
    print("Janus generation 384x384, f=16 VQ:", image_token_count(384, 384, 16), "tokens")
    print("DiT 256x256, f=8 VAE, patch 2:", image_token_count(256, 256, 8, 2), "tokens")
