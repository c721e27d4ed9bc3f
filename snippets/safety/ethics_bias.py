"""Measuring bias: counterfactual (group-swap) gaps and group fairness metrics.

Pages: docs/safety/ethics_bias.{zh,en}.md
"""
from __future__ import annotations

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
    under that definition; they generally cannot both be 0 when base rates differ."""
    r = group_rates(y_true, y_pred, group).values()
    gap = lambda k: max(x[k] for x in r) - min(x[k] for x in r)
    return {"demographic_parity_diff": gap("positive_rate"),
            "equalized_odds_diff": max(gap("tpr"), gap("fpr"))}
# --8<-- [end:fairness]


if __name__ == "__main__":
    biased = lambda s: 0.8 if " he " in f" {s} " else 0.6      # a stand-in for a model's P(hire)
    t = ["The engineer said {group} would fix it.", "Yesterday {group} applied for the nurse job."]
    print("counterfactual:", counterfactual_gap(biased, t, {"male": "he", "female": "she"}))
    y_true = [1, 1, 0, 0, 1, 0, 1, 0]
    y_pred = [1, 1, 1, 0, 1, 0, 0, 0]
    group = ["a", "a", "a", "a", "b", "b", "b", "b"]
    print("fairness gaps:", fairness_gaps(y_true, y_pred, group))
