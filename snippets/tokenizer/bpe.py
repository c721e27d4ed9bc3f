"""Byte-level BPE from scratch: trainer, encoder, decoder (GPT-2 style).

Pages: docs/tokenizer/bpe.{zh,en}.md
"""
from __future__ import annotations

from collections import Counter

import regex

# GPT-2's pre-tokenization pattern: contractions, letters, digits, other symbols, whitespace.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


# --8<-- [start:byte_alphabet]
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from the 256 byte values to 256 printable Unicode characters.

    Printable Latin-1 bytes map to themselves; the other 68 bytes (control chars,
    space, ...) map to code points 256, 257, ... so every byte has a visible symbol.
    """
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    mapping, extra = {}, 0
    for b in range(256):
        if b in keep:
            mapping[b] = chr(b)
        else:
            mapping[b] = chr(256 + extra)
            extra += 1
    return mapping


BYTE2CHAR = bytes_to_unicode()
CHAR2BYTE = {c: b for b, c in BYTE2CHAR.items()}


def pre_tokenize(text: str) -> list[str]:
    """Split text with the GPT-2 regex, then spell each piece as byte symbols."""
    return ["".join(BYTE2CHAR[b] for b in piece.encode("utf-8"))
            for piece in regex.findall(GPT2_PATTERN, text)]
# --8<-- [end:byte_alphabet]


# --8<-- [start:train]
def train_bpe(corpus: list[str], vocab_size: int, min_frequency: int = 2) -> list[tuple[str, str]]:
    """Learn byte-level BPE merges. Returns the merge list in rank order.

    Base vocabulary: the 256 byte symbols. Each step counts adjacent symbol pairs
    over all words (weighted by word frequency), merges the most frequent pair
    everywhere, and stops at vocab_size or when the best count < min_frequency.
    Ties go to the pair whose (left id, right id) is smallest, where base symbols
    are numbered in code-point order and new tokens get the next id (this is the
    order Hugging Face `tokenizers` uses, so the merges come out identical).
    """
    word_freq = Counter(w for text in corpus for w in pre_tokenize(text))
    words = {w: list(w) for w in word_freq}                 # word -> current symbols
    token_id = {c: i for i, c in enumerate(sorted(BYTE2CHAR.values()))}
    merges: list[tuple[str, str]] = []
    while len(token_id) < vocab_size:
        pair_count: Counter[tuple[str, str]] = Counter()
        for w, syms in words.items():
            for a, b in zip(syms, syms[1:]):
                pair_count[(a, b)] += word_freq[w]
        if not pair_count:
            break
        best = min(pair_count, key=lambda p: (-pair_count[p], token_id[p[0]], token_id[p[1]]))
        if pair_count[best] < min_frequency:
            break
        merges.append(best)
        new = best[0] + best[1]
        token_id.setdefault(new, len(token_id))
        for w, syms in words.items():
            words[w] = merge_pair(syms, best)
    return merges


def merge_pair(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Replace every non-overlapping occurrence of pair, scanning left to right."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
            out.append(symbols[i] + symbols[i + 1])
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out
# --8<-- [end:train]


# --8<-- [start:encode]
def encode(text: str, merges: list[tuple[str, str]]) -> list[str]:
    """Tokenize: pre-tokenize, then in each word repeatedly apply the lowest-rank merge."""
    rank = {pair: r for r, pair in enumerate(merges)}
    tokens: list[str] = []
    for word in pre_tokenize(text):
        syms = list(word)
        while len(syms) > 1:
            pairs = [(rank.get(p, float("inf")), p) for p in zip(syms, syms[1:])]
            r, best = min(pairs)
            if r == float("inf"):
                break
            syms = merge_pair(syms, best)
        tokens.extend(syms)
    return tokens


def decode(tokens: list[str]) -> str:
    """Map byte symbols back to bytes and decode UTF-8 (lossless for any input text)."""
    data = bytes(CHAR2BYTE[c] for tok in tokens for c in tok)
    return data.decode("utf-8", errors="replace")
# --8<-- [end:encode]


DEMO_CORPUS = [
    "low lower lowest newer newest wider",
    "the lowest price is lower than the newer one",
    "大模型的分词器把文本切成词元，大模型按词元计费。",
    "分词器的词表越大，中文的词元数越少。",
    "tokenizers split text into tokens; tokens are what models see.",
]

if __name__ == "__main__":
    merges = train_bpe(DEMO_CORPUS * 3, vocab_size=256 + 40)
    print("first merges:", merges[:8])
    for text in ["the lowest newer tokens", "大模型的分词器", "emoji 🤗 ok"]:
        toks = encode(text, merges)
        shown = [decode([t]) if decode([t]).isprintable() else t for t in toks]
        print(f"{text!r}: {len(text.encode('utf-8'))} bytes -> {len(toks)} tokens {shown}")
        assert decode(toks) == text
