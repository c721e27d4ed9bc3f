"""Numbers behind the domain-application designs: citation checks for legal drafting (how often a
draft is blocked, how many citations an audit must check), triage hours for a smart-contract audit,
and the serving / offline / A/B budget of LLM-assisted recommendation.

Pages: docs/system-design/applications.{zh,en}.md
"""
from __future__ import annotations

import math

from scipy.stats import norm


# --8<-- [start:citation_audit]
def draft_block_rate(miss_rate: float, citations: int) -> float:
    """Share of drafts with at least one citation that fails to resolve, if each citation misses
    independently with probability `miss_rate`: 1 - (1 - m)^k. Those drafts are blocked."""
    return 1 - (1 - miss_rate) ** citations


def zero_failure_audit_size(max_rate: float, confidence: float = 0.95) -> int:
    """Smallest audit sample n such that finding 0 bad citations in n shows, at `confidence`,
    that the true rate is below `max_rate`: (1 - p)^n <= 1 - confidence ("rule of three": ~3/p)."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - max_rate))
# --8<-- [end:citation_audit]


# --8<-- [start:audit_triage]
def triage(raw_findings: float, true_findings: float, fp_removed_share: float,
           minutes_per_finding: float) -> dict[str, float]:
    """Reviewer hours and precision before and after a confirmation step (static analysis or a
    forked-chain test) that removes `fp_removed_share` of the false positives and no true ones."""
    fp = raw_findings - true_findings
    after = true_findings + fp * (1 - fp_removed_share)
    return {"hours_before": raw_findings * minutes_per_finding / 60,
            "hours_after": after * minutes_per_finding / 60,
            "precision_before": true_findings / raw_findings,
            "precision_after": true_findings / after}
# --8<-- [end:audit_triage]


# --8<-- [start:rec_budget]
def rerank_gpus(qps: float, prompt_tokens: float, output_tokens: float,
                prefill_tps: float = 10_000, decode_tps: float = 2_500,
                utilization: float = 0.7) -> float:
    """GPUs to serve LLM reranking: prefill and decode GPU-seconds per second, over utilization."""
    return (qps * prompt_tokens / prefill_tps + qps * output_tokens / decode_tps) / utilization


def offline_gpu_hours(items: float, params: float, tokens_per_item: float,
                      peak_flops: float = 989e12, utilization: float = 0.3) -> float:
    """Lower bound for a one-off LLM pass over a catalogue: 2 * params FLOPs per token."""
    return items * 2 * params * tokens_per_item / (peak_flops * utilization) / 3600


def ab_users_per_arm(p_base: float, relative_lift: float, alpha: float = 0.05,
                     power: float = 0.8) -> int:
    """Two-sided two-proportion z-test, unpooled variance:
    n = (z_{1-alpha/2} + z_{power})^2 (p1 q1 + p2 q2) / (p2 - p1)^2."""
    p1, p2 = p_base, p_base * (1 + relative_lift)
    z = norm.ppf(1 - alpha / 2) + norm.ppf(power)
    return math.ceil(z ** 2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2)
# --8<-- [end:rec_budget]


if __name__ == "__main__":
    print(f"legal: 10 citations at a 2% miss rate block {draft_block_rate(0.02, 10):.0%} of drafts; "
          f"showing < 0.1% bad citations takes {zero_failure_audit_size(0.001):,} clean audited citations")
    t = triage(60, 10, 2 / 3, 20)
    print(f"audit triage: {t['hours_before']:.1f} h -> {t['hours_after']:.1f} h, precision "
          f"{t['precision_before']:.0%} -> {t['precision_after']:.0%}")
    print(f"rec: LLM rerank at 5,000 QPS needs {rerank_gpus(5000, 1200, 60):,.0f} GPUs, at 1% of traffic "
          f"{rerank_gpus(50, 1200, 60):.1f}; 10M item profiles {offline_gpu_hours(1e7, 8e9, 400):.0f} GPU-h; "
          f"A/B for +2% on a 3% CTR: {ab_users_per_arm(0.03, 0.02):,} users per arm")
