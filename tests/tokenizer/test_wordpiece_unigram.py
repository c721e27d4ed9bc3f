"""WordPiece and Unigram tokenization vs Hugging Face `tokenizers` models with the same vocabulary."""
import math

import pytest

from checks import fail_after

from tokenizers import Tokenizer, models, pre_tokenizers

from snippets import load

wu = load("tokenizer/wordpiece_unigram")


@pytest.fixture(autouse=True)
def _fail_instead_of_hanging():
    """Every test here runs in well under a second; the snippet's while loops (greedy WordPiece,
    Viterbi backtrace, BPE-dropout) spin forever on some bugs (e.g. ``end -= 1`` -> ``end += 1``).
    A 20 s alarm turns such a hang into a failure that names the test instead of a stuck run."""
    with fail_after(20, "tokenizer/wordpiece_unigram"):
        yield

WP_VOCAB = ["[UNK]", "un", "##aff", "##able", "aff", "able", "play", "##ing", "##ed", "##s",
            "token", "##izer", "##ize", "u", "##n", "t", "##o", "##k", "##e"]


def test_wordpiece_matches_hf_wordpiece():
    hf = Tokenizer(models.WordPiece({t: i for i, t in enumerate(WP_VOCAB)}, unk_token="[UNK]",
                                    max_input_chars_per_word=100))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    for word in ["unaffable", "playing", "played", "tokenizers", "tokenize", "toke", "tokenxyz", "un", "x"]:
        assert wu.wordpiece_encode(word, set(WP_VOCAB)) == hf.encode(word).tokens, word


def test_wordpiece_max_chars_boundary_matches_hf():
    # a word of exactly max_chars characters is still split; one more character makes it [UNK]
    vocab = ["[UNK]", "a", "##a"]
    hf = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]",
                                    max_input_chars_per_word=10))
    for n in (9, 10, 11):
        ours = wu.wordpiece_encode("a" * n, set(vocab), max_chars=10)
        assert ours == hf.encode("a" * n).tokens, n
    assert wu.wordpiece_encode("a" * 10, set(vocab), max_chars=10) == ["a"] + ["##a"] * 9
    assert wu.wordpiece_encode("a" * 100, set(vocab)) == ["a"] + ["##a"] * 99             # default 100, as BERT
    assert wu.wordpiece_encode("a" * 101, set(vocab)) == ["[UNK]"]


def test_wordpiece_whole_word_unk_and_greedy():
    vocab = {"a", "##b", "ab", "##c"}
    assert wu.wordpiece_encode("abc", vocab) == ["ab", "##c"]      # longest prefix first
    assert wu.wordpiece_encode("abd", vocab) == ["[UNK]"]          # one bad piece -> whole word UNK


def test_wordpiece_score_by_hand():
    # count(ab)=20, count(a)=400, count(b)=300 -> 20 / 120000
    assert math.isclose(wu.wordpiece_pair_score(20, 400, 300), 20 / 120000)
    assert wu.wordpiece_pair_score(10, 12, 15) > wu.wordpiece_pair_score(20, 400, 300)


def test_unigram_viterbi_matches_hf_unigram():
    probs = {"▁": .05, "▁new": .05, "▁newer": .02, "er": .04, "est": .03, "▁low": .06, "n": .1,
             "e": .1, "w": .1, "r": .1, "s": .1, "t": .1, "l": .05, "o": .05, "▁lowest": .01, "▁lo": .02}
    vocab = [("<unk>", 0.0)] + [(p, math.log(q)) for p, q in probs.items()]
    hf = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=False))
    lp = dict(vocab[1:])
    for text in ["▁newer", "▁newest", "▁lowest", "▁lower", "▁slow", "▁stew"]:
        assert wu.unigram_viterbi(text, lp) == hf.encode(text).tokens, text


def test_unigram_viterbi_ties_and_unsegmentable_text():
    # equal scores: a + b = ab, a + bc = ab + c = abc = a + b + c. Like HF's lattice, the segmentation
    # keeps the first best found (the longest last piece), and HF is the oracle for which one that is
    lp = {"a": -1.0, "b": -1.0, "c": -1.0, "ab": -2.0, "bc": -2.0, "abc": -3.0}
    hf = Tokenizer(models.Unigram([("<unk>", 0.0)] + list(lp.items()), unk_id=0, byte_fallback=False))
    for text in ["ab", "abc", "aab", "abab", "cab", "bcab"]:
        assert wu.unigram_viterbi(text, lp) == hf.encode(text).tokens, text
    with pytest.raises(ValueError, match="^text cannot be segmented with this vocabulary$"):
        wu.unigram_viterbi("abd", lp)                                 # no piece covers "d"


def test_unigram_viterbi_is_optimal_by_brute_force():
    lp = {"a": math.log(.3), "b": math.log(.3), "ab": math.log(.05), "abb": math.log(.01), "bb": math.log(.1)}
    text = "abbab"

    def all_segs(s):
        if not s:
            yield []
        for i in range(1, len(s) + 1):
            if s[:i] in lp:
                for rest in all_segs(s[i:]):
                    yield [s[:i]] + rest
    best = max(all_segs(text), key=lambda seg: sum(lp[p] for p in seg))
    assert wu.unigram_viterbi(text, lp) == best


