"""ViT patch embedding vs nn.Conv2d and HF ViTEmbeddings; position-embedding resizing vs HF's
interpolate_pos_encoding and a hand-built linear grid; SigLIP loss vs explicit loops, HF
SiglipModel(return_loss=True) and a closed form; CLIP loss (vlm page) vs HF CLIPModel."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPConfig, CLIPModel, SiglipConfig, SiglipModel, ViTConfig
from transformers.models.clip import modeling_clip
from transformers.models.vit.modeling_vit import ViTEmbeddings

from snippets import load

enc = load("multimodal/encoders")
vlm = load("multimodal/vlm")


def test_patch_projection_is_a_strided_conv():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 24, 40)                      # H != W: a swapped grid axis would show
    conv = nn.Conv2d(3, 10, kernel_size=8, stride=8)
    lin = nn.Linear(3 * 8 * 8, 10)
    with torch.no_grad():
        lin.weight.copy_(conv.weight.reshape(10, -1))  # (out, c, kh, kw) -> (out, c*kh*kw)
        lin.bias.copy_(conv.bias)
    ref = conv(x).flatten(2).transpose(1, 2)           # (b, 3*5, 10), row-major grid
    torch.testing.assert_close(lin(enc.patchify(x, 8)), ref)


def test_patchify_by_hand():
    img = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)   # 2 channels, 4x4
    p = enc.patchify(img, 2)
    assert p.shape == (1, 4, 8)
    # patch 1 = top-right 2x2 square: channel 0 rows 0-1 cols 2-3, then channel 1 the same square
    assert p[0, 1].tolist() == [2, 3, 6, 7, 18, 19, 22, 23]
    assert p[0, 2].tolist() == [8, 9, 12, 13, 24, 25, 28, 29]                 # bottom-left


def test_patch_embed_matches_hf_vit_embeddings():
    torch.manual_seed(1)
    cfg = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=12, hidden_dropout_prob=0.0)
    hf = ViTEmbeddings(cfg).eval()
    nn.init.normal_(hf.cls_token)
    nn.init.normal_(hf.position_embeddings)
    ours = enc.PatchEmbed(image_size=32, patch=8, channels=3, dim=12)
    with torch.no_grad():
        ours.proj.weight.copy_(hf.patch_embeddings.projection.weight.reshape(12, -1))
        ours.proj.bias.copy_(hf.patch_embeddings.projection.bias)
        ours.cls.copy_(hf.cls_token)
        ours.pos.copy_(hf.position_embeddings)
    x = torch.randn(2, 3, 32, 32)
    out = ours(x)
    assert out.shape == (2, 1 + 16, 12)
    torch.testing.assert_close(out, hf(x))


def test_patch_embed_initialisation_as_in_vit():
    # original ViT (big_vision): [CLS] starts at zero, positions ~ N(0, 0.02^2); 17 x 64 = 1088 draws,
    # so the sample std is 0.02 within about 0.0004 (one standard error)
    torch.manual_seed(8)
    emb = enc.PatchEmbed(image_size=64, patch=16, channels=3, dim=64)
    assert emb.pos.shape == (1, 1 + 16, 64)
    assert torch.equal(emb.cls, torch.zeros(1, 1, 64))
    assert 0.018 < emb.pos.std().item() < 0.022 and abs(emb.pos.mean().item()) < 0.002


def test_resize_matches_hf_interpolate_pos_encoding():
    torch.manual_seed(2)
    cfg = ViTConfig(image_size=32, patch_size=8, hidden_size=6)               # 4x4 grid
    hf = ViTEmbeddings(cfg)
    nn.init.normal_(hf.position_embeddings)
    with torch.no_grad():
        for h, w in ((48, 80), (24, 24), (64, 32)):                           # 6x10, 3x3, 8x4 grids
            ref = hf.interpolate_pos_encoding(torch.zeros(1, 1 + (h // 8) * (w // 8), 6), h, w)
            ours = enc.resize_pos_embed(hf.position_embeddings, (4, 4), (h // 8, w // 8))
            torch.testing.assert_close(ours, ref)


def test_resize_on_a_linear_grid_by_hand():
    gh, gw, nh, nw = 3, 5, 5, 9                                 # non-square, so rows/cols cannot be swapped
    r, c = torch.meshgrid(torch.arange(gh, dtype=torch.float64), torch.arange(gw, dtype=torch.float64), indexing="ij")
    grid = torch.stack([r, c, 2 * r - c + 1], dim=-1).reshape(1, gh * gw, 3)
    cls = torch.tensor([[[7.0, -7.0, 0.5]]], dtype=torch.float64)
    out = enc.resize_pos_embed(torch.cat([cls, grid], 1), (gh, gw), (nh, nw), mode="bilinear", align_corners=True)
    torch.testing.assert_close(out[:, :1], cls)                 # [CLS] has no image position: untouched
    # with align_corners=True new row i sits at old row i*(gh-1)/(nh-1); bilinear is exact on a linear grid
    for i in range(nh):
        for j in range(nw):
            y, x = i * (gh - 1) / (nh - 1), j * (gw - 1) / (nw - 1)
            assert out[0, 1 + i * nw + j].tolist() == pytest.approx([y, x, 2 * y - x + 1])
    same = enc.resize_pos_embed(torch.cat([cls, grid], 1), (gh, gw), (gh, gw))
    torch.testing.assert_close(same, torch.cat([cls, grid], 1))   # same grid: identity



def test_resize_keeps_every_prefix_token_cls_and_registers():
    # [CLS] + 4 registers (n_prefix = 5) in front of a 2 x 3 grid; only the grid is resized
    torch.manual_seed(7)
    prefix, grid = torch.randn(1, 5, 4), torch.randn(1, 2 * 3, 4)
    out = enc.resize_pos_embed(torch.cat([prefix, grid], 1), (2, 3), (4, 6), n_prefix=5)
    assert out.shape == (1, 5 + 4 * 6, 4)
    torch.testing.assert_close(out[:, :5], prefix)             # registers are not image positions
    ref = F.interpolate(grid.reshape(1, 2, 3, 4).permute(0, 3, 1, 2), size=(4, 6), mode="bicubic",
                        align_corners=False).permute(0, 2, 3, 1).reshape(1, 24, 4)
    torch.testing.assert_close(out[:, 5:], ref)

def hand_siglip(img, txt, t, b):
    unit = lambda v: [x / math.sqrt(sum(y * y for y in v)) for x in v]
    a, c = [unit(r) for r in img.tolist()], [unit(r) for r in txt.tolist()]
    n, total = len(a), 0.0
    for i in range(n):
        for j in range(n):
            logit = t * sum(x * y for x, y in zip(a[i], c[j])) + b
            z = 1.0 if i == j else -1.0
            total += math.log(1 + math.exp(-z * logit))        # -log sigmoid(z * logit)
    return total / n


def test_siglip_loss_matches_explicit_loops():
    torch.manual_seed(3)
    img, txt = torch.randn(6, 5, dtype=torch.float64), torch.randn(6, 5, dtype=torch.float64)
    for t, b in ((10.0, -10.0), (1.0, 0.0), (3.7, 2.0)):
        assert enc.siglip_loss(img, txt, t, b).item() == pytest.approx(hand_siglip(img, txt, t, b), rel=1e-10)


def test_siglip_loss_closed_form_when_every_cosine_is_zero():
    n = 50
    img, txt = torch.eye(2 * n, dtype=torch.float64)[:n], torch.eye(2 * n, dtype=torch.float64)[n:]
    softplus = lambda x: math.log1p(math.exp(x))
    for b in (0.0, -10.0, 3.0):
        # n positives at loss softplus(-b), n(n-1) negatives at softplus(b), divided by n
        expected = softplus(-b) + (n - 1) * softplus(b)
        assert enc.siglip_loss(img, txt, 10.0, b).item() == pytest.approx(expected, rel=1e-12)
    assert enc.siglip_loss(img, txt, 10.0, 0.0).item() == pytest.approx(n * math.log(2))


@pytest.mark.parametrize("devices", [1, 2, 3, 4])
def test_chunked_siglip_equals_full(devices):
    torch.manual_seed(4)
    img, txt = torch.randn(8, 6, dtype=torch.float64), torch.randn(8, 6, dtype=torch.float64)
    torch.testing.assert_close(enc.siglip_loss_chunked(img, txt, 10.0, -10.0, devices),
                               enc.siglip_loss(img, txt, 10.0, -10.0))


def test_siglip_loss_keeps_the_embeddings_dtype():
    # bf16 embeddings (as a bf16 tower returns them) give a bf16 loss, full and chunked; the +-1 labels
    # do not promote it to float32
    torch.manual_seed(9)
    img, txt = torch.randn(6, 8).bfloat16(), torch.randn(6, 8).bfloat16()
    full = enc.siglip_loss(img, txt, 10.0, -10.0)
    assert full.dtype == torch.bfloat16
    for devices in (1, 2, 3):
        chunked = enc.siglip_loss_chunked(img, txt, 10.0, -10.0, devices)
        assert chunked.dtype == torch.bfloat16
        torch.testing.assert_close(chunked.float(), full.float(), rtol=2e-2, atol=0)


def _tiny(kind):
    text = dict(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=12)
    vision = dict(image_size=16, patch_size=8, hidden_size=16, intermediate_size=32,
                  num_hidden_layers=1, num_attention_heads=2)
    if kind == "clip":
        return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=8)).eval()
    return SiglipModel(SiglipConfig(text_config=text, vision_config=vision)).eval()


def test_siglip_loss_matches_hf_siglip_model():
    torch.manual_seed(5)
    model = _tiny("siglip")
    with torch.no_grad():
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-3.0)
        out = model(input_ids=torch.randint(0, 50, (4, 7)), pixel_values=torch.randn(4, 3, 16, 16),
                    return_loss=True)
        ours = enc.siglip_loss(out.image_embeds, out.text_embeds, model.logit_scale.exp(), model.logit_bias)
    torch.testing.assert_close(ours.reshape(()), out.loss.reshape(()))


def test_clip_loss_matches_hf_clip_model():
    torch.manual_seed(6)
    model = _tiny("clip")
    with torch.no_grad():
        out = model(input_ids=torch.randint(0, 50, (5, 7)), pixel_values=torch.randn(5, 3, 16, 16),
                    return_loss=True)
        ours = vlm.clip_loss(out.image_embeds, out.text_embeds, model.logit_scale.exp())
    torch.testing.assert_close(ours, out.loss)
    hf_loss_fn = getattr(modeling_clip, "clip_loss", None) or modeling_clip.image_text_contrastive_loss
    torch.testing.assert_close(ours, hf_loss_fn(out.logits_per_text))
