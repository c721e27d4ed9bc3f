"""Benchmark hygiene: n-gram contamination check, the public-vs-fresh-set gap test, prompt-robustness
statistics and Cochran's Q across prompt variants.

Pages: docs/evaluation/benchmarks.{zh,en}.md
"""
from __future__ import annotations

import math
import re
import statistics


# --8<-- [start:contamination]
def normalise(text: str) -> list[str]:
    """Lower-case and keep word characters only, so punctuation/spacing changes do not hide overlap.
    Chinese has no spaces: each CJK character becomes its own token."""
    text = re.sub(r"([\u4e00-\u9fff])", r" \1 ", text.lower())
    return re.findall(r"\w+", text)


def ngram_overlap(test_item: str, corpus_docs: list[str], n: int = 13) -> float:
    """Fraction of the test item's n-grams that occur anywhere in the training documents.

    GPT-3 (Brown et al., 2020) flagged a benchmark item as dirty if any 13-gram overlapped;
    reporting the fraction lets you pick a threshold. Items shorter than n use n = len(item).
    """
    toks = normalise(test_item)
    n = min(n, len(toks))
    if n == 0:
        return 0.0
    test_grams = {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}
    seen = set()
    for doc in corpus_docs:
        d = normalise(doc)
        seen.update(tuple(d[i:i + n]) for i in range(len(d) - n + 1))
    return len(test_grams & seen) / len(test_grams)
# --8<-- [end:contamination]


# --8<-- [start:fresh_gap]
def fresh_set_gap(k_public: int, n_public: int, k_fresh: int, n_fresh: int) -> tuple[float, float, float]:
    """Public-benchmark accuracy minus accuracy on a freshly written set of the same difficulty
    (GSM8K vs GSM1k style). Different items, so an unpaired two-proportion z-test with the pooled
    rate. Returns (gap, z, two-sided p-value). A large positive gap suggests contamination."""
    p1, p2 = k_public / n_public, k_fresh / n_fresh
    pooled = (k_public + k_fresh) / (n_public + n_fresh)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_public + 1 / n_fresh))
    z = (p1 - p2) / se
    p_value = math.erfc(abs(z) / math.sqrt(2))              # 2 * (1 - Phi(|z|))
    return p1 - p2, z, p_value


def detectable_gap(p: float, n_public: int, n_fresh: int, z: float = 1.96) -> float:
    """Smallest gap that reaches significance when both accuracies are near p:
    z * sqrt(p (1 - p) (1/n1 + 1/n2))."""
    return z * math.sqrt(p * (1 - p) * (1 / n_public + 1 / n_fresh))
# --8<-- [end:fresh_gap]


# --8<-- [start:robustness]
def prompt_robustness(correct: list[list[bool]]) -> dict[str, float]:
    """Accuracy spread across K semantically equivalent prompt variants.

    correct[k][i]: whether the model answered item i correctly under prompt variant k.
    Returns mean / min / max accuracy over variants, their spread, and the consistency rate:
    fraction of items answered the same way (all right or all wrong) under every variant.
    """
    accs = [sum(v) / len(v) for v in correct]
    items = list(zip(*correct))
    consistent = sum(all(x) or not any(x) for x in items) / len(items)
    return {"mean": statistics.fmean(accs), "min": min(accs), "max": max(accs),
            "spread": max(accs) - min(accs), "consistency": consistent}
# --8<-- [end:robustness]


# --8<-- [start:template_test]
def cochran_q(correct: list[list[bool]]) -> tuple[float, float]:
    """Cochran's Q test: do K prompt variants have the same accuracy on the same N items?

    correct[k][i] as in prompt_robustness. Q = (K-1) (K sum_j C_j^2 - T^2) / (K T - sum_i R_i^2),
    C_j = correct answers under variant j, R_i = variants that got item i right, T = total.
    Under H0, Q ~ chi-square with K-1 degrees of freedom. For K = 2 it is McNemar's (b-c)^2/(b+c).
    Returns (Q, p-value); items every variant gets right (or wrong) carry no information.
    """
    k = len(correct)
    col = [sum(v) for v in correct]
    row = [sum(x) for x in zip(*correct)]
    total = sum(col)
    denom = k * total - sum(r * r for r in row)
    if denom == 0:
        return 0.0, 1.0
    q = (k - 1) * (k * sum(c * c for c in col) - total * total) / denom
    return q, _chi2_sf(q, k - 1)


