"""Bigram LM vs hand-computed counts and normalisation; KV-cache size vs hand arithmetic."""
import math

import pytest

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
