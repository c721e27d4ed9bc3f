"""WordPiece and Unigram tokenization vs Hugging Face `tokenizers` models with the same vocabulary."""
import math

from tokenizers import Tokenizer, models, pre_tokenizers

from snippets import load

wu = load("tokenizer/wordpiece_unigram")

WP_VOCAB = ["[UNK]", "un", "##aff", "##able", "aff", "able", "play", "##ing", "##ed", "##s",
            "token", "##izer", "##ize", "u", "##n", "t", "##o", "##k", "##e"]


def test_wordpiece_matches_hf_wordpiece():
    hf = Tokenizer(models.WordPiece({t: i for i, t in enumerate(WP_VOCAB)}, unk_token="[UNK]",
                                    max_input_chars_per_word=100))
    hf.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    for word in ["unaffable", "playing", "played", "tokenizers", "tokenize", "toke", "tokenxyz", "un", "x"]:
        assert wu.wordpiece_encode(word, set(WP_VOCAB)) == hf.encode(word).tokens, word


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
