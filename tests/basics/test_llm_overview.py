"""Bigram LM vs hand-computed counts, normalisation and NLTK's Lidstone model; KV-cache size vs hand arithmetic."""
import math

import pytest
from nltk.lm import Lidstone, Vocabulary
from nltk.lm.preprocessing import pad_both_ends, padded_everygram_pipeline
from nltk.util import bigrams

from snippets import load

ov = load("basics/llm_overview")

CORPUS = [s.split() for s in ["the cat sat on the mat", "the dog sat on the rug", "a cat saw the dog"]]


def test_bigram_probability_by_hand():
    lm = ov.BigramLM(CORPUS, k=1.0)
    V = len(lm.vocab)          # 9 distinct words + <s>, </s>, <unk> = 12
    assert V == 12
    # c(cat, sat) = 1, c(cat) = 2  ->  (1 + 1) / (2 + 12)
    assert lm.prob("cat", "sat") == pytest.approx(2 / 14)
    # c(the) = 5 (two in each of sentences 1-2, one in 3), c(the, cat) = 1  ->  2 / 17
    assert lm.prob("the", "cat") == pytest.approx(2 / 17)


@pytest.mark.parametrize("prev", ["the", "cat", "<s>", "zebra"])
def test_bigram_distribution_sums_to_one(prev):
    lm = ov.BigramLM(CORPUS, k=0.5)
    assert sum(lm.prob(prev, w) for w in lm.vocab) == pytest.approx(1.0)


def test_default_is_add_one_smoothing():
    # k defaults to 1 (add-one / Laplace): c(cat, sat) = 1, c(cat) = 2, |V| = 12  ->  2 / 14
    assert ov.BigramLM(CORPUS).prob("cat", "sat") == pytest.approx(2 / 14)


# A corpus whose rare words were already replaced by <unk> (as is usual before counting): the unknown-word
# token has counts of its own, so an unseen word must be looked up as <unk>, not given zero counts.
UNK_CORPUS = [["the", "<unk>", "sat"], ["<unk>", "sat"], ["the", "cat"]]


def test_unknown_words_are_looked_up_as_unk():
    lm = ov.BigramLM(UNK_CORPUS)
    assert len(lm.vocab) == 6                           # the, <unk>, sat, cat, <s>, </s>: <unk> counted once
    # c(<unk>, sat) = 2, c(<unk>) = 2  ->  (2 + 1) / (2 + 6), for <unk> itself and for any unseen context
    assert lm.prob("<unk>", "sat") == pytest.approx(3 / 8)
    assert lm.prob("zebra", "sat") == pytest.approx(3 / 8)
    # c(the, <unk>) = 1, c(the) = 2  ->  (1 + 1) / (2 + 6), for an unseen next word too
    assert lm.prob("the", "zebra") == pytest.approx(2 / 8)
    # the sentence "zebra sat" is scored as "<unk> sat": (1+1)/(3+6) * 3/8 * (2+1)/(2+6), over 3 steps
    assert lm.perplexity(["zebra", "sat"]) == pytest.approx((2 / 9 * 3 / 8 * 3 / 8) ** (-1 / 3))


@pytest.mark.parametrize("k", [1.0, 0.5, 0.01])
def test_matches_nltk_lidstone(k):
    # NLTK's Lidstone (add-k) bigram model, trained on the same padded sentences, with <unk> as its OOV label.
    ref = Lidstone(k, 2, vocabulary=Vocabulary(unk_label="<unk>"))
    ref.fit(*padded_everygram_pipeline(2, CORPUS))
    lm = ov.BigramLM(CORPUS, k=k)
    assert sorted(ref.vocab) == lm.vocab
    for prev in lm.vocab + ["zebra"]:
        for word in lm.vocab + ["zebra"]:
            assert lm.prob(prev, word) == pytest.approx(ref.score(word, [prev]), rel=1e-12), (prev, word)
    for s in ["the cat sat on the rug", "rug the on sat cat the", "a zebra saw the mat"]:
        sent = s.split()
        assert lm.perplexity(sent) == pytest.approx(ref.perplexity(bigrams(pad_both_ends(sent, 2))), rel=1e-9)


def test_unsmoothed_model_gives_zero_to_unseen_pairs():
    lm = ov.BigramLM(CORPUS, k=0.0)
    assert lm.prob("mat", "sat") == 0.0                 # never seen "mat sat": probability 0
    assert ov.BigramLM(CORPUS, k=1.0).prob("mat", "sat") > 0   # add-one smoothing fixes that


def test_perplexity_by_hand():
    lm = ov.BigramLM([["a"]], k=0.0)            # only "<s> a </s>": every step has probability 1
    assert lm.perplexity(["a"]) == pytest.approx(1.0)
    lm1 = ov.BigramLM([["a"], ["b"]], k=0.0)    # P(a|<s>) = 1/2, P(</s>|a) = 1 -> PPL = (2)^(1/2)
    assert lm1.perplexity(["a"]) == pytest.approx(math.sqrt(2))


def test_kv_cache_bytes_by_hand():
    # Llama-2-7B: 2 * 32 layers * 32 heads * 128 dims * 2 bytes = 524,288 bytes = 0.5 MiB per token.
    assert ov.kv_cache_bytes(1, 32, 32, 128) == 524_288
    assert ov.kv_cache_bytes(4096, 32, 32, 128) == 2 * 2 ** 30
    # GQA with 8 KV heads is 4x smaller per token.
    assert ov.kv_cache_bytes(1, 32, 8, 128) * 4 == ov.kv_cache_bytes(1, 32, 32, 128)
    # Llama-3-8B, 4096 tokens, batch 4, fp8 (1 byte): 2 * 32 * 8 * 128 * 4096 * 4 * 1 = 2^30 bytes
    assert ov.kv_cache_bytes(4096, 32, 8, 128, batch=4, bytes_per_value=1) == 2 ** 30
    # every factor counts once: distinct primes, 2 * 3 * 5 * 7 * 11 * 13 * 17 = 510,510
    assert ov.kv_cache_bytes(11, 3, 5, 7, batch=13, bytes_per_value=17) == 510_510