MERGES = [("l", "o"), ("lo", "w"), ("e", "r"), ("n", "e"), ("ne", "w"), ("low", "er"), ("e", "s"), ("es", "t")]
WORDS = ["lower", "newest", "low", "newer", "lowest"]


def _hf_bpe(dropout=None) -> Tokenizer:
    vocab = {c: i for i, c in enumerate(sorted(set("".join(WORDS))))}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=MERGES, dropout=dropout))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return tok


def test_bpe_dropout_p0_matches_hf_bpe_and_p1_gives_characters():
    import random
    hf = _hf_bpe()
    rng = random.Random(0)
    for w in WORDS:
        assert wu.bpe_dropout_encode(w, MERGES, 0.0, rng) == hf.encode(w).tokens
        assert wu.bpe_dropout_encode(w, MERGES, 1.0, rng) == list(w)


def test_bpe_dropout_length_closed_form():
    # "low": keep (l,o) w.p. 1-p, then (lo,w) w.p. 1-p -> E[tokens] = 3p + 2p(1-p) + (1-p)^2
    p = 0.1
    expected = 3 * p + 2 * p * (1 - p) + (1 - p) ** 2                # 1.29
    assert wu.mean_tokens(["low"], MERGES, p, samples=40_000) == pytest.approx(expected, abs=0.01)
    assert wu.mean_tokens(WORDS, MERGES, 0.0, samples=1) == sum(len(_hf_bpe().encode(w).tokens) for w in WORDS) / 5


def test_mean_tokens_is_seeded_and_reproducible():
    # its own random.Random(seed): the same call gives the same number; defaults are 20 samples, seed 0
    a = wu.mean_tokens(WORDS, MERGES, 0.3)
    assert wu.mean_tokens(WORDS, MERGES, 0.3) == a == wu.mean_tokens(WORDS, MERGES, 0.3, samples=20, seed=0)
    assert wu.mean_tokens(WORDS, MERGES, 0.3, seed=1) != a


def test_bpe_dropout_length_close_to_hf_dropout():
    """HF tokenizers' own BPE-dropout should lengthen these words by a similar factor."""
    hf = _hf_bpe(dropout=0.1)
    n = 4000
    hf_mean = sum(len(hf.encode(w).tokens) for _ in range(n) for w in WORDS) / (n * len(WORDS))
    ours = wu.mean_tokens(WORDS, MERGES, 0.1, samples=n)
    assert ours == pytest.approx(hf_mean, rel=0.05)


class _BoundedVocab(set):
    """A vocabulary that fails after `limit` lookups: greedy WordPiece looks up at most
    len(word) * (len(word) + 1) / 2 candidates, so a loop that makes no progress is caught at once."""
    def __init__(self, items, limit):
        super().__init__(items)
        self.lookups, self.limit = 0, limit

    def __contains__(self, item):
        self.lookups += 1
        assert self.lookups <= self.limit, "WordPiece loops without progress (matched an empty piece?)"
        return super().__contains__(item)


@pytest.mark.parametrize("vocab,word", [(["[UNK]", "a", "##"], "ab"),      # bare "##": empty continuation
                                        (["[UNK]", "", "a", "##a"], "ba")])  # "": empty first piece
def test_wordpiece_never_matches_an_empty_piece_like_hf(vocab, word):
    # only non-empty pieces are candidates: an unmatchable position still makes the word [UNK]
    hf = Tokenizer(models.WordPiece({t: i for i, t in enumerate(vocab)}, unk_token="[UNK]"))
    ours = wu.wordpiece_encode(word, _BoundedVocab(vocab, limit=len(word) * (len(word) + 1) // 2))
    assert ours == hf.encode(word).tokens == ["[UNK]"]


class _FixedDraws:
    """Stands in for random.Random: random() returns the given values in turn."""
    def __init__(self, values):
        self.values = iter(values)

    def random(self):
        return next(self.values)


def test_bpe_dropout_keeps_a_merge_when_the_draw_equals_p():
    # a merge is dropped iff u < p, so P(drop) = p for u ~ U[0, 1) and p = 0 never drops, even on u = 0.0
    # (random.Random.random() can return 0.0). "low" with merges (l,o) then (lo,w): two steps, one draw each
    # applicable pair per step, then a last step with no applicable pair.
    assert wu.bpe_dropout_encode("low", MERGES, 0.0, _FixedDraws([0.0] * 10)) == _hf_bpe().encode("low").tokens
    assert wu.bpe_dropout_encode("low", MERGES, 0.5, _FixedDraws([0.5] * 10)) == _hf_bpe().encode("low").tokens
    assert wu.bpe_dropout_encode("low", MERGES, 0.5, _FixedDraws([0.4999] * 10)) == list("low")
