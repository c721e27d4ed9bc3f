"""Reliability of LLM training and serving: checkpoint interval (Young's formula),
sticky traffic splitting, and a canary rollout controller with automatic rollback.

Pages: docs/system-design/reliability.{zh,en}.md
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field


# --8<-- [start:checkpoint]
def cluster_mtbf(per_node_mtbf_h: float, n_nodes: int) -> float:
    """Independent failures: the job fails when any node fails, so MTBF shrinks as 1/N."""
    return per_node_mtbf_h / n_nodes


def young_interval(checkpoint_cost: float, mtbf: float) -> float:
    """Young (1974): checkpoint period minimising lost time, T* = sqrt(2 * C * M),
    for checkpoint cost C and mean time between failures M (same unit)."""
    return math.sqrt(2 * checkpoint_cost * mtbf)


def wasted_fraction(period: float, checkpoint_cost: float, mtbf: float, restart: float = 0.0) -> float:
    """First-order share of wall time lost: C/T for writing checkpoints, plus, per failure,
    half a period of recomputation and the restart time."""
    return checkpoint_cost / period + (period / 2 + restart) / mtbf
# --8<-- [end:checkpoint]


# --8<-- [start:traffic_split]
def bucket(user_id: str, salt: str = "rollout-42") -> int:
    """Stable bucket 0..9999 from a hash of the user id, so a user stays on one version
    (sticky) and raising the percentage only adds users, never swaps them."""
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def routes_to_canary(user_id: str, canary_percent: float) -> bool:
    return bucket(user_id) < canary_percent * 100
# --8<-- [end:traffic_split]


# --8<-- [start:canary]
@dataclass
class CanaryController:
    """Step the new version through traffic percentages; after each observation window
    compare its error rate with the stable version's and advance, hold or roll back.

    Decision per window: fewer than `min_requests` canary requests -> hold (not enough
    evidence); canary error rate > baseline + `max_abs_increase` -> roll back to 0 %;
    otherwise advance to the next step; after the last step the canary is promoted.
    """
    steps: tuple[float, ...] = (1, 5, 25, 50, 100)
    min_requests: int = 500
    max_abs_increase: float = 0.01
    step_index: int = 0
    state: str = "running"           # running | promoted | rolled_back
    history: list[str] = field(default_factory=list)

    @property
    def canary_percent(self) -> float:
        if self.state == "rolled_back":
            return 0.0
        return self.steps[self.step_index]

    def observe(self, canary_requests: int, canary_errors: int,
                baseline_requests: int, baseline_errors: int) -> str:
        if self.state != "running":
            return self.state
        if canary_requests < self.min_requests:
            decision = "hold"
        else:
            canary_rate = canary_errors / canary_requests
            base_rate = baseline_errors / max(baseline_requests, 1)
            if canary_rate > base_rate + self.max_abs_increase:
                self.state, decision = "rolled_back", "rollback"
            elif self.step_index == len(self.steps) - 1:
                self.state, decision = "promoted", "promote"
            else:
                self.step_index += 1
                decision = "advance"
        self.history.append(decision)
        return decision
# --8<-- [end:canary]


# --8<-- [start:canary_size]
def canary_requests_needed(p_base: float, p_bad: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Requests per arm for a one-sided two-proportion z-test to detect a rise in error (or
    thumbs-down) rate from p_base to p_bad with the given power (normal approximation)."""
    from statistics import NormalDist
    z_a, z_b = NormalDist().inv_cdf(1 - alpha), NormalDist().inv_cdf(power)
    p_bar = (p_base + p_bad) / 2
    num = z_a * math.sqrt(2 * p_bar * (1 - p_bar)) + z_b * math.sqrt(p_base * (1 - p_base) + p_bad * (1 - p_bad))
    return math.ceil((num / (p_bad - p_base)) ** 2)
# --8<-- [end:canary_size]


# --8<-- [start:release_gate]
def accuracy_ci_halfwidth(p: float, n: int, z: float = 1.96) -> float:
    """Half-width of the normal-approximation 95 % CI of an accuracy p measured on n items."""
    return z * math.sqrt(p * (1 - p) / n)


