"""ITC with momentum targets vs F.cross_entropy with soft labels; EMA vs a hand value;
hard-negative weights vs a hand computation (ties, duplicate ids, row vs column direction);
Q-Former cross-attention vs nn.MultiheadAttention with copied weights; BLIP-2 attention masks
vs matrices written out by hand."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snippets import load

vlp = load("multimodal/vlp")


def test_itc_with_momentum_targets_matches_soft_label_cross_entropy():
    torch.manual_seed(0)
    sim, sim_m = torch.randn(5, 5, dtype=torch.float64), torch.randn(5, 5, dtype=torch.float64)
    assert vlp.itc_loss_with_momentum_targets(sim, sim_m, 0.0).item() == pytest.approx(
        F.cross_entropy(sim, torch.arange(5)).item())                     # alpha = 0: plain ITC
    target = 0.6 * torch.eye(5, dtype=torch.float64) + 0.4 * F.softmax(sim_m, dim=1)
    assert vlp.itc_loss_with_momentum_targets(sim, sim_m, 0.4).item() == pytest.approx(
        F.cross_entropy(sim, target).item())                              # PyTorch's probability targets


def test_itc_with_momentum_targets_keeps_the_input_dtype():
    # float64 similarities: equal to F.cross_entropy with float64 probability targets to float64 rounding
    # ((1 - 0.4) = 0.6 is not a float32 number, so a float32 target would show at ~1e-8);
    # bf16 similarities: a bf16 loss, equal to the float64 loss on the same inputs within bf16 rounding
    torch.manual_seed(2)
    sim, sim_m = torch.randn(6, 6, dtype=torch.float64), torch.randn(6, 6, dtype=torch.float64)
    for a in (0.4, 0.7):
        target = (1 - a) * torch.eye(6, dtype=torch.float64) + a * F.softmax(sim_m, dim=1)
        out = vlp.itc_loss_with_momentum_targets(sim, sim_m, a)
        assert out.dtype == torch.float64
        torch.testing.assert_close(out, F.cross_entropy(sim, target), rtol=1e-13, atol=1e-13)
        sb, smb = sim.bfloat16(), sim_m.bfloat16()
        out = vlp.itc_loss_with_momentum_targets(sb, smb, a)
        assert out.dtype == torch.bfloat16
        target = (1 - a) * torch.eye(6, dtype=torch.float64) + a * F.softmax(smb.double(), dim=1)
        torch.testing.assert_close(out.double(), F.cross_entropy(sb.double(), target), rtol=1.6e-2, atol=1e-2)


def test_itc_gradient_reaches_only_the_online_similarities():
    # the momentum model's similarities are a target: no gradient may flow into them
    torch.manual_seed(1)
    sim = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    sim_m = torch.randn(4, 4, dtype=torch.float64, requires_grad=True)
    vlp.itc_loss_with_momentum_targets(sim, sim_m, 0.4).backward()
    assert sim_m.grad is None
    # d loss / d sim = (softmax(sim) - target) / n, the soft-label cross-entropy gradient
    target = 0.6 * torch.eye(4, dtype=torch.float64) + 0.4 * F.softmax(sim_m.detach(), dim=1)
    torch.testing.assert_close(sim.grad, (F.softmax(sim.detach(), dim=1) - target) / 4)


def test_ema_default_momentum_is_0_995():
    online, momentum = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        online.weight.fill_(2.0), momentum.weight.fill_(1.0)
    vlp.ema_update(momentum, online)
    assert momentum.weight.item() == pytest.approx(0.995 * 1.0 + 0.005 * 2.0, rel=1e-6)


def test_ema_update_by_hand():
    online, momentum = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        online.weight.fill_(2.0), online.bias.fill_(-1.0)
        momentum.weight.fill_(1.0), momentum.bias.fill_(1.0)
    vlp.ema_update(momentum, online, m=0.9)
    assert momentum.weight.item() == pytest.approx(0.9 * 1.0 + 0.1 * 2.0)
    assert momentum.bias.item() == pytest.approx(0.9 * 1.0 + 0.1 * -1.0)
    assert online.weight.item() == 2.0                                    # the online model is not touched


def test_hard_negative_weights_by_hand_with_ties_and_duplicates():
    sim = torch.tensor([[3.0, 1.0, 1.0, 0.0],
                        [0.0, 3.0, 2.0, 2.0],
                        [1.0, 0.0, 3.0, 0.0],
                        [0.0, 0.0, 0.0, 3.0]], dtype=torch.float64)
    w = vlp.hard_negative_weights(sim)
    e = math.e
    # row 0: the positive (3) is dropped, the tie 1, 1 gets equal mass, 0 gets the rest
    assert w[0].tolist() == pytest.approx([0, e / (2 * e + 1), e / (2 * e + 1), 1 / (2 * e + 1)])
    assert w[1].tolist() == pytest.approx([1 / (1 + 2 * e * e), 0, e * e / (1 + 2 * e * e), e * e / (1 + 2 * e * e)])
    assert w[3].tolist() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0])       # all negatives tied
    # texts 0 and 2 describe the same image (id 7): for row 0, column 2 is a positive too
    w_ids = vlp.hard_negative_weights(sim, ids=torch.tensor([7, 1, 7, 2]))
    assert w_ids[0].tolist() == pytest.approx([0, e / (e + 1), 0, 1 / (e + 1)])
    assert w_ids[2].tolist() == pytest.approx([0, 0.5, 0, 0.5])


def test_sampled_negatives_follow_rows_for_images_and_columns_for_texts():
    # row-wise the hardest text for image 0 is 1; column-wise the hardest image for text 0 is 2
    sim = torch.tensor([[9.0, 8.0, -30.0],
                        [-30.0, 9.0, 8.0],
                        [8.0, -30.0, 9.0]])
    g = torch.Generator().manual_seed(0)
    for _ in range(20):                                    # other choices have probability ~e^-38
        neg_text, neg_image = vlp.sample_itm_negatives(sim, g)
        assert neg_text.tolist() == [1, 2, 0]
        assert neg_image.tolist() == [2, 0, 1]


def test_sampling_frequencies_and_never_a_positive():
    sim = torch.tensor([[3.0, 1.0, 1.0, 0.0], [0.0, 3.0, 2.0, 2.0], [1.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 3.0]])
    ids = torch.tensor([7, 1, 7, 2])
    g = torch.Generator().manual_seed(1)
    counts = torch.zeros(4, 4)
    draws = 400
    for _ in range(draws):
        neg_text, _ = vlp.sample_itm_negatives(sim, g, ids)
        counts[torch.arange(4), neg_text] += 1
    assert counts[0, 0] == counts[0, 2] == counts[2, 0] == counts[2, 2] == 0
    assert torch.all(counts.diagonal() == 0)
    e = math.e
    assert counts[0, 1].item() / draws == pytest.approx(e / (e + 1), abs=0.08)   # 3.5 standard errors
    # the image side honours ids too: text 0 and text 2 share an image, so neither gets image 0 or 2
    counts_img = torch.zeros(4, 4)
    for _ in range(200):
        _, neg_image = vlp.sample_itm_negatives(sim, g, ids)
        counts_img[torch.arange(4), neg_image] += 1
    assert counts_img[0, 0] == counts_img[0, 2] == counts_img[2, 0] == counts_img[2, 2] == 0


def test_sampling_uses_the_given_generator():
    sim = torch.randn(40, 40, generator=torch.Generator().manual_seed(3))
    first = vlp.sample_itm_negatives(sim, torch.Generator().manual_seed(7))
    torch.manual_seed(0)                                   # the global RNG must not matter
    second = vlp.sample_itm_negatives(sim, torch.Generator().manual_seed(7))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    other = vlp.sample_itm_negatives(sim, torch.Generator().manual_seed(8))
    assert not (torch.equal(first[0], other[0]) and torch.equal(first[1], other[1]))


def test_query_cross_attention_matches_multihead_attention():
    torch.manual_seed(2)
    n_query, dim, d_image, heads = 4, 8, 6, 2
    ours = vlp.QueryCrossAttention(n_query, dim, d_image, heads)
    ref = nn.MultiheadAttention(dim, heads, kdim=d_image, vdim=d_image, batch_first=True)
    with torch.no_grad():
        ref.q_proj_weight.copy_(ours.q.weight)
        ref.k_proj_weight.copy_(ours.k.weight)
        ref.v_proj_weight.copy_(ours.v.weight)
        ref.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    for n_patches in (5, 11):                              # output size does not depend on the image length
        img = torch.randn(3, n_patches, d_image)
        expected, _ = ref(ours.queries.expand(3, -1, -1), img, img, need_weights=False)
        out = ours(img)
        assert out.shape == (3, n_query, dim)
        torch.testing.assert_close(out, expected)


def test_queries_start_small():
    # BLIP-2 initialises the query tokens with std 0.02 (its initializer_range)
    torch.manual_seed(0)
    std = vlp.QueryCrossAttention(32, 768, 1408, 12).queries.std().item()
    assert std == pytest.approx(0.02, rel=0.05)


def test_blip2_masks_written_out():
    # sequence = [q0, q1, t0, t1, t2]; 1 = row may attend to column
    itc = [[1, 1, 0, 0, 0],
           [1, 1, 0, 0, 0],
           [0, 0, 1, 1, 1],
           [0, 0, 1, 1, 1],
           [0, 0, 1, 1, 1]]
    itm = [[1] * 5 for _ in range(5)]
    itg = [[1, 1, 0, 0, 0],
           [1, 1, 0, 0, 0],
           [1, 1, 1, 0, 0],
           [1, 1, 1, 1, 0],
           [1, 1, 1, 1, 1]]
    for name, expected in (("itc", itc), ("itm", itm), ("itg", itg)):
        got = vlp.qformer_self_attention_mask(2, 3, name)
        assert got.dtype == torch.bool
        assert got.int().tolist() == expected, name
    with pytest.raises(ValueError, match="mlm"):
        vlp.qformer_self_attention_mask(2, 3, "mlm")
