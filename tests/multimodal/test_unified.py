"""Transfusion-style mask vs a hand-built boolean matrix, plain causal mask when there is no image,
and the invariant it encodes (no position sees a later segment) checked through real attention."""
import pytest
import torch
import torch.nn.functional as F

from snippets import load

un = load("multimodal/unified")


def test_mask_matches_hand_built_matrix():
    # T T | I I I | T | I I
    m = un.transfusion_mask([("text", 2), ("image", 3), ("text", 1), ("image", 2)])
    expected = torch.tensor([
        [1, 0, 0, 0, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0],   # first patch sees the whole first image ...
        [1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1, 0, 0, 0],
        [1, 1, 1, 1, 1, 1, 0, 0],   # ... text after an image is causal again
        [1, 1, 1, 1, 1, 1, 1, 1],   # second image: bidirectional inside, never into the first image's future
        [1, 1, 1, 1, 1, 1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(m, expected)


def test_text_only_is_the_causal_mask_and_adjacent_images_stay_separate():
    assert torch.equal(un.transfusion_mask([("text", 5)]), torch.ones(5, 5, dtype=torch.bool).tril())
    m = un.transfusion_mask([("image", 2), ("image", 2)])
    assert not m[0, 2] and not m[1, 3]       # image 1 cannot see image 2
    assert m[0, 1] and m[2, 3] and m[3, 0]    # inside-image both ways; image 2 sees image 1
    with pytest.raises(ValueError, match="audio"):
        un.transfusion_mask([("audio", 3)])


def test_mask_in_attention_keeps_earlier_segments_independent_of_later_ones():
    torch.manual_seed(0)
    segs = [("text", 3), ("image", 4), ("text", 3)]
    mask = un.transfusion_mask(segs)
    q, k, v = (torch.randn(1, 2, 10, 8) for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    k2, v2 = k.clone(), v.clone()
    k2[..., 7:, :] += 5.0                       # change only the final text segment
    v2[..., 7:, :] -= 3.0
    out2 = F.scaled_dot_product_attention(q, k2, v2, attn_mask=mask)
    torch.testing.assert_close(out[..., :7, :], out2[..., :7, :])   # text + image unaffected
    k3 = k.clone()
    k3[..., 6, :] += 5.0                        # change the last image patch
    out3 = F.scaled_dot_product_attention(q, k3, v, attn_mask=mask)
    assert (out3[..., 3, :] - out[..., 3, :]).abs().max() > 1e-3   # the first patch sees it
    torch.testing.assert_close(out3[..., :3, :], out[..., :3, :])   # the preceding text does not


def test_image_token_count_by_hand():
    assert un.image_token_count(512, 512, 16) == 32 * 32 == 1024      # Chameleon
    assert un.image_token_count(256, 256, 8, patch=2) == 16 * 16      # DiT-XL/2 on a 32x32 latent
    assert un.image_token_count(384, 384, 16) == 24 * 24              # Janus generation
    with pytest.raises(ValueError):
        un.image_token_count(500, 500, 16)
    with pytest.raises(ValueError):
        un.image_token_count(512, 500, 16)                             # the width is checked too
    with pytest.raises(ValueError, match=r"^image size must be divisible by downsample \* patch$"):
        un.image_token_count(256, 264, 8, patch=2)                     # 33 latent columns, patch 2
    with pytest.raises(ValueError, match=r"^image size must be divisible by downsample \* patch$"):
        un.image_token_count(264, 256, 8, patch=2)                     # 33 latent rows, patch 2
    assert type(un.image_token_count(256, 256, 8, patch=2)) is int    # a count of positions


def test_qk_norm_with_gains_and_default_eps_matches_layer_norm():
    # oracle: F.layer_norm with the gains as its weight and its default eps 1e-5 (also the snippet's);
    # unequal gains matter here: with a plain LayerNorm on one side, a constant offset on the other
    # side would cancel in the dot product
    torch.manual_seed(4)
    d = 16
    q, k = torch.randn(2, 3, 5, d, dtype=torch.float64) + 2, torch.randn(2, 3, 7, d, dtype=torch.float64) - 1
    gq, gk = torch.rand(d, dtype=torch.float64) + 0.5, torch.rand(d, dtype=torch.float64) + 0.5
    ref = F.layer_norm(q, (d,), gq) @ F.layer_norm(k, (d,), gk).transpose(-2, -1) / d ** 0.5
    torch.testing.assert_close(un.attention_logits(q, k, True, gq, gk), ref)
    ref_plain = F.layer_norm(q, (d,)) @ F.layer_norm(k, (d,)).transpose(-2, -1) / d ** 0.5
    torch.testing.assert_close(un.attention_logits(q, k, True), ref_plain)


def test_qk_norm_logits_are_scale_invariant_and_bounded():
    torch.manual_seed(1)
    d = 64
    q, k = torch.randn(2, 10, d, dtype=torch.float64), torch.randn(2, 12, d, dtype=torch.float64)
    plain1, plain100 = un.attention_logits(q, k), un.attention_logits(100 * q, 100 * k)
    torch.testing.assert_close(plain100, 1e4 * plain1)                 # grows with norm squared
    normed1 = un.attention_logits(q, k, qk_norm=True, eps=0.0)
    normed100 = un.attention_logits(100 * q + 7, 100 * k - 3, qk_norm=True, eps=0.0)
    torch.testing.assert_close(normed100, normed1)                      # shift and scale invariant
    # oracle: F.layer_norm (no affine) then a plain scaled matmul
    ref = F.layer_norm(q, (d,), eps=0.0) @ F.layer_norm(k, (d,), eps=0.0).transpose(-2, -1) / d ** 0.5
    torch.testing.assert_close(normed1, ref)
    # Cauchy-Schwarz bound sqrt(d) * max|g_q| * max|g_k|, reached when q and k are parallel
    gq, gk = torch.full((d,), 1.5, dtype=torch.float64), torch.full((d,), 2.0, dtype=torch.float64)
    bound = d ** 0.5 * 1.5 * 2.0
    assert un.attention_logits(1e3 * q, 1e3 * k, True, gq, gk, eps=0.0).abs().max() <= bound + 1e-9
    same = un.attention_logits(q[:, :1], q[:, :1], True, gq, gk, eps=0.0)
    torch.testing.assert_close(same, torch.full_like(same, bound))


def test_z_loss_breaks_the_shift_invariance_of_cross_entropy():
    torch.manual_seed(2)
    logits = torch.randn(5, 11, dtype=torch.float64)
    target = torch.randint(0, 11, (5,))
    shifted = logits + 4.0
    torch.testing.assert_close(F.cross_entropy(shifted, target), F.cross_entropy(logits, target))
    log_z = torch.logsumexp(logits, -1)
    torch.testing.assert_close(un.z_loss(logits, 1e-4), 1e-4 * log_z.pow(2).mean())
    torch.testing.assert_close(un.z_loss(logits), 1e-4 * log_z.pow(2).mean())   # PaLM's default coefficient
    torch.testing.assert_close(un.z_loss(shifted, 1e-4), 1e-4 * (log_z + 4.0).pow(2).mean())
    batched = torch.randn(2, 5, 11, dtype=torch.float64)                      # (batch, positions, vocab)
    torch.testing.assert_close(un.z_loss(batched, 1e-4), 1e-4 * torch.logsumexp(batched, -1).pow(2).mean())
    x = logits.clone().requires_grad_()
    un.z_loss(x, 0.5).backward()
    torch.testing.assert_close(x.grad, 2 * 0.5 * log_z[:, None] * logits.softmax(-1) / 5)


def test_bf16_rounds_away_small_differences_at_large_magnitude():
    x = torch.tensor(300.0, dtype=torch.bfloat16)
    assert (x + 0.9).item() == 300.0                    # spacing is 2 in [256, 512)
    assert (x + 2).item() == 302.0
    assert torch.tensor(3.0, dtype=torch.bfloat16).add(0.9).item() != 3.0