def _chi2_sf(x: float, df: int) -> float:
    """Upper tail of the chi-square distribution via the regularized upper incomplete gamma
    Q(df/2, x/2), by series (small x) or continued fraction (large x)."""
    a, z = df / 2, x / 2
    if z <= 0:
        return 1.0
    if z < a + 1:                                     # series for the lower tail P(a, z)
        term = total = 1 / a
        n = 0
        while abs(term) > 1e-15 * abs(total):
            n += 1
            term *= z / (a + n)
            total += term
        return 1 - total * math.exp(-z + a * math.log(z) - math.lgamma(a))
    b, c, d = z + 1 - a, 1e300, 1 / (z + 1 - a)       # Lentz continued fraction for Q(a, z)
    h = d
    for i in range(1, 500):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = b + an / c
        c = c if abs(c) > 1e-300 else 1e-300
        h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h * math.exp(-z + a * math.log(z) - math.lgamma(a))
# --8<-- [end:template_test]

# --8<-- [start:pass_hat_k]
def pass_hat_k(n: int, c: int, k: int) -> float:
    """tau-bench's pass^k for one task: the chance that k trials drawn without replacement from the
    n recorded trials (c of them successful) all succeed, C(c, k) / C(n, k). Unbiased for p^k."""
    if not 1 <= k <= n:
        raise ValueError("need 1 <= k <= n")
    return math.comb(c, k) / math.comb(n, k)


def benchmark_pass_hat_k(successes: list[int], n: int, k: int) -> float:
    """Benchmark pass^k: mean over tasks of the per-task estimate (each task run n times)."""
    return statistics.fmean(pass_hat_k(n, c, k) for c in successes)
# --8<-- [end:pass_hat_k]


