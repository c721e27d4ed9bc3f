"""Framework and model choices as numbers: the input tokens an agent loop re-sends, a package's
transitive dependencies, which recorded requests changed after an upgrade, a bake-off summary
(pass rate, tokens, p95 latency), and the sample size, cost, paired gap and shortlist rule for
model trials.

Pages: docs/agents/frameworks.{zh,en}.md
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import math
import re
from typing import Callable

from packaging.requirements import Requirement


# --8<-- [start:overhead]
# The classic text-ReAct prompt (LangChain Hub "hwchase17/react", used by legacy create_react_agent).
REACT_PROMPT = """Answer the following questions as best you can. You have access to the following tools:

{tools}

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [{tool_names}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can repeat N times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question

Begin!

Question: {input}
Thought:{agent_scratchpad}"""


def scaffold_size(template: str, chars_per_token: float = 4.0) -> dict[str, float]:
    """Words, characters and estimated tokens of a prompt template with its {placeholders}
    removed: the fixed text the framework adds to every call."""
    text = re.sub(r"\{[A-Za-z_]+\}", "", template)
    return {"words": len(text.split()), "chars": len(text), "tokens": len(text) / chars_per_token}


def loop_input_tokens(fixed: int, per_step: int, n_steps: int) -> int:
    """Input tokens over a whole agent run when every step re-sends the fixed prompt (system,
    scaffold, tool definitions, question) plus everything earlier steps appended (per_step
    tokens each): sum over k < n of (fixed + k * per_step) = n*fixed + per_step*n(n-1)/2."""
    return n_steps * fixed + per_step * n_steps * (n_steps - 1) // 2


def transitive_requirements(name: str,
                            requires: Callable[[str], list[str] | None] = importlib.metadata.requires,
                            ) -> set[str]:
    """Every distribution `name` pulls in (not counting itself), following requirements whose
    environment marker holds here and skipping optional extras."""
    seen: set[str] = set()
    stack = [name]
    while stack:
        try:
            reqs = requires(stack.pop()) or []
        except importlib.metadata.PackageNotFoundError:
            reqs = []
        for line in reqs:
            req = Requirement(line)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = re.sub(r"[-_.]+", "-", req.name).lower()
            if dep not in seen:
                seen.add(dep)
                stack.append(dep)
    seen.discard(re.sub(r"[-_.]+", "-", name).lower())
    return seen


def request_fingerprint(payload: dict) -> str:
    """Hash of the exact request sent to the model (messages, tools, parameters)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def changed_requests(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    """Eval-example ids whose model request differs between two recorded runs (e.g. before and
    after a framework upgrade); ids present in only one run count as changed."""
    ids = sorted(set(before) | set(after))
    return [i for i in ids if i not in before or i not in after
            or request_fingerprint(before[i]) != request_fingerprint(after[i])]
# --8<-- [end:overhead]


# --8<-- [start:bakeoff]
def nearest_rank_percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100) by nearest rank: the smallest value with at least
    q% of the values at or below it (what 'p95 latency' means in most dashboards)."""
    xs = sorted(values)
    return xs[max(1, math.ceil(q / 100 * len(xs))) - 1]


def bakeoff_summary(runs: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Per candidate, from per-example records {"passed": bool, "tokens": int, "latency_s": float}
    on the SAME eval set: pass rate, mean tokens per task, p95 latency."""
    lengths = {len(r) for r in runs.values()}
    if len(lengths) != 1:
        raise ValueError("every candidate must run the same examples")
    return {name: {"pass_rate": sum(r["passed"] for r in rs) / len(rs),
                   "mean_tokens": sum(r["tokens"] for r in rs) / len(rs),
                   "p95_latency_s": nearest_rank_percentile([r["latency_s"] for r in rs], 95)}
            for name, rs in runs.items()}
# --8<-- [end:bakeoff]


# --8<-- [start:trial]
def examples_for_margin(half_width: float, p: float = 0.5, z: float = 1.96) -> int:
    """Examples needed so a rate near p has a ~95% (z=1.96) normal-approximation interval of
    +-half_width: n = z^2 p (1-p) / half_width^2, rounded up. p=0.5 is the worst case."""
    return math.ceil(z * z * p * (1 - p) / half_width ** 2)


def cost_per_1k_tasks(input_tokens: float, output_tokens: float,
                      usd_per_m_input: float, usd_per_m_output: float) -> float:
    """Dollars per 1,000 tasks from tokens per task and per-million-token prices."""
    return 1000 * (input_tokens * usd_per_m_input + output_tokens * usd_per_m_output) / 1e6


def task_latency_s(ttft_s: float, output_tokens: int, decode_tokens_per_s: float) -> float:
    """End-to-end latency of one call: time to first token + remaining tokens at decode speed."""
    return ttft_s + (output_tokens - 1) / decode_tokens_per_s


def paired_gap(a: list[bool], b: list[bool], z: float = 1.96) -> tuple[float, float]:
    """Pass-rate gap a - b on the SAME examples and its ~95% half-width from the per-example
    differences d_i in {-1, 0, 1}: z * sqrt(var(d) / n). Only discordant examples (one model
    passes, the other fails) add variance, so paired is tighter than comparing two rates."""
    n = len(a)
    if n != len(b) or n == 0:
        raise ValueError("both models must be scored on the same examples")
    d = [int(x) - int(y) for x, y in zip(a, b)]
    mean = sum(d) / n
    var = sum(x * x for x in d) / n - mean * mean
    return mean, z * math.sqrt(var / n)


def examples_for_paired_margin(half_width: float, discordant: float, z: float = 1.96) -> int:
    """Examples so the paired gap between two models has a ~95% half-width of half_width when a
    share `discordant` of examples split them (and the gap is near 0): n = z^2 * disc / h^2."""
    return math.ceil(z * z * discordant / half_width ** 2)


def shortlist(results: dict[str, list[bool]], usd_per_1k: dict[str, float]) -> list[str]:
    """Models not significantly worse than the best-scoring one on a paired test over the same
    examples (the 95% interval of the gap reaches 0), cheapest first."""
    rate = {n: sum(r) / len(r) for n, r in results.items()}
    best = max(rate, key=lambda n: (rate[n], -usd_per_1k[n]))
    keep = []
    for n, r in results.items():
        gap, half = paired_gap(results[best], r)
        if gap - half <= 1e-12:
            keep.append(n)
    return sorted(keep, key=lambda n: (usd_per_1k[n], -rate[n], n))
# --8<-- [end:trial]


if __name__ == "__main__":
    # A 5-step text-ReAct run: 1,500 fixed tokens, 300 appended per step (assumed sizes).
    print("input tokens over 5 steps:", loop_input_tokens(1500, 300, 5))
    deps = transitive_requirements("langchain-core")
    print(f"langchain-core pulls in {len(deps)} distributions here, e.g. {sorted(deps)[:5]}")
    before = {"q1": {"messages": [{"role": "system", "content": "Be brief."}]}}
    after = {"q1": {"messages": [{"role": "system", "content": "Be brief. "}]}}
    print("requests changed by the upgrade:", changed_requests(before, after))
    print("p95 of 1..100 ms:", nearest_rank_percentile(list(range(1, 101)), 95))
    print("examples for +-7 points:", examples_for_margin(0.07))
    print("$ per 1k tasks (2k in, 500 out, $1/$4 per M):", cost_per_1k_tasks(2000, 500, 1.0, 4.0))
    print("latency (0.4 s TTFT, 500 tokens at 50 tok/s):", round(task_latency_s(0.4, 500, 50), 2), "s")
    print("ReAct scaffold without placeholders:", scaffold_size(REACT_PROMPT))
    print(f"paired half-width, 200 examples, 20% discordant: +-{1.96 * math.sqrt(0.2 / 200):.3f}")
    print("examples for a +-3-point paired gap at 20% discordance:", examples_for_paired_margin(0.03, 0.2))
    # 200 examples; "big" passes 160. "mid" fails 10 of big's passes (gap 5 points, all one way);
    # "small" differs on 50 examples, 30 lost and 20 won (also a 5-point gap).
    big = [True] * 160 + [False] * 40
    mid = [False] * 10 + [True] * 150 + [False] * 40
    small = [False] * 30 + [True] * 130 + [True] * 20 + [False] * 20
    print("shortlist:", shortlist({"big": big, "mid": mid, "small": small},
                                  {"big": 12.0, "mid": 3.0, "small": 0.8}))
