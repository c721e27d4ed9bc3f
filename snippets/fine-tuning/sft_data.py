"""SFT data utilities: multi-task mixing rates (T5 style), normalized exact dedup, MinHash-LSH
detection odds, diversity (distinct-n), audit sample sizes, scoring cost and data-scaling slopes.

Pages: docs/fine-tuning/sft_data.{zh,en}.md
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata


# --8<-- [start:mixing]
def mixing_rates(sizes: dict[str, int], cap: int | None = None,
                 temperature: float = 1.0) -> dict[str, float]:
    """Sampling probability of each task in a multi-task mixture.

    Examples-proportional mixing with an artificial size limit `cap` (K in T5),
    then temperature scaling r_i^(1/T) renormalized. T=1: proportional; T->inf: uniform.
    """
    eff = {t: min(n, cap) if cap is not None else n for t, n in sizes.items()}
    total = sum(eff.values())
    rates = {t: (n / total) ** (1.0 / temperature) for t, n in eff.items()}
    z = sum(rates.values())
    return {t: r / z for t, r in rates.items()}
# --8<-- [end:mixing]


# --8<-- [start:mixing_budget]
def epochs_per_task(sizes: dict[str, int], rates: dict[str, float], total_examples: int) -> dict[str, float]:
    """How many times each task is seen when `total_examples` are drawn with `rates`:
    rate * total / size. Above roughly 4 epochs repeated data starts to cost quality."""
    return {t: rates[t] * total_examples / sizes[t] for t in sizes}


def doremi_update(weights: list[float], excess_loss: list[float], lr: float = 1.0,
                  smoothing: float = 1e-3) -> list[float]:
    """One DoReMi domain-weight step (Xie et al. 2023): exponentiated-gradient ascent on the
    per-domain excess loss of the proxy over the reference model, clipped at 0, then mixed with
    the uniform distribution. The final mixture is the average of the weights over training."""
    raw = [w * math.exp(lr * max(e, 0.0)) for w, e in zip(weights, excess_loss)]
    z, k = sum(raw), len(raw)
    return [(1 - smoothing) * r / z + smoothing / k for r in raw]
# --8<-- [end:mixing_budget]


# --8<-- [start:dedup]
def normalize(text: str) -> str:
    """NFKC (full-width -> half-width), lower-case, collapse whitespace."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def dedup_exact(samples: list[dict[str, str]], key: str = "prompt") -> list[dict[str, str]]:
    """Keep the first sample of each normalized `key` (e.g. the instruction)."""
    seen: set[str] = set()
    kept = []
    for s in samples:
        h = hashlib.sha1(normalize(s[key]).encode("utf-8")).hexdigest()
        if h not in seen:
            seen.add(h)
            kept.append(s)
    return kept
# --8<-- [end:dedup]


# --8<-- [start:audit]
def audit_size_zero_errors(max_error_rate: float, confidence: float = 0.95) -> int:
    """Items to spot-audit so that finding ZERO errors shows the true error rate is below
    `max_error_rate` at `confidence`: smallest n with (1 - p)^n <= 1 - confidence.
    ("Rule of three": n ~ 3 / p at 95%.)"""
    return math.ceil(math.log(1.0 - confidence) / math.log(1.0 - max_error_rate))


def cost_per_kept(cost_per_generated: float, pass_rate: float, audit_cost_per_kept: float = 0.0) -> float:
    """Cost of one example that survives the quality gates: generation cost / pass rate,
    plus any per-example review cost. Gates that reject most data make cheap data expensive."""
    if not 0.0 < pass_rate <= 1.0:
        raise ValueError("pass_rate must be in (0, 1]")
    return cost_per_generated / pass_rate + audit_cost_per_kept
# --8<-- [end:audit]


