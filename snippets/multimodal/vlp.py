"""Vision-language pre-training objectives: ITC with momentum-distilled soft targets (ALBEF),
ITM hard-negative sampling by contrastive similarity, and BLIP-2's Q-Former pieces (learned
queries cross-attending to frozen image features; the attention masks of its three objectives).

Pages: docs/multimodal/vlp.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# --8<-- [start:itc_distill]
def itc_loss_with_momentum_targets(sim: torch.Tensor, sim_m: torch.Tensor, alpha: float) -> torch.Tensor:
    """ALBEF's image-to-text ITC loss with momentum distillation (apply to sim.T for text-to-image).

    sim: (n, n) similarities / temperature from the online model; sim_m: the same from the
    momentum (EMA) model. Target for row i = (1 - alpha) * one-hot(i) + alpha * softmax(sim_m[i]):
    a noisy web caption that also fits image j no longer counts as a pure negative.
    """
    with torch.no_grad():
        onehot = torch.eye(sim.shape[0], dtype=sim.dtype, device=sim.device)
        target = (1 - alpha) * onehot + alpha * sim_m.softmax(dim=1)
    return -(target * sim.log_softmax(dim=1)).sum(dim=1).mean()


@torch.no_grad()
def ema_update(momentum_model: nn.Module, model: nn.Module, m: float = 0.995) -> None:
    """theta_m <- m * theta_m + (1 - m) * theta: the momentum model is a slow average of the online one."""
    for p_m, p in zip(momentum_model.parameters(), model.parameters()):
        p_m.mul_(m).add_(p.detach(), alpha=1 - m)
# --8<-- [end:itc_distill]


# --8<-- [start:hard_negatives]
def hard_negative_weights(sim: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
    """Sampling distribution over negatives for each row of an (n, n) similarity matrix.

    Row i is softmax(sim[i]) with every positive set to zero -- the diagonal, and when `ids`
    (n,) is given every column with the same id (duplicates of the same image) -- renormalised.
    More similar (harder) negatives are more likely, but any negative can be drawn.
    """
    w = sim.softmax(dim=1)
    n = sim.shape[0]
    positive = torch.eye(n, dtype=torch.bool, device=sim.device)
    if ids is not None:
        positive = positive | (ids[:, None] == ids[None, :])
    w = w.masked_fill(positive, 0.0)
    return w / w.sum(dim=1, keepdim=True)


def sample_itm_negatives(sim_i2t: torch.Tensor, generator: torch.Generator,
                         ids: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One hard negative text per image and one hard negative image per text (ALBEF / BLIP / BLIP-2).

    sim_i2t[i, j] = similarity of image i and text j. Returns (neg_text_for_image (n,),
    neg_image_for_text (n,)); the ITM head then classifies the n positive pairs and these 2n
    negative pairs as match / no match.
    """
    neg_text = torch.multinomial(hard_negative_weights(sim_i2t, ids), 1, generator=generator).squeeze(1)
    neg_image = torch.multinomial(hard_negative_weights(sim_i2t.T, ids), 1, generator=generator).squeeze(1)
    return neg_text, neg_image
# --8<-- [end:hard_negatives]


# --8<-- [start:qformer_cross_attention]
class QueryCrossAttention(nn.Module):
    """Q-Former's bridge: a fixed set of learned queries reads a frozen image encoder's output.

    Queries (n_query, dim) give Q; the image features (batch, n_patches, d_image) give K and V,
    so the output is always (batch, n_query, dim), whatever the number of patches.
    """

    def __init__(self, n_query: int, dim: int, d_image: int, heads: int) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(n_query, dim) * 0.02)
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(d_image, dim)
        self.v = nn.Linear(d_image, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, image_feats: torch.Tensor) -> torch.Tensor:
        b, n_img, _ = image_feats.shape
        nq, dim = self.queries.shape
        hd = dim // self.heads
        q = self.q(self.queries).view(1, nq, self.heads, hd).transpose(1, 2)        # (1, h, nq, hd)
        k = self.k(image_feats).view(b, n_img, self.heads, hd).transpose(1, 2)      # (b, h, n_img, hd)
        v = self.v(image_feats).view(b, n_img, self.heads, hd).transpose(1, 2)
        att = (q @ k.transpose(-1, -2) / hd ** 0.5).softmax(dim=-1)                 # (b, h, nq, n_img)
        out = (att @ v).transpose(1, 2).reshape(b, nq, dim)
        return self.out(out)
# --8<-- [end:qformer_cross_attention]


# --8<-- [start:qformer_masks]
def qformer_self_attention_mask(n_query: int, n_text: int, objective: str) -> torch.Tensor:
    """Boolean (L, L) mask, True = row may attend to column, for the sequence [queries; text].

    itc: uni-modal -- queries see queries, text sees text (the two sides must not peek).
    itm: bi-directional -- everyone sees everyone (the queries fuse text into the image summary).
    itg: multimodal causal -- queries see queries only; text token t sees all queries and text <= t.
    """
    n = n_query + n_text
    q, t = slice(0, n_query), slice(n_query, n)
    mask = torch.zeros(n, n, dtype=torch.bool)
    if objective == "itm":
        mask[:] = True
    elif objective == "itc":
        mask[q, q] = True
        mask[t, t] = True
    elif objective == "itg":
        mask[q, q] = True
        mask[t, q] = True
        mask[t, t] = torch.tril(torch.ones(n_text, n_text, dtype=torch.bool))
    else:
        raise ValueError(f"unknown objective {objective!r}")
    return mask
# --8<-- [end:qformer_masks]


if __name__ == "__main__":
    torch.manual_seed(0)
    sim = torch.tensor([[5.0, 4.0, 0.0], [1.0, 5.0, 1.0], [3.0, 0.0, 5.0]])
    print("hard-negative sampling weights (rows = images):\n", hard_negative_weights(sim).round(decimals=3))
    neg_text, neg_image = sample_itm_negatives(sim, torch.Generator().manual_seed(0))
    print("negative text per image:", neg_text.tolist(), " negative image per text:", neg_image.tolist())
    print("ITC loss, hard labels vs alpha = 0.4 momentum targets:",
          round(itc_loss_with_momentum_targets(sim, sim, 0.0).item(), 3),
          round(itc_loss_with_momentum_targets(sim, sim, 0.4).item(), 3))
    qf = QueryCrossAttention(n_query=32, dim=768, d_image=1408, heads=12)
    vit_g = torch.randn(2, 257, 1408)                     # ViT-g/14 on 224px: 16*16 patches + [CLS]
    print("Q-Former queries out:", tuple(qf(vit_g).shape), "from", tuple(vit_g.shape))
    print("ITG mask for 2 queries + 3 text tokens:\n", qformer_self_attention_mask(2, 3, "itg").int())
