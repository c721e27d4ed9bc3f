"""WordPiece (greedy longest-match-first, merge score) and Unigram (Viterbi) tokenization.

Pages: docs/tokenizer/wordpiece_unigram.{zh,en}.md
"""
from __future__ import annotations

import math
import random


# --8<-- [start:wordpiece_encode]
def wordpiece_encode(word: str, vocab: set[str], unk: str = "[UNK]",
                     max_chars: int = 100) -> list[str]:
    """BERT-style WordPiece for one whitespace-separated word.

    Greedy longest-match-first: take the longest prefix in the vocabulary, then
    continue on the rest with the '##' continuation prefix. If some position has
    no match at all, the WHOLE word becomes [UNK] (not just the bad piece).
    """
    if len(word) > max_chars:
        return [unk]
    pieces, start = [], 0
    while start < len(word):
        end, match = len(word), None
        while start < end:
            cand = word[start:end] if start == 0 else "##" + word[start:end]
            if cand in vocab:
                match = cand
                break
            end -= 1
        if match is None:
            return [unk]
        pieces.append(match)
        start = end
    return pieces
# --8<-- [end:wordpiece_encode]


# --8<-- [start:wordpiece_score]
def wordpiece_pair_score(pair_count: int, left_count: int, right_count: int) -> float:
    """WordPiece training picks the pair maximising count(ab) / (count(a) * count(b)).

    BPE would pick the pair with the largest count(ab). Dividing by the parts'
    counts favours pairs whose parts rarely occur apart (a likelihood-gain proxy).
    """
    return pair_count / (left_count * right_count)
# --8<-- [end:wordpiece_score]


# --8<-- [start:unigram_viterbi]
def unigram_viterbi(text: str, log_probs: dict[str, float]) -> list[str]:
    """Most probable segmentation under a unigram LM: argmax sum of log p(piece).

    best[i] = best score of text[:i]; O(len(text) * max_piece_len) dynamic programming.
    """
    max_len = max(map(len, log_probs))
    best = [0.0] + [-math.inf] * len(text)
    back = [0] * (len(text) + 1)
    for end in range(1, len(text) + 1):
        for start in range(max(0, end - max_len), end):
            piece = text[start:end]
            if piece in log_probs and best[start] + log_probs[piece] > best[end]:
                best[end] = best[start] + log_probs[piece]
                back[end] = start
    if best[-1] == -math.inf:
        raise ValueError("text cannot be segmented with this vocabulary")
    pieces, end = [], len(text)
    while end > 0:
        pieces.append(text[back[end]:end])
        end = back[end]
    return pieces[::-1]
# --8<-- [end:unigram_viterbi]


# --8<-- [start:bpe_dropout]
def bpe_dropout_encode(word: str, merges: list[tuple[str, str]], p: float, rng: random.Random) -> list[str]:
    """BPE-dropout (Provilkov et al., 2020): start from characters; at every step each applicable
    merge is dropped with probability p, then the highest-priority surviving merge is applied
    (one occurrence); stop when no merge survives. p = 0 is plain BPE, p = 1 gives characters."""
    rank = {pair: i for i, pair in enumerate(merges)}
    pieces = list(word)
    while True:
        cands = [(rank[(a, b)], i) for i, (a, b) in enumerate(zip(pieces, pieces[1:]))
                 if (a, b) in rank and rng.random() >= p]
        if not cands:
            return pieces
        _, i = min(cands)
        pieces[i:i + 2] = [pieces[i] + pieces[i + 1]]


def mean_tokens(words: list[str], merges: list[tuple[str, str]], p: float, samples: int = 20,
                seed: int = 0) -> float:
    """Average tokens per word under BPE-dropout: the sequence-length cost of regularization."""
    rng = random.Random(seed)
    total = sum(len(bpe_dropout_encode(w, merges, p, rng)) for _ in range(samples) for w in words)
    return total / (samples * len(words))
# --8<-- [end:bpe_dropout]


if __name__ == "__main__":
    vocab = {"un", "##aff", "##able", "aff", "able", "play", "##ing", "##s", "token", "##izer", "u", "##n"}
    for w in ["unaffable", "playing", "tokenizers", "tokenxyz"]:
        print(f"WordPiece {w!r}: {wordpiece_encode(w, vocab)}")
    print("pair score, frequent parts:", wordpiece_pair_score(20, 400, 300),
          "rare parts:", wordpiece_pair_score(10, 12, 15))
    lp = {p: math.log(q) for p, q in {"▁": .05, "▁new": .05, "▁newer": .02, "er": .04, "est": .03,
                                      "▁low": .06, "n": .1, "e": .1, "w": .1, "r": .1, "s": .1,
                                      "t": .1, "l": .05, "o": .05, "▁lowest": .01}.items()}
    for t in ["▁newer", "▁newest", "▁lowest", "▁lower"]:
        print(f"Unigram {t!r}: {unigram_viterbi(t, lp)}")
    # BPE-dropout length cost on a toy merge table
    merges = [("l", "o"), ("lo", "w"), ("e", "r"), ("n", "e"), ("ne", "w"), ("low", "er"), ("e", "s"), ("es", "t")]
    words = ["lower", "newest", "low", "newer", "lowest"]
    base = mean_tokens(words, merges, 0.0, samples=1)
    for p in (0.1, 0.3, 1.0):
        print(f"BPE-dropout p={p}: {mean_tokens(words, merges, p, samples=2000) / base:.2f}x the tokens of plain BPE")
