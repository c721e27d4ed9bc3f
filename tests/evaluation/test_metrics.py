"""Tests for snippets/evaluation/metrics.py against sacrebleu, rouge-score, cross_entropy, brute force and
scipy.stats.kendalltau."""
import itertools
import math

import pytest
import sacrebleu
import torch
import torch.nn.functional as F
from rouge_score import rouge_scorer

from snippets import load

m = load("evaluation/metrics")


def test_perplexity_uniform_model_equals_vocab_size():
    assert math.isclose(m.perplexity(torch.full((2, 7), -math.log(32.0))), 32.0, rel_tol=1e-6)


def test_perplexity_matches_exp_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(3, 10, 17)
    ids = torch.randint(0, 17, (3, 10))
    lp = m.token_logprobs_from_logits(logits, ids)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, 17), ids[:, 1:].reshape(-1))
    assert math.isclose(m.perplexity(lp), math.exp(ce.item()), rel_tol=1e-5)


def test_perplexity_mask_hand_computed():
    lp = torch.log(torch.tensor([[0.5, 0.25, 0.9]]))
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    # geometric mean of 0.5 and 0.25 is sqrt(0.125); PPL is its inverse
    assert math.isclose(m.perplexity(lp, mask), 1 / math.sqrt(0.125), rel_tol=1e-6)


CASES = [
    (["the cat sat on the mat today", "there is a dog in the garden"],
     [["the cat sat on a mat today", "there is a dog in my garden"]]),
    (["the cat sat on the mat today"],
     [["the cat sat on a mat today"], ["a cat was sitting on the mat today"]]),
    (["a short one here now", "the quick brown fox jumps over the lazy dog"],
     [["a short one here now please thanks", "the quick brown fox jumped over the lazy dog"]]),
    # hypothesis exactly one token shorter than its reference: brevity penalty exp(1 - 7/6)
    (["the cat sat on the mat"], [["the cat sat on the red mat"]]),
    # two references equally close in length (4 and 6 tokens for a 5-token hypothesis): the shorter one
    # counts, so there is no brevity penalty (the longer one would give exp(1 - 6/5))
    (["a b c d e"], [["a b c d"], ["a b c d e f"]]),
]


@pytest.mark.parametrize("hyps,refs", CASES)
def test_bleu_matches_sacrebleu(hyps, refs):
    ref = sacrebleu.corpus_bleu(hyps, refs, tokenize="none", smooth_method="none")
    assert math.isclose(m.corpus_bleu(hyps, refs), ref.score, rel_tol=1e-9, abs_tol=1e-9)


def test_bleu_zero_when_no_4gram_match():
    hyps, refs = ["the cat the dog"], [["the dog the cat"]]
    assert sacrebleu.corpus_bleu(hyps, refs, tokenize="none", smooth_method="none").score == 0.0
    assert m.corpus_bleu(hyps, refs) == 0.0


@pytest.mark.parametrize("cand,ref", [
    ("the cat sat on the mat", "the cat is on the mat"),
    ("police killed the gunman", "the gunman killed police"),
    ("a b c d e f", "f e d c b a"),
    ("one two three", "four five six"),
    # unequal lengths, so precision != recall and F1 (harmonic mean) differs from their arithmetic mean
    ("the cat sat", "the cat sat on the mat"),
    ("on the mat the cat sat down today", "the cat sat on the mat"),
])
def test_rouge_l_matches_rouge_score(cand, ref):
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    oracle = scorer.score(ref, cand)["rougeL"]          # rouge-score takes (target, prediction)
    ours = m.rouge_l(cand.split(), ref.split())
    assert math.isclose(ours["precision"], oracle.precision)
    assert math.isclose(ours["recall"], oracle.recall)
    assert math.isclose(ours["fmeasure"], oracle.fmeasure)


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 2, 1), (5, 2, 2), (6, 3, 4), (7, 1, 3), (8, 5, 2), (4, 4, 2),
                                   (5, 2, 3), (6, 0, 6)])   # n - c == k: 1 - 1 / C(n, k), not 1
def test_pass_at_k_equals_brute_force_over_subsets(n, c, k):
    samples = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(samples[i] for i in s) for s in subsets) / len(subsets)
    assert math.isclose(m.pass_at_k(n, c, k), brute, rel_tol=1e-12, abs_tol=1e-12)


def test_pass_at_1_is_fraction_correct_and_naive_estimator_is_biased():
    assert math.isclose(m.pass_at_k(200, 37, 1), 37 / 200)
    # the plug-in estimate 1 - (1 - c/n)^k differs from the unbiased one
    assert m.pass_at_k(10, 3, 5) != pytest.approx(1 - (1 - 0.3) ** 5, abs=1e-3)


# --- metric validity: Kendall tau-b against scipy.stats.kendalltau (tau-b by default), with ties,
# and a hand count.
import numpy as np
from scipy import stats


