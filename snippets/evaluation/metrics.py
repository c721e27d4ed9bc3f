"""Automatic metrics: perplexity, BLEU, ROUGE-L, and the unbiased pass@k estimator.

Pages: docs/evaluation/metrics.{zh,en}.md
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch


# --8<-- [start:perplexity]
def perplexity(token_logprobs: torch.Tensor, mask: torch.Tensor | None = None) -> float:
    """PPL = exp(-(1/N) sum_t log p(x_t | x_<t)) over the N scored tokens.

    token_logprobs: (batch, seq) natural-log probabilities of the actual next tokens;
    mask: (batch, seq), 1 for tokens that count (padding and, often, the prompt excluded).
    Tokens from all sequences are pooled (corpus-level), not per-sequence PPLs averaged.
    """
    if mask is None:
        mask = torch.ones_like(token_logprobs)
    nll = -(token_logprobs * mask).sum() / mask.sum()
    return math.exp(nll.item())


def token_logprobs_from_logits(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Shift by one: logits[:, t] predicts input_ids[:, t + 1].
    logits: (batch, seq, vocab); input_ids: (batch, seq) -> (batch, seq - 1)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)
# --8<-- [end:perplexity]


# --8<-- [start:bleu]
def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(hypotheses: list[str], references: list[list[str]], max_n: int = 4) -> float:
    """Corpus BLEU (Papineni et al., 2002) on whitespace tokens, no smoothing, in [0, 100].

    references[j][i] is the j-th reference of sentence i (sacrebleu's layout).
    Clipped n-gram counts and lengths are summed over the corpus before dividing;
    brevity penalty uses, per sentence, the reference length closest to the hypothesis.
    """
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for i, hyp in enumerate(hypotheses):
        h = hyp.split()
        refs = [r[i].split() for r in references]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in refs)[1]
        for n in range(1, max_n + 1):
            h_counts = _ngrams(h, n)
            max_ref = Counter()
            for r in refs:
                max_ref |= _ngrams(r, n)                   # max count of each n-gram over references
            matches[n - 1] += sum(min(c, max_ref[g]) for g, c in h_counts.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return 100 * bp * math.exp(log_precision)
# --8<-- [end:bleu]


# --8<-- [start:rouge_l]
def lcs_length(a: list[str], b: list[str]) -> int:
    """Longest common subsequence length by dynamic programming, O(len(a) * len(b))."""
    dp = [0] * (len(b) + 1)
    for x in a:
        prev = 0                                   # dp value of the previous row, previous column
        for j, y in enumerate(b, start=1):
            cur = dp[j]
            dp[j] = prev + 1 if x == y else max(dp[j], dp[j - 1])
            prev = cur
    return dp[-1]


def rouge_l(candidate: list[str], reference: list[str]) -> dict[str, float]:
    """Sentence-level ROUGE-L (Lin, 2004) with F1 (beta = 1), on pre-tokenised input."""
    lcs = lcs_length(candidate, reference)
    if lcs == 0:
        return {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}
    p, r = lcs / len(candidate), lcs / len(reference)
    return {"precision": p, "recall": r, "fmeasure": 2 * p * r / (p + r)}
# --8<-- [end:rouge_l]


# --8<-- [start:pass_at_k]
def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al., 2021): n samples per problem, c of them correct.

    pass@k = 1 - C(n - c, k) / C(n, k), computed as a stable running product
    1 - prod_{i = n-c+1}^{n} (1 - k / i) instead of huge binomial coefficients.
    """
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))
# --8<-- [end:pass_at_k]


# --8<-- [start:metric_validity]
def kendall_tau_b(x: list[float], y: list[float]) -> float:
    """Kendall's tau-b between two scorings of the same systems (e.g. an automatic metric and
    human preference): (concordant - discordant) / sqrt((n0 - ties_x)(n0 - ties_y)) over all pairs."""
    n = len(x)
    conc = disc = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                tx, ty = tx + 1, ty + 1
            elif dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif np.sign(dx) == np.sign(dy):              # not dx * dy > 0: it underflows to 0
                conc += 1
            else:
                disc += 1
    n0 = n * (n - 1) // 2
    return (conc - disc) / math.sqrt((n0 - tx) * (n0 - ty))
# --8<-- [end:metric_validity]


if __name__ == "__main__":
    torch.manual_seed(0)
    vocab = 50
    uniform = torch.full((1, 9), -math.log(vocab))
    print(f"uniform model over {vocab} tokens -> PPL {perplexity(uniform):.1f}")
    hyp = ["the cat sat on the mat today"]
    refs = [["the cat sat on a mat today"], ["a cat was sitting on the mat today"]]
    print(f"BLEU {corpus_bleu(hyp, refs):.2f}")
    print("ROUGE-L", {k: round(v, 3) for k, v in rouge_l("the cat sat on the mat".split(),
                                                         "the cat is on the mat".split()).items()})
    n, c = 20, 3
    print(f"n={n}, c={c}: pass@1 {pass_at_k(n, c, 1):.3f}, pass@5 {pass_at_k(n, c, 5):.3f}, "
          f"naive 1-(1-c/n)^5 {1 - (1 - c / n) ** 5:.3f}")
    human = [1, 2, 3, 4, 5, 6, 7, 8]                      # human ranking of 8 past systems
    metric = [2, 1, 3, 4, 6, 5, 7, 8]                     # the metric swaps two adjacent pairs
    print(f"Kendall tau-b, metric vs human over 8 systems: {kendall_tau_b(metric, human):.3f}")
