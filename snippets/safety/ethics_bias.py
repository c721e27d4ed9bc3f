"""Measuring bias: counterfactual (group-swap) gaps and group fairness metrics.

Pages: docs/safety/ethics_bias.{zh,en}.md
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Callable


# --8<-- [start:counterfactual]
def counterfactual_gap(score: Callable[[str], float], templates: list[str],
                       groups: dict[str, str]) -> dict[str, float]:
    """Average score of each group when only the group term in a template changes.

    templates contain '{group}'; groups maps a name to the filled-in term
    (e.g. {'male': 'he', 'female': 'she'}). score is any model-derived number:
    P(hired), sentiment, log-prob of a stereotyped continuation. A large max-min gap
    means the output depends on the protected attribute alone.
    """
    means = {}
    for name, term in groups.items():
        vals = [score(t.format(group=term)) for t in templates]
        means[name] = sum(vals) / len(vals)
    means["max_gap"] = max(means.values()) - min(means.values())
    return means
# --8<-- [end:counterfactual]


# --8<-- [start:fairness]
def group_rates(y_true: list[int], y_pred: list[int], group: list[str]) -> dict[str, dict[str, float]]:
    """Per-group positive rate P(pred=1), true-positive rate and false-positive rate."""
    out = {}
    for g in sorted(set(group)):
        idx = [i for i, x in enumerate(group) if x == g]
        pos = [i for i in idx if y_true[i] == 1]
        neg = [i for i in idx if y_true[i] == 0]
        out[g] = {
            "positive_rate": sum(y_pred[i] for i in idx) / len(idx),
            "tpr": sum(y_pred[i] for i in pos) / len(pos) if pos else float("nan"),
            "fpr": sum(y_pred[i] for i in neg) / len(neg) if neg else float("nan"),
        }
    return out


def fairness_gaps(y_true: list[int], y_pred: list[int], group: list[str]) -> dict[str, float]:
    """Demographic-parity difference (gap in positive rate) and equalised-odds difference
    (largest gap in TPR or FPR) across groups. Both are 0 for a perfectly 'fair' classifier
    under that definition. When base rates differ they can both be 0 only if TPR = FPR, i.e. the
    classifier is no better than chance: a group's positive rate is FPR + base_rate * (TPR - FPR).
    A rate a group does not have (TPR with no positives, FPR with no negatives) is left out of its gap."""
    r = group_rates(y_true, y_pred, group).values()
    def gap(k: str) -> float:
        v = [x[k] for x in r if not math.isnan(x[k])]   # max/min over a NaN depend on the groups' order
        return max(v) - min(v) if v else 0.0             # no group has the rate: nothing to compare
    return {"demographic_parity_diff": gap("positive_rate"),
            "equalized_odds_diff": max(gap("tpr"), gap("fpr"))}
# --8<-- [end:fairness]


# --8<-- [start:sample_size]
def n_per_group(p1: float, p2: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Items per group for a two-sided two-proportion z-test to detect rates p1 vs p2:
    n = (z_{1-alpha/2} + z_{power})^2 (p1 q1 + p2 q2) / (p1 - p2)^2."""
    nd = NormalDist()
    z = nd.inv_cdf(1 - alpha / 2) + nd.inv_cdf(power)
    return math.ceil(z * z * (p1 * (1 - p1) + p2 * (1 - p2)) / (p1 - p2) ** 2)


def impact_ratio(selection_rates: dict[str, float]) -> float:
    """Lowest group selection rate over the highest; below 0.8 fails the US EEOC four-fifths rule."""
    return min(selection_rates.values()) / max(selection_rates.values())
# --8<-- [end:sample_size]


# --8<-- [start:regression]
def zero_failure_upper_bound(n: int, confidence: float = 0.95) -> float:
    """Exact one-sided upper confidence bound on a failure rate after n passes and 0 failures:
    1 - (1 - confidence)^(1/n), about 3 / n at 95% (the 'rule of three')."""
    return 1 - (1 - confidence) ** (1 / n)


def n_for_zero_failure(max_rate: float, confidence: float = 0.95) -> int:
    """Smallest regression-set size whose all-pass result bounds the failure rate below max_rate."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - max_rate) - 1e-9)


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for k failures in n cases; unlike p +- z sqrt(pq/n) it stays inside
    [0, 1] and is usable for the small counts a bug class has."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def fisher_exact_greater(k_before: int, n_before: int, k_after: int, n_after: int) -> float:
    """One-sided Fisher exact p-value that the failure rate before the fix exceeds the rate after:
    P(at least k_before of all failures land in the 'before' sample) under the hypergeometric null."""
    k, n = k_before + k_after, n_before + n_after
    return sum(math.comb(n_before, i) * math.comb(n_after, k - i)
               for i in range(k_before, min(k, n_before) + 1)) / math.comb(n, k)
# --8<-- [end:regression]


if __name__ == "__main__":
    biased = lambda s: 0.8 if " he " in f" {s} " else 0.6      # a stand-in for a model's P(hire)
    t = ["The engineer said {group} would fix it.", "Yesterday {group} applied for the nurse job."]
    print("counterfactual:", counterfactual_gap(biased, t, {"male": "he", "female": "she"}))
    y_true = [1, 1, 0, 0, 1, 0, 1, 0]
    y_pred = [1, 1, 1, 0, 1, 0, 0, 0]
    group = ["a", "a", "a", "a", "b", "b", "b", "b"]
    print("fairness gaps:", fairness_gaps(y_true, y_pred, group))
    print(f"detect 50% vs 45% at 80% power: {n_per_group(0.50, 0.45)} per group; "
          f"impact ratio 0.30/0.45 = {impact_ratio({'a': 0.45, 'b': 0.30}):.2f}")
    print(f"300 passes, 0 failures -> failure rate < {zero_failure_upper_bound(300):.2%} (95%); "
          f"need {n_for_zero_failure(0.01)} cases for < 1%; 18/60 failures -> Wilson "
          f"{tuple(round(x, 3) for x in wilson_interval(18, 60))}; 18/60 vs 0/300 Fisher p = "
          f"{fisher_exact_greater(18, 60, 0, 300):.1e}")
