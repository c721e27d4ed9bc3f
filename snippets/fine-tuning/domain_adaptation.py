"""Domain evaluation hygiene (n-gram overlap between an eval set and training data, sample sizes,
McNemar, kappa) and the cost side of domain adaptation (training GPU-hours, API vs self-hosting).

Pages: docs/fine-tuning/domain_adaptation.{zh,en}.md
"""
from __future__ import annotations

import math
from statistics import NormalDist


# --8<-- [start:contamination]
def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """All contiguous n-grams of a token list."""
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def contaminated(eval_items: list[list[str]], train_docs: list[list[str]], n: int = 13) -> list[bool]:
    """Flag each eval item that shares at least one n-gram with the training data.

    GPT-3 used n = 13 word tokens; for Chinese, use characters and a similar span.
    Items shorter than n are compared as a whole (their full token tuple).
    """
    index: set[tuple[str, ...]] = set()
    for doc in train_docs:
        index |= ngrams(doc, n)
    flags = []
    for item in eval_items:
        if len(item) >= n:
            flags.append(bool(ngrams(item, n) & index))
        else:                                   # short item: look for it verbatim
            flags.append(any(_contains(doc, item) for doc in train_docs))
    return flags


def _contains(doc: list[str], item: list[str]) -> bool:
    """True if `item` occurs as a contiguous span of `doc`."""
    k = len(item)
    return any(doc[i:i + k] == item for i in range(len(doc) - k + 1))
# --8<-- [end:contamination]


# --8<-- [start:eval_stats]
def items_for_margin(p: float, margin: float, confidence: float = 0.95) -> int:
    """Items needed so the normal-approximation CI of an accuracy near p has half-width `margin`:
    n = z^2 p (1 - p) / E^2, z the two-sided normal quantile. p = 0.5 is the worst case."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    return math.ceil(z * z * p * (1 - p) / margin ** 2)


def mcnemar_exact_p(b: int, c: int) -> float:
    """Paired comparison of two models on the same items. b = items only A gets right, c = items
    only B gets right; items both get right or both wrong carry no information. Under H0 the
    discordant items split 50/50: two-sided exact binomial p-value."""
    n, k = b + c, min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def cohen_kappa(a: list, b: list) -> float:
    """Agreement of two annotators beyond chance: (p_o - p_e) / (1 - p_e), p_e from each
    annotator's own label frequencies (Cohen 1960)."""
    n = len(a)
    labels = set(a) | set(b)
    p_o = sum(x == y for x, y in zip(a, b)) / n
    p_e = sum((a.count(k) / n) * (b.count(k) / n) for k in labels)
    return (p_o - p_e) / (1 - p_e)


def fleiss_kappa(counts: list[list[int]]) -> float:
    """Fleiss (1971) for m raters per item. counts[i][j] = raters who put item i in category j;
    every row sums to the same m. Chance agreement uses the pooled category frequencies."""
    n_items, m = len(counts), sum(counts[0])
    p_j = [sum(row[j] for row in counts) / (n_items * m) for j in range(len(counts[0]))]
    p_i = [(sum(x * x for x in row) - m) / (m * (m - 1)) for row in counts]
    p_bar, p_e = sum(p_i) / n_items, sum(x * x for x in p_j)
    return (p_bar - p_e) / (1 - p_e)
# --8<-- [end:eval_stats]


# --8<-- [start:adaptation_cost]
def train_gpu_hours(params: float, tokens: float, peak_flops: float = 989e12, utilization: float = 0.4) -> float:
    """GPU-hours to train `params` parameters on `tokens` tokens: C = 6 N D FLOPs at `utilization`
    of `peak_flops` (default H100 SXM dense BF16, 989 TFLOP/s, at 40%)."""
    return 6.0 * params * tokens / (peak_flops * utilization) / 3600.0


def api_cost_per_query(in_tokens: int, out_tokens: int, usd_per_m_in: float, usd_per_m_out: float) -> float:
    """USD per query on a per-token API price list (prices per million tokens)."""
    return (in_tokens * usd_per_m_in + out_tokens * usd_per_m_out) / 1e6


def breakeven_queries_per_day(n_gpus: int, usd_per_gpu_hour: float, in_tokens: int, out_tokens: int,
                              usd_per_m_in: float, usd_per_m_out: float,
                              other_usd_per_month: float = 0.0, days_per_month: float = 30.0) -> float:
    """Queries a day above which always-on self-hosted GPUs cost less than the API: fixed daily
    cost / API cost per query. The fixed cost is the GPU bill plus `other_usd_per_month`
    (engineers, monitoring), spread over `days_per_month`; by default only the GPUs count."""
    fixed_per_day = n_gpus * 24 * usd_per_gpu_hour + other_usd_per_month / days_per_month
    return fixed_per_day / api_cost_per_query(in_tokens, out_tokens, usd_per_m_in, usd_per_m_out)


def decode_tokens_per_s_bound(weight_bytes: float, bandwidth_bytes_per_s: float, batch: int) -> float:
    """Upper bound on decode throughput of one GPU when every step must read all weights once:
    batch * bandwidth / weight bytes (ignores KV-cache reads and compute limits)."""
    return batch * bandwidth_bytes_per_s / weight_bytes
# --8<-- [end:adaptation_cost]


if __name__ == "__main__":
    train = [list("高血压患者首选的降压药包括钙通道阻滞剂和血管紧张素转换酶抑制剂")]
    evals = [list("高血压患者首选的降压药有哪些"),   # shares an 11-character span
             list("糖尿病的诊断标准是什么"),
             list("降压药")]                       # short, occurs verbatim in a training doc
    for n in (13, 8):
        print(f"n={n}:", contaminated(evals, train, n=n))
    for p, e in ((0.5, 0.05), (0.5, 0.03), (0.8, 0.03), (0.9, 0.02)):
        print(f"accuracy ~{p:.0%}, 95% CI +-{e:.0%}: {items_for_margin(p, e)} items")
    print(f"McNemar: A-only 40, B-only 22 -> p = {mcnemar_exact_p(40, 22):.3f}")
    a = ["ok", "ok", "bad", "ok", "bad", "ok", "ok", "bad"]
    b = ["ok", "bad", "bad", "ok", "bad", "ok", "ok", "ok"]
    print(f"Cohen's kappa {cohen_kappa(a, b):.3f}; Fleiss' kappa (3 raters) "
          f"{fleiss_kappa([[3, 0], [2, 1], [0, 3], [1, 2], [3, 0]]):.3f}")
    for tokens in (1e9, 10e9, 200e9):
        print(f"continued pre-training of a 7B on {tokens / 1e9:.0f}B tokens: "
              f"{train_gpu_hours(7e9, tokens):,.0f} H100-hours")
    q = breakeven_queries_per_day(2, 2.5, 3000, 300, 2.0, 10.0)
    print(f"API at USD {api_cost_per_query(3000, 300, 2.0, 10.0):.4f}/query; "
          f"2 self-hosted H100s break even at {q:,.0f} queries/day, "
          f"{breakeven_queries_per_day(2, 2.5, 3000, 300, 2.0, 10.0, other_usd_per_month=10_000):,.0f} "
          f"with USD 10,000 a month of engineering")
    print(f"decode bound, 7B bf16 (14 GB) on 3.35 TB/s, batch 32: "
          f"{decode_tokens_per_s_bound(14e9, 3.35e12, 32):,.0f} tokens/s")
