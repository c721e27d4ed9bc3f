"""CLIP loss vs a hand computation, recall@k on constructed cases, LLaVA splice invariants."""
import math

import pytest
import torch

from snippets import load

mm = load("multimodal/vlm")


def hand_clip_loss(img, txt, scale):
    """Symmetric cross-entropy written out with explicit sums over the similarity matrix."""
    n = len(img)
    unit = lambda v: [x / math.sqrt(sum(y * y for y in v)) for x in v]
    a = [unit(r) for r in img.tolist()]
    b = [unit(r) for r in txt.tolist()]
    s = [[scale * sum(x * y for x, y in zip(a[i], b[j])) for j in range(n)] for i in range(n)]
    i2t = sum(-s[i][i] + math.log(sum(math.exp(s[i][j]) for j in range(n))) for i in range(n)) / n
    t2i = sum(-s[j][j] + math.log(sum(math.exp(s[i][j]) for i in range(n))) for j in range(n)) / n
    return (i2t + t2i) / 2


def test_clip_loss_matches_hand_computation():
    torch.manual_seed(0)
    img, txt = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, 7, dtype=torch.float64)
    for scale in (1.0, 14.3):
        assert mm.clip_loss(img, txt, scale).item() == pytest.approx(hand_clip_loss(img, txt, scale), rel=1e-10)


def test_clip_loss_limits():
    n = 6
    e = torch.eye(n, 8, dtype=torch.float64)                 # orthonormal, perfectly matched
    assert mm.clip_loss(e, e, 100.0).item() < 1e-6            # large scale -> loss -> 0
    assert mm.clip_loss(e, e, 0.0).item() == pytest.approx(math.log(n))   # scale 0 -> uniform -> ln n


def test_clip_loss_is_symmetric_in_modalities():
    torch.manual_seed(1)
    img, txt = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(mm.clip_loss(img, txt, 10.0), mm.clip_loss(txt, img, 10.0))


def test_recall_at_k_constructed():
    g = torch.eye(4)
    q = torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0.3, 0, 0.1, 1.0], [0, 0, 1.0, 0.9]])
    # q0, q1 rank their match first; q3 ranks item 2 first, its match (3) second;
    # q2 ranks items 3, 0, then its match 2 third.
    assert mm.recall_at_k(q, g, 1) == pytest.approx(0.5)
    assert mm.recall_at_k(q, g, 2) == pytest.approx(0.75)
    assert mm.recall_at_k(q, g, 3) == pytest.approx(1.0)


def test_splice_keeps_text_and_inserts_patches_in_order():
    torch.manual_seed(2)
    ids = torch.tensor([3, 9, 9, 9, 4])
    text = torch.randn(5, 6)
    feats = torch.randn(3, 6)
    before = text.clone()
    out = mm.splice_image_tokens(text, ids, 9, feats)
    torch.testing.assert_close(out[[0, 4]], text[[0, 4]])
    torch.testing.assert_close(out[1:4], feats)
    torch.testing.assert_close(text, before)                  # the input embeddings are not written in place
    with pytest.raises(ValueError):
        mm.splice_image_tokens(text, ids, 9, feats[:2])


def test_projector_shape():
    p = mm.LlavaProjector(10, 6)
    assert p(torch.randn(576, 10)).shape == (576, 6)          # 24 x 24 patches of a 336px ViT-L/14


def test_projector_is_linear_gelu_linear():
    """Oracle: the two Linear layers applied by hand with the exact (erf) GELU in between."""
    torch.manual_seed(3)
    p = mm.LlavaProjector(10, 6).double()
    x = torch.randn(7, 10, dtype=torch.float64) * 2
    linears = [m for m in p.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(10, 6), (6, 6)]
    w1, b1, w2, b2 = linears[0].weight, linears[0].bias, linears[1].weight, linears[1].bias
    h = x @ w1.T + b1
    h = 0.5 * h * (1 + torch.erf(h / math.sqrt(2)))           # GELU(x) = x * Phi(x), not the tanh approximation
    torch.testing.assert_close(p(x), h @ w2.T + b2, rtol=1e-12, atol=1e-12)
    # the non-linearity matters: dropping it gives a visibly different map
    assert not torch.allclose(p(x), (x @ w1.T + b1) @ w2.T + b2, atol=1e-3)