# --8<-- [start:diversity]
def distinct_n(texts: list[list[str]], n: int = 2) -> float:
    """distinct-n (Li et al. 2016): unique n-grams / all n-grams over a set of tokenized answers.
    Low values flag a homogeneous, templated synthetic set."""
    grams = [tuple(t[i:i + n]) for t in texts for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0
# --8<-- [end:diversity]


# --8<-- [start:lsh]
def lsh_candidate_prob(jaccard: float, bands: int, rows: int) -> float:
    """MinHash-LSH with `bands` x `rows` hash functions: two documents with Jaccard similarity s
    become a candidate pair if all `rows` MinHashes agree in at least one band:
    P = 1 - (1 - s^rows)^bands (each MinHash agrees with probability s)."""
    return 1.0 - (1.0 - jaccard ** rows) ** bands


def lsh_threshold(bands: int, rows: int) -> float:
    """Approximate similarity where the S-curve is steepest: (1 / bands)^(1 / rows)."""
    return (1.0 / bands) ** (1.0 / rows)


def scoring_flops(n_examples: int, prompt_tokens: int, answer_tokens: int, params: float) -> float:
    """Forward-pass FLOPs to compute IFD for a pool with a scorer of `params` parameters:
    two passes per example, L(y|x) over prompt + answer and L(y) over the answer alone,
    at about 2 * params FLOPs per token."""
    return 2.0 * params * n_examples * ((prompt_tokens + answer_tokens) + answer_tokens)
# --8<-- [end:lsh]


# --8<-- [start:scaling]
def gain_per_doubling(sizes: list[int], scores: list[float]) -> float:
    """Least-squares slope of score against log2(#examples): points gained per doubling of the
    data at fixed quality. If it is inside the eval's noise, more data of the same kind is waste."""
    xs = [math.log2(n) for n in sizes]
    mx, my = sum(xs) / len(xs), sum(scores) / len(scores)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, scores)) / sxx
# --8<-- [end:scaling]


if __name__ == "__main__":
    sizes = {"math": 1_000_000, "code": 200_000, "chat": 50_000, "safety": 5_000}
    for T in (1.0, 2.0, 5.0):
        r = mixing_rates(sizes, cap=300_000, temperature=T)
        print(f"T={T}:", {k: round(v, 3) for k, v in r.items()})
    for T in (1.0, 3.0):
        r = mixing_rates(sizes, temperature=T)
        e = epochs_per_task(sizes, r, 500_000)
        print(f"T={T}: epochs over 500k draws:", {k: round(v, 2) for k, v in e.items()})
    print("DoReMi step, excess loss (0.4, 0.0, -0.2):",
          [round(w, 3) for w in doremi_update([1 / 3] * 3, [0.4, 0.0, -0.2])])
    data = [{"prompt": "写一首诗"}, {"prompt": "写一首诗 "}, {"prompt": "Hello  World"},
            {"prompt": "hello world"}, {"prompt": "Ｈｅｌｌｏ world"}]
    print("kept after dedup:", [s["prompt"] for s in dedup_exact(data)])
    print(f"audit with zero errors to show error rate < 1%: {audit_size_zero_errors(0.01)} items")
    print(f"synthetic USD 0.01/example at 40% pass rate + USD 0.05 review: "
          f"USD {cost_per_kept(0.01, 0.4, 0.05):.3f} per kept example")
    print("distinct-2 of a templated set:", round(distinct_n([["the", "answer", "is", "a"],
                                                              ["the", "answer", "is", "b"]]), 3))
    for s in (0.5, 0.7, 0.8, 0.9):
        print(f"LSH 16 bands x 8 rows, Jaccard {s}: P(candidate) = {lsh_candidate_prob(s, 16, 8):.3f}")
    print(f"threshold ~ {lsh_threshold(16, 8):.3f}")
    print(f"IFD scoring 100k examples with a 7B scorer: {scoring_flops(100_000, 300, 500, 7e9):.2e} FLOPs")
    print("gain per doubling:", round(gain_per_doubling([1000, 2000, 4000, 8000], [60.0, 60.4, 60.1, 60.5]), 3))
