"""CHAIR vs hand counts; POPE metrics vs sklearn.metrics; VCD vs a hand computation."""
import math

import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from snippets import load

h = load("multimodal/hallucination")


def test_chair_hand_counted():
    mentions = [
        ["dog", "frisbee", "person"],        # person hallucinated
        ["dog", "bench"],                    # clean
        ["cat", "cat", "remote", "remote"],  # remote hallucinated, mentioned twice: counts twice
        [],                                  # no objects mentioned: a clean caption
    ]
    gts = [{"dog", "frisbee"}, {"dog", "bench", "tree"}, {"cat", "sofa"}, {"car"}]
    ci, cs = h.chair(mentions, gts)
    assert ci == pytest.approx(3 / 9)    # 1 + 0 + 2 + 0 hallucinated of 3 + 2 + 4 + 0 mentions
    assert cs == pytest.approx(2 / 4)    # captions 1 and 3


def test_chair_with_no_mentions_at_all_is_zero():
    # captions that mention no object: nothing hallucinated, CHAIR_i = 0 (not 0 / 0), CHAIR_s = 0
    assert h.chair([[], []], [{"dog"}, {"cat"}]) == (0.0, 0.0)


def test_chair_is_not_recall():
    # Mentioning few objects keeps CHAIR low even if the caption misses most of the image.
    ci, cs = h.chair([["dog"]], [{"dog", "frisbee", "tree", "bench"}])
    assert (ci, cs) == (0.0, 0.0)


def test_parse_yes_no():
    assert [h.parse_yes_no(a) for a in ["Yes, there is a dog.", "No.", "There is not a car.",
                                        "yes", "Nothing suggests a car"]] == [1, 0, 0, 1, 1]
    # punctuation glued to the word still separates it
    assert [h.parse_yes_no(a) for a in ["No,none", "no.", "Yes,it is not.", "Yes.No"]] == [0, 0, 0, 0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pope_metrics_match_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 2, (200,), generator=g).tolist()
    # a biased model: says "yes" 80% of the time regardless of the label, plus some signal
    pred = [y if torch.rand(1, generator=g).item() < 0.5 else int(torch.rand(1, generator=g).item() < 0.8)
            for y in label]
    m = h.pope_metrics(pred, label)
    assert m["accuracy"] == pytest.approx(accuracy_score(label, pred))
    assert m["precision"] == pytest.approx(precision_score(label, pred))
    assert m["recall"] == pytest.approx(recall_score(label, pred))
    assert m["f1"] == pytest.approx(f1_score(label, pred))
    assert m["yes_ratio"] == pytest.approx(sum(pred) / len(pred))


def test_pope_always_no_model_matches_sklearn_zero_division():
    # no "yes" at all: precision, recall and F1 are 0 (sklearn's zero_division=0), not a crash
    label = [1, 0] * 50
    m = h.pope_metrics([0] * 100, label)
    assert m["precision"] == precision_score(label, [0] * 100, zero_division=0) == 0.0
    assert m["recall"] == 0.0 and m["f1"] == f1_score(label, [0] * 100, zero_division=0) == 0.0
    assert m["accuracy"] == 0.5 and m["yes_ratio"] == 0.0
    # no object present and none claimed: recall has no positives to find
    m = h.pope_metrics([0, 0], [0, 0])
    assert m["recall"] == recall_score([0, 0], [0, 0], zero_division=0) == 0.0 and m["accuracy"] == 1.0


def test_mismatched_lengths_are_errors():
    with pytest.raises(ValueError):
        h.chair([["dog"], ["cat"]], [{"dog"}])
    with pytest.raises(ValueError):
        h.pope_metrics([1, 0, 1], [1, 0])


@pytest.mark.parametrize("pred, label", [([1, 0], [1, 1]),              # tp = fn = 1: recall 1/2
                                         ([1, 0, 1, 0], [1, 1, 0, 0])])  # precision = recall = 1/2
def test_pope_equal_counts_match_sklearn(pred, label):
    m = h.pope_metrics(pred, label)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx(
        (precision_score(label, pred), recall_score(label, pred), f1_score(label, pred)))
    assert m["recall"] == 0.5


def test_pope_always_yes_model():
    # POPE is balanced (half the questions ask about absent objects): "always yes" scores
    # accuracy 0.5, recall 1, F1 2/3 and yes-ratio 1 -- the yes-ratio exposes it.
    label = [1, 0] * 50
    m = h.pope_metrics([1] * 100, label)
    assert m == pytest.approx({"accuracy": 0.5, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "yes_ratio": 1.0})