def paired_items_needed(discordant: float, delta: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """Golden-set items for a one-sided paired (McNemar) test to detect a net accuracy drop
    `delta` when candidate and production disagree on a share `discordant` of the items
    (Connor 1987): n = ((z_a sqrt(psi) + z_b sqrt(psi - delta^2)) / delta)^2."""
    from statistics import NormalDist
    z_a, z_b = NormalDist().inv_cdf(1 - alpha), NormalDist().inv_cdf(power)
    num = z_a * math.sqrt(discordant) + z_b * math.sqrt(discordant - delta ** 2)
    return math.ceil((num / delta) ** 2)


def release_gate(prod: list[int], cand: list[int], margin: float = 0.02,
                 z: float = 1.96) -> tuple[str, float, float, float]:
    """Non-inferiority gate on one stratum, paired by item (1 = correct, 0 = wrong).

    d_i = cand_i - prod_i; the 95 % CI of mean(d) decides:
    lower bound >= -margin -> "pass" (shown no worse than `margin`);
    upper bound < 0        -> "regression" (a significant drop: block);
    otherwise              -> "inconclusive" (too few items to tell: add items or review by hand).
    Checked in this order, first match wins: a real drop smaller than `margin` (lower >= -margin
    and upper < 0) passes, because the margin is the drop you agreed to accept.
    Returns (decision, mean difference, lower, upper)."""
    n = len(prod)
    d = [c - p for p, c in zip(prod, cand, strict=True)]
    mean = sum(d) / n
    var = sum((x - mean) ** 2 for x in d) / (n - 1)
    half = z * math.sqrt(var / n)
    lo, hi = mean - half, mean + half
    if lo >= -margin:
        decision = "pass"
    elif hi < 0:
        decision = "regression"
    else:
        decision = "inconclusive"
    return decision, mean, lo, hi
# --8<-- [end:release_gate]


# --8<-- [start:version_storage]
def lora_delta_params(layers: int, hidden: int, ffn: int, kv_dim: int, r: int,
                      targets: tuple[str, ...] = ("q", "k", "v", "o", "gate", "up", "down")) -> int:
    """Parameters of a LoRA adapter on a Llama-style decoder: r * (d_in + d_out) per target
    matrix per layer. kv_dim = num_key_value_heads * head_dim (smaller than hidden with GQA)."""
    shapes = {"q": (hidden, hidden), "k": (hidden, kv_dim), "v": (hidden, kv_dim),
              "o": (hidden, hidden), "gate": (hidden, ffn), "up": (hidden, ffn), "down": (ffn, hidden)}
    return layers * sum(r * (shapes[t][0] + shapes[t][1]) for t in targets)


def registry_bytes(full_versions: int, full_bytes: float, adapters: int, adapter_bytes: float) -> float:
    """Object-storage footprint: every full fine-tune is a new copy of the weights (nothing to
    de-duplicate), every adapter stores only its delta against a registered base."""
    return full_versions * full_bytes + adapters * adapter_bytes
# --8<-- [end:version_storage]


if __name__ == "__main__":
    m = 54 * 24 / 419                         # Llama 3: 419 unexpected interruptions in 54 days
    c = 2 / 60                                # assume a 2-minute checkpoint write (hours)
    t = young_interval(c, m)
    print(f"job MTBF {m:.2f} h, Young interval {t * 60:.0f} min, waste {wasted_fraction(t, c, m):.1%}")
    share = sum(routes_to_canary(f"user{i}", 5) for i in range(20_000)) / 20_000
    print(f"5% canary receives {share:.2%} of 20,000 users")
    ctl = CanaryController()
    for obs in [(600, 3, 60_000, 300), (3000, 20, 57_000, 290), (400, 1, 45_000, 200), (15_000, 400, 45_000, 230)]:
        print(f"at {ctl.canary_percent:>4}% ->", ctl.observe(*obs), "| now", ctl.canary_percent, "%")
    n = canary_requests_needed(0.005, 0.010)
    print(f"canary: {n} requests per arm to catch 0.5% -> 1.0% errors; at 1% of 100 QPS "
          f"that is {n / 1.0 / 60:.0f} min per step")
    print(f"golden set of 500 at 80% accuracy: +/-{accuracy_ci_halfwidth(0.8, 500):.1%}; "
          f"paired items to catch a 2-pt drop with 10% discordant: {paired_items_needed(0.10, 0.02)}, "
          f"unpaired per arm: {canary_requests_needed(0.20, 0.22)}")
    prod = [1] * 800 + [0] * 200
    cand = [1] * 760 + [0] * 40 + [1] * 30 + [0] * 170     # 40 newly wrong, 30 newly right
    print("gate on 1,000 items, 40 lost / 30 gained:", release_gate(prod, cand))
    n = lora_delta_params(80, 8192, 28672, 1024, r=16)      # Llama-2/3-70B shapes
    print(f"70B LoRA r=16 on all linear layers: {n / 1e6:.0f}M params = {2 * n / 1e6:.0f} MB in bf16; "
          f"10 full versions + 200 adapters: {registry_bytes(10, 140e9, 200, 2 * n) / 1e12:.2f} TB")
