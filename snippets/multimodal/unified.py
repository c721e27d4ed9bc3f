"""Unified understanding + generation: the Transfusion-style attention mask
(causal over the whole sequence, bidirectional inside each image), token budgets, and the
two stability tools Chameleon relies on (QK-norm logits, z-loss).

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


# --8<-- [start:stability]
def attention_logits(q: torch.Tensor, k: torch.Tensor, qk_norm: bool = False,
                     gain_q: torch.Tensor | None = None, gain_k: torch.Tensor | None = None,
                     eps: float = 1e-5) -> torch.Tensor:
    """Scaled dot-product logits q.k / sqrt(d). q: (..., Lq, d), k: (..., Lk, d) -> (..., Lq, Lk).

    With qk_norm, q and k are LayerNorm-ed over d (per head; optional per-dimension gains) first,
    so every row has norm sqrt(d) * gain and |logit| <= sqrt(d) * max|gain_q| * max|gain_k|,
    however large the hidden states grow.
    """
    d = q.shape[-1]
    if qk_norm:
        q = (q - q.mean(-1, keepdim=True)) / (q.var(-1, unbiased=False, keepdim=True) + eps).sqrt()
        k = (k - k.mean(-1, keepdim=True)) / (k.var(-1, unbiased=False, keepdim=True) + eps).sqrt()
        if gain_q is not None:
            q = q * gain_q
        if gain_k is not None:
            k = k * gain_k
    return q @ k.transpose(-2, -1) / d ** 0.5


def z_loss(logits: torch.Tensor, coef: float = 1e-4) -> torch.Tensor:
    """coef * (log Z)^2 averaged over positions, log Z = logsumexp of the output logits (..., V).

    Cross-entropy is unchanged when a constant is added to all logits; this term is not, so it
    keeps log Z near 0. Gradient w.r.t. the logits: 2 * coef * log Z * softmax(logits) / #positions.
    """
    return coef * torch.logsumexp(logits, dim=-1).pow(2).mean()
# --8<-- [end:stability]


if __name__ == "__main__":
    m = transfusion_mask([("text", 2), ("image", 3), ("text", 2)])
    print("mask (1 = may attend):")
    for row in m.int().tolist():
        print("  ", row)
    print("Chameleon 512x512, f=16 VQ:", image_token_count(512, 512, 16), "tokens")
    print("Janus generation 384x384, f=16 VQ:", image_token_count(384, 384, 16), "tokens")
    print("DiT 256x256, f=8 VAE, patch 2:", image_token_count(256, 256, 8, 2), "tokens")
    torch.manual_seed(0)
    q, k = torch.randn(16, 128), torch.randn(16, 128)
    for scale in (1.0, 10.0, 100.0):
        plain = attention_logits(scale * q, scale * k).abs().max().item()
        normed = attention_logits(scale * q, scale * k, qk_norm=True).abs().max().item()
        print(f"hidden states x{scale:>5}: max |logit| plain {plain:9.1f}, with QK-norm {normed:5.2f}"
              f" (bound sqrt(128) = {128 ** 0.5:.2f})")
    x = torch.tensor(300.0, dtype=torch.bfloat16)
    print("bf16: 300 + 0.9 =", (x + 0.9).item())
