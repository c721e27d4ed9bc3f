"""CLIP-style contrastive loss, cross-modal retrieval, and a LLaVA-style projector that
splices image features into the text embedding sequence.

Pages: docs/multimodal/vlm.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# --8<-- [start:clip_loss]
def clip_loss(image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: float | torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of n matching (image, text) pairs.

    image_emb, text_emb: (n, d) from the two encoders' projection heads.
    logit_scale = 1 / temperature (CLIP learns log(scale), initialised to log(1/0.07), clipped at 100).
    Row i of the similarity matrix should pick column i (image -> text) and
    column i should pick row i (text -> image); the loss averages both directions.
    """
    img = F.normalize(image_emb, dim=-1)
    txt = F.normalize(text_emb, dim=-1)
    logits = logit_scale * img @ txt.T                         # (n, n) cosine similarities * scale
    target = torch.arange(img.shape[0], device=img.device)     # the diagonal holds the true pairs
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
# --8<-- [end:clip_loss]


# --8<-- [start:retrieval]
def recall_at_k(query_emb: torch.Tensor, gallery_emb: torch.Tensor, k: int) -> float:
    """Cross-modal retrieval with a dual encoder: query i's true match is gallery item i.

    query_emb: (n_q, d); gallery_emb: (n_g, d) with n_g >= n_q (the rest are distractors).
    Returns the fraction of queries whose match is among the k most cosine-similar gallery items.
    """
    sim = F.normalize(query_emb, dim=-1) @ F.normalize(gallery_emb, dim=-1).T   # (n_q, n_g)
    topk = sim.topk(k, dim=-1).indices                                          # (n_q, k)
    truth = torch.arange(query_emb.shape[0]).unsqueeze(-1)
    return (topk == truth).any(dim=-1).float().mean().item()
# --8<-- [end:retrieval]


# --8<-- [start:llava]
class LlavaProjector(nn.Module):
    """LLaVA-1.5 connector: a 2-layer MLP from vision-encoder width to LLM width."""

    def __init__(self, d_vision: int, d_text: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_vision, d_text), nn.GELU(), nn.Linear(d_text, d_text))

    def forward(self, patches: torch.Tensor) -> torch.Tensor:   # (n_patches, d_vision) -> (n_patches, d_text)
        return self.net(patches)


def splice_image_tokens(text_emb: torch.Tensor, input_ids: torch.Tensor, image_token_id: int,
                        image_feats: torch.Tensor) -> torch.Tensor:
    """Replace the embeddings at image-placeholder positions by projected patch features.

    text_emb: (seq, d_text); input_ids: (seq,) with exactly n_patches placeholders;
    image_feats: (n_patches, d_text). The LLM then runs on the mixed sequence as usual.
    """
    pos = (input_ids == image_token_id).nonzero(as_tuple=True)[0]
    if pos.numel() != image_feats.shape[0]:
        raise ValueError(f"{pos.numel()} placeholders but {image_feats.shape[0]} image features")
    out = text_emb.clone()
    out[pos] = image_feats
    return out
# --8<-- [end:llava]


if __name__ == "__main__":
    torch.manual_seed(0)
    n, d = 8, 32
    img = torch.randn(n, d)
    txt_matched = img + 0.3 * torch.randn(n, d)        # texts close to their images
    txt_random = torch.randn(n, d)
    print(f"CLIP loss, matched pairs {clip_loss(img, txt_matched, 1 / 0.07).item():.3f}, "
          f"random pairs {clip_loss(img, txt_random, 1 / 0.07).item():.3f} (chance = ln {n} = {torch.log(torch.tensor(n)).item():.3f} at scale 0)")
    print("image->text recall@1 matched:", recall_at_k(img, txt_matched, 1), " random:", recall_at_k(img, txt_random, 1))
    proj = LlavaProjector(d_vision=24, d_text=d)
    ids = torch.tensor([1, 5, 99, 99, 99, 99, 7, 2])   # 99 = <image> placeholder, 4 patches
    seq = splice_image_tokens(torch.randn(8, d), ids, 99, proj(torch.randn(4, 24)))
    print("LLaVA input sequence:", tuple(seq.shape))
