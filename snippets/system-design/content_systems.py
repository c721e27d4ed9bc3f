"""Sizing a documentation-generation release (regeneration cost with a content-hash cache, review
hours by risk tier) and a sentiment-analysis system: compute per item for an encoder vs an LLM, a bootstrap
interval for macro-F1 and the test-set size it implies, and routing low-confidence items to an LLM.

Pages: docs/system-design/content_systems.{zh,en}.md
"""
from __future__ import annotations

import numpy as np


# --8<-- [start:sentiment_budget]
def gpu_hours(items: float, params: float, tokens_per_item: float,
              peak_flops: float = 989e12, utilization: float = 0.3) -> float:
    """Forward pass only: about 2 * params FLOPs per token (classification needs no long decode)."""
    return items * 2 * params * tokens_per_item / (peak_flops * utilization) / 3600


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Unweighted mean over classes of F1 = 2TP / (2TP + FP + FN)."""
    f1 = []
    for c in range(n_classes):
        tp = np.sum((y_pred == c) & (y_true == c))
        fp = np.sum((y_pred == c) & (y_true != c))
        fn = np.sum((y_pred != c) & (y_true == c))
        f1.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(np.mean(f1))


def bootstrap_halfwidth(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int,
                        n_boot: int = 1000, seed: int = 0) -> float:
    """Half-width of the 95 % percentile-bootstrap interval of macro-F1 (resample test items)."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    stats = [macro_f1(y_true[idx], y_pred[idx], n_classes)
             for idx in (rng.integers(0, n, n) for _ in range(n_boot))]
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float((hi - lo) / 2)


def items_for_halfwidth(n_pilot: int, halfwidth_pilot: float, target: float) -> int:
    """Half-widths shrink as 1 / sqrt(n): scale a pilot set to reach the target."""
    return int(np.ceil(n_pilot * (halfwidth_pilot / target) ** 2))


def routed_accuracy(confidence: np.ndarray, small_ok: np.ndarray, llm_ok: np.ndarray,
                    share: float) -> float:
    """Send the `share` least-confident items to the LLM, keep the small model's answer for
    the rest (equal confidences: the earlier item goes first, a stable sort); accuracy of the
    combined system on a labeled validation set."""
    k = int(round(share * len(confidence)))
    to_llm = np.zeros(len(confidence), dtype=bool)
    to_llm[np.argsort(confidence, kind="stable")[:k]] = True
    return float(np.mean(np.where(to_llm, llm_ok, small_ok)))
# --8<-- [end:sentiment_budget]


# --8<-- [start:doc_release_budget]
def regeneration_cost(pages: int, changed_share: float, in_tokens: int, out_tokens: int,
                      usd_per_m_in: float, usd_per_m_out: float) -> float:
    """USD to regenerate the pages whose cache key changed. The key is a hash of everything the
    page depends on (source facts, template, glossary, prompt and model versions), so only
    `changed_share` of the pages miss the cache."""
    changed = round(pages * changed_share)
    return changed * (in_tokens * usd_per_m_in + out_tokens * usd_per_m_out) / 1e6


def review_hours(changed_pages: int, high_risk_share: float, minutes_high: float,
                 sample_rate_low: float, minutes_low: float) -> float:
    """Tiered review: every high-risk changed page is read in full; low-risk changed pages that
    passed all automatic checks are sampled at `sample_rate_low`; cache hits are not reviewed."""
    high = round(changed_pages * high_risk_share)
    low = changed_pages - high
    return (high * minutes_high + low * sample_rate_low * minutes_low) / 60


def detection_rate(injected: int, caught: int) -> float:
    """Share of deliberately injected defects (renamed parameter, broken sample) a check catches."""
    return caught / injected
# --8<-- [end:doc_release_budget]


if __name__ == "__main__":
    full = regeneration_cost(2000, 1.0, 4000, 1500, 3.0, 15.0)
    cached = regeneration_cost(2000, 0.05, 4000, 1500, 3.0, 15.0)
    print(f"docs release: regenerate all ${full:.0f}, with hash cache ${cached:.2f}; review "
          f"{review_hours(100, 0.2, 15, 0.1, 10):.1f} h tiered vs {review_hours(2000, 1.0, 10, 0, 0):.0f} h reading every page")
    enc = gpu_hours(1e6, 110e6, 128)          # BERT-base, 128 tokens
    llm = gpu_hours(1e6, 7.6e9, 403)          # 7.6B LLM, 400-token prompt + 3 output tokens
    print(f"per 1M items: encoder {enc * 3600:.0f} GPU-s, LLM {llm:.1f} GPU-h ({llm / enc:.0f}x)")
    rng = np.random.default_rng(1)
    y = rng.choice(3, size=500, p=[0.6, 0.3, 0.1])
    # right with probability 0.85; otherwise one of the two *wrong* classes (85 % accuracy)
    pred = np.where(rng.random(500) < 0.85, y, (y + rng.integers(1, 3, 500)) % 3)
    hw = bootstrap_halfwidth(y, pred, 3)
    print(f"accuracy {np.mean(pred == y):.1%}, macro-F1 {macro_f1(y, pred, 3):.3f} +/- {hw:.3f} on 500 items; "
          f"+/-0.02 needs about {items_for_halfwidth(500, hw, 0.02):,} items")