# --8<-- [start:eval_budget]
def margin_of_error(p: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation confidence interval of an accuracy p measured on n
    independent items: z * sqrt(p (1 - p) / n). 1,000 items at p = 0.5 -> +-3.1 points."""
    return z * math.sqrt(p * (1 - p) / n)


def items_for_margin(p: float, margin: float, z: float = 1.96) -> int:
    """Smallest n whose margin_of_error(p, n) <= margin: ceil(z^2 p (1 - p) / margin^2)."""
    return math.ceil(z * z * p * (1 - p) / margin ** 2 - 1e-9)


def paired_diff_ci(a_correct: list[bool], b_correct: list[bool], z: float = 1.96) -> tuple[float, float]:
    """Accuracy difference of two models scored on the SAME items, with the half-width of its CI.
    Per item d_i = a_i - b_i in {-1, 0, 1}; only discordant items (one right, one wrong) carry
    variance, so the paired CI is much narrower than two independent ones when the models agree."""
    n = len(a_correct)
    only_a = sum(a and not b for a, b in zip(a_correct, b_correct))
    only_b = sum(b and not a for a, b in zip(a_correct, b_correct))
    diff = (only_a - only_b) / n
    var = ((only_a + only_b) / n - diff ** 2) / n            # variance of the mean of d_i
    return diff, z * math.sqrt(var)


def eval_run_cost(n_items: int, k_samples: int, tokens_per_sample: int,
                  tokens_per_gpu_second: float, usd_per_gpu_hour: float) -> tuple[float, float]:
    """GPU-hours and dollars to generate n_items * k_samples answers of tokens_per_sample output
    tokens at an aggregate decode throughput of tokens_per_gpu_second (batched serving)."""
    gpu_hours = n_items * k_samples * tokens_per_sample / tokens_per_gpu_second / 3600
    return gpu_hours, gpu_hours * usd_per_gpu_hour


def noninferiority_pass_rate(true_diff: float, discordant: float, n: int, margin: float = 0.02,
                             z: float = 1.96) -> float:
    """Chance a candidate passes 'lower end of the paired 95% interval >= -margin' on n items when a share
    `discordant` of items has exactly one model right. Normal approximation with se = sqrt(discordant / n)
    (the paired variance when the true difference is small): pass iff observed diff >= -margin + z * se."""
    se = math.sqrt(discordant / n)
    return statistics.NormalDist().cdf((true_diff + margin - z * se) / se)


def items_for_noninferiority(discordant: float, margin: float = 0.02, power: float = 0.8,
                             z: float = 1.96) -> int:
    """Items for an equally good candidate to pass the rule with probability `power`:
    (z + z_power)^2 * discordant / margin^2."""
    z_power = statistics.NormalDist().inv_cdf(power)
    return math.ceil((z + z_power) ** 2 * discordant / margin ** 2 - 1e-9)


def false_block_rate(k_checks: int, alpha: float = 0.05) -> float:
    """Chance a candidate no different from production trips at least one of k independent checks,
    each a test at level alpha: 1 - (1 - alpha)^k."""
    return 1 - (1 - alpha) ** k_checks
# --8<-- [end:eval_budget]


if __name__ == "__main__":
    train = ["Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."]
    item = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many?"
    fresh = "Tom bought 3 boxes of pencils with 12 pencils in each box. How many pencils does he have?"
    print(f"overlap(leaked item) = {ngram_overlap(item, train):.2f}, overlap(fresh item) = {ngram_overlap(fresh, train):.2f}")
    runs = [[True, True, False, True], [True, False, False, True], [True, True, True, True]]
    print("robustness over 3 prompt variants:", {k: round(v, 2) for k, v in prompt_robustness(runs).items()})
    succ = [8, 8, 4, 4]                              # 4 tasks, 8 trials each
    print("pass^k for k = 1, 2, 4, 8:", [round(benchmark_pass_hat_k(succ, 8, k), 3) for k in (1, 2, 4, 8)])
    print(f"GSM8K (1,319) vs a 1,250-item fresh set near 80%: gaps above "
          f"{100 * detectable_gap(0.8, 1319, 1250):.1f} points are significant")
    gap, z, p = fresh_set_gap(1108, 1319, 975, 1250)          # 84.0% vs 78.0%
    print(f"84.0% vs 78.0%: gap {100 * gap:.1f} points, z = {z:.2f}, p = {p:.1e}")
    import random as _random
    spreads, hits = [], 0
    for seed in range(200):                                              # 200 simulated runs
        rng = _random.Random(seed)
        base = [rng.random() < 0.7 for _ in range(500)]                 # the model's answer per item
        same = [[b if rng.random() > 0.1 else not b for b in base] for _ in range(10)]  # 10% flips per template
        spreads.append(prompt_robustness(same)["spread"])
        hurt = [row[:] for row in same]
        hurt[0] = [x and rng.random() > 0.08 for x in hurt[0]]          # one template loses ~5 points
        hits += cochran_q(hurt)[1] < 0.05
    spreads.sort()
    print(f"10 equivalent templates x 500 items: spread median {100 * (spreads[99] + spreads[100]) / 2:.1f} points "
          f"(middle 95% {100 * spreads[5]:.1f}-{100 * spreads[194]:.1f}; expected range 3.08 x "
          f"{100 * math.sqrt(0.1 * 0.9 / 500):.2f} = {308 * math.sqrt(0.1 * 0.9 / 500):.1f})")
    print(f"one template ~5 points worse: Cochran Q p < 0.05 in {hits / 200:.0%} of runs (power)")
    print(f"+-{100 * margin_of_error(0.5, 1000):.1f} points on 1,000 items at 50%; "
          f"{items_for_margin(0.5, 0.02)} items for +-2 points")
    rng2 = _random.Random(1)
    a = [rng2.random() < 0.75 for _ in range(1000)]
    b = [x if rng2.random() > 0.06 else not x for x in a]             # model B disagrees on ~6% of items
    d, h = paired_diff_ci(a, b)
    print(f"paired difference {100 * d:+.1f} +- {100 * h:.1f} points "
          f"(unpaired would be +- {100 * math.sqrt(2) * margin_of_error(0.75, 1000):.1f})")
    hours, usd = eval_run_cost(8000, 4, 600, 2500, 2.5)
    print(f"8,000 items x 4 samples x 600 tokens at 2,500 tok/s: {hours:.1f} GPU-hours, ${usd:.0f}")
    print(f"-2-point rule on 1,500 items, 10% discordant: an equal model passes "
          f"{noninferiority_pass_rate(0.0, 0.10, 1500):.0%}, one 1 point better {noninferiority_pass_rate(0.01, 0.10, 1500):.0%}; "
          f"{items_for_noninferiority(0.10)} items for 80%; six 5% checks block a harmless candidate "
          f"{false_block_rate(6):.0%} of the time")
