"""Byte-level BPE from scratch vs Hugging Face `tokenizers` trained with the same settings."""
import json
import random

import pytest
from checks import fail_after
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from snippets import load

bpe = load("tokenizer/bpe")


@pytest.fixture(autouse=True)
def _fail_instead_of_hanging():
    """Every test here takes well under a second; train_bpe's and merge_pair's while loops spin forever
    on some bugs (a merge that never shortens the words, an index that does not advance). A 20 s alarm
    turns such a hang into a failure that names the test."""
    with fail_after(20, "tokenizer/bpe"):
        yield

CORPUS = [
    "low lower lowest newer newest wider widest",
    "the lowest price is lower than the newer one, isn't it?",
    "大模型的分词器把文本切成词元，大模型按词元计费。",
    "分词器的词表越大，中文的词元数越少；词表太大，嵌入矩阵也会变大。",
    "Tokenizers split text into tokens: 3 tokens, 42 tokens, 1000 tokens!",
    "naïve café résumé — déjà vu 🤗🤗",
] * 4


def hf_byte_level_bpe(corpus, vocab_size, min_frequency=2):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[], show_progress=False)
    tok.train_from_iterator(corpus, trainer)
    merges = json.loads(tok.to_str())["model"]["merges"]
    return tok, [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


@pytest.mark.parametrize("vocab_size", [256 + 30, 256 + 120, 256 + 400])
def test_merges_identical_to_hf_tokenizers(vocab_size):
    hf_tok, hf_merges = hf_byte_level_bpe(CORPUS, vocab_size)
    mine = bpe.train_bpe(CORPUS, vocab_size)
    assert mine == hf_merges
    assert len(hf_tok.get_vocab()) == 256 + len(hf_merges)


def test_byte_alphabet_matches_hf():
    assert sorted(bpe.BYTE2CHAR.values()) == sorted(pre_tokenizers.ByteLevel.alphabet())
    assert bpe.BYTE2CHAR[ord(" ")] == "Ġ"        # GPT-2's famous space symbol


def test_encoding_matches_hf_on_unseen_text():
    hf_tok, merges = hf_byte_level_bpe(CORPUS, 256 + 200)
    for text in ["the newest lower widest", "分词器把中文切成词元", "déjà 🤗 naïve 12345", "  two  spaces\n"]:
        assert bpe.encode(text, merges) == hf_tok.encode(text).tokens


def test_round_trip_on_arbitrary_unicode():
    merges = bpe.train_bpe(CORPUS, 256 + 150)
    rng = random.Random(0)
    pools = [(0x20, 0x7E), (0x4E00, 0x9FFF), (0x1F300, 0x1F6FF), (0x0400, 0x04FF), (0x0600, 0x06FF)]
    for _ in range(200):
        text = "".join(chr(rng.randint(*rng.choice(pools))) for _ in range(rng.randint(1, 30)))
        assert bpe.decode(bpe.encode(text, merges)) == text


def test_no_merges_means_one_token_per_byte():
    text = "中文🤗a"                 # two CJK chars (3 bytes each) + emoji (4) + ASCII (1)
    assert len(bpe.encode(text, [])) == 2 * 3 + 4 + 1


def test_hand_example_first_merge():
    # "aaab aab": pair counts (a,a)=3 [2 in 'aaab', 1 in 'aab'], (a,b)=2, (Ġ,a)=1 -> first merge (a,a).
    assert bpe.train_bpe(["aaab aab"], 257, min_frequency=1)[0] == ("a", "a")


def test_byte_alphabet_is_gpt2s():
    m = bpe.bytes_to_unicode()
    assert len(m) == 256 and len(set(m.values())) == 256
    assert set(m.values()) == set(pre_tokenizers.ByteLevel.alphabet())     # oracle: HF tokenizers
    # GPT-2's well-known symbols: space 32 -> 'Ġ' (U+0120 = 256 + 32), newline 10 -> 'Ċ' (256 + 10)
    assert m[32] == "Ġ" and m[10] == "Ċ" and m[ord("A")] == "A" and m[0] == chr(256)


def test_merge_pair_left_to_right_without_overlap():
    assert bpe.merge_pair(list("aaa"), ("a", "a")) == ["aa", "a"]               # not ["a", "aa"]
    assert bpe.merge_pair(list("aaaa"), ("a", "a")) == ["aa", "aa"]
    assert bpe.merge_pair(["l", "o", "w", "l", "o"], ("l", "o")) == ["lo", "w", "lo"]
    assert bpe.merge_pair(["a", "b"], ("b", "a")) == ["a", "b"]


def test_pre_tokenize_matches_the_tokenizers_byte_level_pre_tokenizer():
    from tokenizers.pre_tokenizers import ByteLevel
    oracle = ByteLevel(add_prefix_space=False, use_regex=True)
    for text in ["Hello world!", "it's 2026, 大模型 rocks\n\n  ok", "naïve café's   tabs\tand  spaces"]:
        assert bpe.pre_tokenize(text) == [piece for piece, _ in oracle.pre_tokenize_str(text)], text


@pytest.mark.parametrize("min_frequency", [2, 5])
def test_training_stops_at_min_frequency_like_hf(min_frequency):
    # a vocabulary size the corpus cannot fill: training ends when the best pair occurs < min_frequency times
    hf_tok, hf_merges = hf_byte_level_bpe(CORPUS, 256 + 5000, min_frequency)
    mine = bpe.train_bpe(CORPUS, 256 + 5000, min_frequency)
    assert len(mine) < 5000 and mine == hf_merges
    # CORPUS repeats every text 4 times, so all counts are multiples of 4: min_frequency 5 stops the training
    # early, 2 only when no pair is left. One copy has pairs seen once: the default min_frequency (2) stops it
    _, hf_once = hf_byte_level_bpe(CORPUS[:6], 256 + 5000, 2)
    assert bpe.train_bpe(CORPUS[:6], 256 + 5000) == hf_once


def test_training_ends_when_no_pair_is_left():
    # "abab ab": after a few merges every word is a single symbol, long before 300 tokens
    _, hf_merges = hf_byte_level_bpe(["abab ab"], 300, min_frequency=1)
    mine = bpe.train_bpe(["abab ab"], 300, min_frequency=1)
    assert mine == hf_merges and 0 < len(mine) < 5


def test_decode_of_a_cut_character_matches_hf_lossy_decoding():
    # the first 3 of the emoji's 4 bytes are not valid UTF-8: both replace them with U+FFFD
    hf_tok, merges = hf_byte_level_bpe(CORPUS, 256 + 50)
    syms = bpe.encode("a🤗", [])                             # one symbol per byte
    cut = syms[:-1]
    assert bpe.decode(cut) == hf_tok.decoder.decode(cut) == "a\ufffd"
