"""A traditional statistical language model (bigram with add-k smoothing) and context-window memory.

Pages: docs/basics/llm_overview.{zh,en}.md
"""
from __future__ import annotations

import math
from collections import Counter


# --8<-- [start:bigram]
class BigramLM:
    """Count-based bigram LM: P(w_t | w_{t-1}) = (c(w_{t-1}, w_t) + k) / (c(w_{t-1}) + k |V|).

    This is the pre-neural "statistical LM": a lookup table of counts with a 1-word
    context. Unseen pairs only get probability through smoothing (k > 0).
    """

    def __init__(self, sentences: list[list[str]], k: float = 1.0) -> None:
        self.k = k
        self.vocab = sorted({w for s in sentences for w in s} | {"<s>", "</s>", "<unk>"})
        self.pair, self.ctx = Counter(), Counter()
        for s in sentences:
            seq = ["<s>"] + s + ["</s>"]
            for a, b in zip(seq, seq[1:]):
                self.pair[(a, b)] += 1
                self.ctx[a] += 1

    def prob(self, prev: str, word: str) -> float:
        V = len(self.vocab)
        prev = prev if prev in self.vocab else "<unk>"
        word = word if word in self.vocab else "<unk>"
        return (self.pair[(prev, word)] + self.k) / (self.ctx[prev] + self.k * V)

    def perplexity(self, sentence: list[str]) -> float:
        seq = ["<s>"] + sentence + ["</s>"]
        nll = -sum(math.log(self.prob(a, b)) for a, b in zip(seq, seq[1:]))
        return math.exp(nll / (len(seq) - 1))
# --8<-- [end:bigram]


# --8<-- [start:kv_memory]
def kv_cache_bytes(seq_len: int, n_layers: int, n_kv_heads: int, head_dim: int,
                   batch: int = 1, bytes_per_value: int = 2) -> int:
    """Memory of the KV cache: 2 (K and V) x layers x kv_heads x head_dim x tokens x bytes."""
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch * bytes_per_value
# --8<-- [end:kv_memory]


if __name__ == "__main__":
    corpus = [s.split() for s in ["the cat sat on the mat", "the dog sat on the rug", "a cat saw the dog"]]
    lm = BigramLM(corpus, k=1.0)
    print(f"P(sat | cat) = {lm.prob('cat', 'sat'):.3f}, P(sat | mat) = {lm.prob('mat', 'sat'):.3f}")
    for s in ["the cat sat on the rug", "rug the on sat cat the"]:
        print(f"PPL({s!r}) = {lm.perplexity(s.split()):.2f}")
    gib = 2 ** 30
    print(f"Llama-2-7B (32 layers, 32 KV heads, head_dim 128), 4096 tokens fp16: "
          f"{kv_cache_bytes(4096, 32, 32, 128) / gib:.1f} GiB")
    print(f"Llama-3-8B (32 layers, 8 KV heads, head_dim 128), 128K tokens fp16: "
          f"{kv_cache_bytes(131072, 32, 8, 128) / gib:.1f} GiB")
