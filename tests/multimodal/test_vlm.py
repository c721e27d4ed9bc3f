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


def hand_recall_at_k(q, g, k):
    """Rank each query's gallery by cosine similarity written out with explicit sums."""
    def cos(a, b):
        return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
    hits = 0
    for i, qi in enumerate(q.tolist()):
        scores = [cos(qi, gj) for gj in g.tolist()]
        ranked = sorted(range(len(scores)), key=lambda j: -scores[j])
        hits += i in ranked[:k]
    return hits / len(q)


def test_recall_at_k_is_cosine_not_dot_product():
    # Each query's match is short and nearly parallel to it; item 2 is long and 45 degrees off both.
    q = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.1, 0.0]])
    g = torch.tensor([[0.05, 1.0, 0.0], [1.0, 0.0, 0.3], [10.0, 10.0, 0.0]])
    # cosine: q0 -> item 0 (0.999) > item 2 (0.707); q1 -> item 1 (0.953) > item 2 (0.774): recall@1 = 1.
    # A dot product would rank item 2 first for both (dots 10 and 11 vs 1 and 1): recall@1 = 0.
    assert hand_recall_at_k(q, g, 1) == 1.0
    assert mm.recall_at_k(q, g, 1) == pytest.approx(1.0)
    # gallery reordered so that each query's match is an item it ranks below another: recall@1 = 0
    assert hand_recall_at_k(q, g[[2, 0, 1]], 1) == 0.0
    assert mm.recall_at_k(q, g[[2, 0, 1]], 1) == pytest.approx(0.0)


def test_recall_at_k_random_against_hand_ranking():
    """n_q < n_g (distractors), d different from both, rows and feature columns of very different norms."""
    torch.manual_seed(4)
    n_q, n_g, d = 6, 9, 4
    g = torch.randn(n_g, d, dtype=torch.float64) * torch.logspace(-1, 1, n_g, dtype=torch.float64).unsqueeze(-1)
    q = g[:n_q] + 0.8 * torch.randn(n_q, d, dtype=torch.float64)
    q = q * torch.tensor([5.0, 0.2, 1.0, 3.0], dtype=torch.float64)          # columns of different scale
    q = q * torch.logspace(1, -1, n_q, dtype=torch.float64).unsqueeze(-1)   # rows of different norm
    values = set()
    for k in (1, 2, 3, 5):
        expected = hand_recall_at_k(q, g, k)
        assert mm.recall_at_k(q, g, k) == pytest.approx(expected)
        values.add(expected)
    assert len(values) > 2                                                 # the cases separate recall levels


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
    with pytest.raises(ValueError, match=r"^3 placeholders but 2 image features$"):
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