def test_vcd_hand_computation_where_the_mask_matters():
    lo = torch.tensor([2.0, 1.5, 0.0, -3.0])     # real image
    ld = torch.tensor([2.0, 0.5, 0.5, -10.0])    # noised image
    # p(y|v,x) = softmax(lo); threshold beta * max p = 0.1 * e^2 / Z
    z = sum(math.exp(v) for v in lo.tolist())
    p = [math.exp(v) / z for v in lo.tolist()]
    keep = [pi >= 0.1 * max(p) for pi in p]
    assert keep == [True, True, True, False]     # token 3 has p = e^-3/Z, below 0.1 e^2/Z
    # contrast with alpha = 1: 2*lo - ld = [2, 2.5, -0.5, 4]
    out = h.vcd_logits(lo, ld, alpha=1.0, beta=0.1)
    torch.testing.assert_close(out[:3], torch.tensor([2.0, 2.5, -0.5]))
    torch.testing.assert_close(h.vcd_logits(lo, ld), out)     # the defaults are the paper's alpha = 1, beta = 0.1
    assert out[3].item() == float("-inf")
    assert out.argmax().item() == 1              # VCD picks token 1 (supported by the image)
    assert (2 * lo - ld).argmax().item() == 3    # without the mask the implausible token 3 wins
    assert lo.argmax().item() == 0               # plain greedy picks token 0 (the language prior)


def test_vcd_alpha_zero_is_plain_decoding_on_plausible_tokens():
    torch.manual_seed(0)
    lo, ld = torch.randn(3, 50), torch.randn(3, 50)
    out = h.vcd_logits(lo, ld, alpha=0.0, beta=0.0)
    torch.testing.assert_close(out, lo)
    # identical views: contrast returns the original logits on the kept set, whatever alpha
    out = h.vcd_logits(lo, lo, alpha=2.5, beta=0.2)
    kept = torch.isfinite(out)
    torch.testing.assert_close(out[kept], lo[kept])
    assert kept.any(dim=-1).all()                # the top token is always kept


def test_vcd_plausibility_uses_the_real_image_not_the_noised_one():
    # Token 1 is plausible only with the real image (the noised view almost rules it out): this is
    # exactly the visually grounded token VCD should promote. A mask computed on the noised view
    # would delete it.
    lo = torch.tensor([1.0, 2.0])
    ld = torch.tensor([3.0, -3.0])
    out = h.vcd_logits(lo, ld, alpha=1.0, beta=0.1)
    torch.testing.assert_close(out, torch.tensor([-1.0, 7.0]))   # 2*lo - ld, both tokens kept
    assert out.argmax().item() == 1


def _vcd_by_hand(lo: list[float], ld: list[float], alpha: float, beta: float) -> list[float]:
    """One row of VCD with math only: softmax of the real-image logits, the plausibility cut, the contrast."""
    z = sum(math.exp(v) for v in lo)
    p = [math.exp(v) / z for v in lo]
    return [(1 + alpha) * a - alpha * b if pi >= beta * max(p) else float("-inf") for a, b, pi in zip(lo, ld, p)]


def test_vcd_batch_rows_are_independent_by_hand():
    # Two rows on very different scales: the plausibility cut is per row (softmax and max over the vocab
    # of that row), not over the batch or the whole tensor.
    lo = torch.tensor([[2.0, 1.5, 0.0, -3.0], [9.0, 8.0, 12.0, 7.0], [0.0, 0.1, 0.2, 0.3]])
    ld = torch.tensor([[2.0, 0.5, 0.5, -10.0], [1.0, 2.0, 3.0, 4.0], [0.3, 0.2, 0.1, 0.0]])
    out = h.vcd_logits(lo, ld, alpha=0.5, beta=0.1)
    expected = torch.tensor([_vcd_by_hand(a, b, 0.5, 0.1) for a, b in zip(lo.tolist(), ld.tolist())])
    torch.testing.assert_close(out, expected)
    assert torch.isfinite(out).sum(dim=-1).tolist() == [3, 1, 4]


def test_vcd_beta_one_keeps_exactly_the_top_tokens_including_ties():
    # beta = 1: only tokens as probable as the best survive (>= max, so the best itself and exact ties)
    lo = torch.tensor([[0.5, 3.0, 1.0, 2.9], [1.0, 4.0, 4.0, -1.0]])
    ld = torch.zeros_like(lo)
    out = h.vcd_logits(lo, ld, alpha=1.0, beta=1.0)
    assert torch.isfinite(out).tolist() == [[False, True, False, False], [False, True, True, False]]
    torch.testing.assert_close(out[torch.isfinite(out)], torch.tensor([6.0, 8.0, 8.0]))