def test_kendall_tau_b_hand_and_scipy():
    human = [1, 2, 3, 4, 5, 6, 7, 8]
    metric = [2, 1, 3, 4, 6, 5, 7, 8]                      # 2 discordant of 28 pairs -> 24/28
    assert math.isclose(m.kendall_tau_b(metric, human), 24 / 28)
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.integers(0, 5, 12).astype(float)           # many ties
        y = x + rng.integers(-2, 3, 12)
        assert math.isclose(m.kendall_tau_b(x.tolist(), y.tolist()), stats.kendalltau(x, y).statistic,
                            rel_tol=1e-12, abs_tol=1e-12)


def test_perplexity_pools_tokens_across_sequences_of_unequal_length():
    # row 0 scores one token (p = 0.5), row 1 three tokens (p = 0.25 each): pooled NLL is
    # (ln 2 + 3 ln 4) / 4 = 7 ln 2 / 4 -> PPL 2^(7/4) = 3.364; averaging per-row PPLs would give (2 + 4) / 2 = 3
    lp = torch.log(torch.tensor([[0.5, 0.9, 0.9], [0.25, 0.25, 0.25]]))
    mask = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    assert math.isclose(m.perplexity(lp, mask), 2 ** (7 / 4), rel_tol=1e-6)
    # the shift: logits at position t score the token at t + 1 (a logit row peaked on the next id)
    ids = torch.tensor([[3, 1, 4]])
    logits = torch.full((1, 3, 5), -1e4)
    logits[0, 0, 1] = logits[0, 1, 4] = 0.0
    torch.testing.assert_close(m.token_logprobs_from_logits(logits, ids), torch.zeros(1, 2))


def test_lcs_length_and_ngrams_by_hand_and_brute_force():
    import itertools
    import random
    # CLRS's example: LCS("ABCBDAB", "BDCABA") = 4 (e.g. "BCBA")
    assert m.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert m.lcs_length([], list("abc")) == 0 and m.lcs_length(list("abc"), list("abc")) == 3

    def brute(a, b):                                    # longest subsequence of a that is one of b
        subs_b = {s for r in range(len(b) + 1) for s in itertools.combinations(b, r)}
        return max(r for r in range(len(a) + 1) for s in itertools.combinations(a, r) if s in subs_b)
    rng = random.Random(0)
    for _ in range(30):
        a = [rng.choice("xyz") for _ in range(rng.randint(0, 7))]
        b = [rng.choice("xyz") for _ in range(rng.randint(0, 7))]
        assert m.lcs_length(a, b) == brute(a, b), (a, b)
    grams = m._ngrams("the cat the cat".split(), 2)
    assert grams == {("the", "cat"): 2, ("cat", "the"): 1}
    assert m._ngrams(["a"], 2) == {}


@pytest.mark.parametrize("hyps,refs", [
    # two references, 3 and 7 tokens, for a 6-token hypothesis: the closest (7) sets the brevity
    # penalty exp(1 - 7/6), not the shortest (3)
    (["a b c d e f"], [["a b c"], ["a b c d e f g"]]),
    # a hypothesis longer than its reference: brevity penalty exactly 1 (never above 1)
    (["a b c d e f g h"], [["a b c d e f g"]]),
    # a 2-token hypothesis has no 3- or 4-grams: it adds 0 (not 1) to those totals -> BLEU 100
    (["the cat sat on the mat", "hello world"], [["the cat sat on the mat", "hello world"]]),
])
def test_bleu_closest_reference_long_hypothesis_and_short_sentence(hyps, refs):
    ref = sacrebleu.corpus_bleu(hyps, refs, tokenize="none", smooth_method="none")
    assert math.isclose(m.corpus_bleu(hyps, refs), ref.score, rel_tol=1e-9, abs_tol=1e-9)


def test_bleu_brevity_penalty_by_hand():
    # all four precisions are 1 in both cases, so BLEU = 100 * BP
    assert math.isclose(m.corpus_bleu(["a b c d e f"], [["a b c"], ["a b c d e f g"]]),
                        100 * math.exp(1 - 7 / 6), rel_tol=1e-12)
    assert math.isclose(m.corpus_bleu(["the cat sat on the mat", "hello world"],
                                      [["the cat sat on the mat", "hello world"]]), 100.0, rel_tol=1e-12)
    # hypothesis 8 tokens, reference 7: p1 = 7/8, p2 = 6/7, p3 = 5/6, p4 = 4/5 -> (1/2)^(1/4), BP = 1
    assert math.isclose(m.corpus_bleu(["a b c d e f g h"], [["a b c d e f g"]]), 100 * 0.5 ** 0.25,
                        rel_tol=1e-12)


def test_kendall_tau_b_tiny_differences_do_not_underflow():
    # differences of 1e-200: their product (1e-400) underflows to 0.0; the pairs are still concordant
    x, y = [0.0, 1e-200, 2e-200, 3e-200], [0.0, 1e-200, 3e-200, 2e-200]
    assert math.isclose(m.kendall_tau_b(x, y), stats.kendalltau(x, y).statistic, rel_tol=1e-12)
    assert math.isclose(m.kendall_tau_b(x, y), (5 - 1) / 6, rel_tol=1e-12)
    # and a huge/tiny ratio (1e-200 / 1e200 underflows too)
    x, y = [0.0, 1e-200, 2e-200], [0.0, 1e200, 2e200]
    assert m.kendall_tau_b(x, y) == 1.0 == stats.kendalltau(x, y).statistic
