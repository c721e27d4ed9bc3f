"""Agentic RAG cost model: rounds, tokens and latency of a search loop against a one-shot
pipeline, and the blended cost when only some questions are routed to the agent.

Pages: docs/rag/graphrag.{zh,en}.md
"""
from __future__ import annotations

from dataclasses import dataclass


# --8<-- [start:agentic_cost]
@dataclass(frozen=True)
class LoopShape:
    """Token and time shape of one agentic-RAG run (all assumptions, set from your traces)."""
    base_prompt: int = 2_000       # system prompt + tool definitions + question
    obs_per_round: int = 1_500     # retrieved text appended per search round
    out_per_round: int = 100       # model tokens per round (thought + tool call)
    answer_out: int = 300          # tokens of the final answer
    ttft_s: float = 0.5            # time to first token per LLM call
    tpot_s: float = 0.04           # time per output token
    retrieval_s: float = 0.2       # search + rerank per round


def expected_rounds(p_enough: float, max_rounds: int) -> float:
    """Each round independently finds enough evidence with probability p; the loop stops then
    or at the cap: E[R] = sum_{k<R} (1-p)^k = (1 - (1-p)^R) / p."""
    return (1 - (1 - p_enough) ** max_rounds) / p_enough


def agentic_tokens(rounds: int, s: LoopShape = LoopShape()) -> tuple[int, int]:
    """(input, output) tokens: round i (1-based) reads base + (i-1) earlier rounds, each one
    its output (thought + tool call) plus its observation; the final answer call reads base +
    all `rounds` of them. No prefix caching assumed."""
    step = s.out_per_round + s.obs_per_round
    inp = sum(s.base_prompt + (i - 1) * step for i in range(1, rounds + 1))
    inp += s.base_prompt + rounds * step
    return inp, rounds * s.out_per_round + s.answer_out


def agentic_latency(rounds: int, s: LoopShape = LoopShape()) -> float:
    """Seconds: rounds are sequential (each needs the previous result), then the answer."""
    per_round = s.ttft_s + s.out_per_round * s.tpot_s + s.retrieval_s
    return rounds * per_round + s.ttft_s + s.answer_out * s.tpot_s


def one_shot(s: LoopShape = LoopShape(), prompt_tokens: int = 2_500) -> tuple[int, float]:
    """(input tokens, latency) of retrieve-once: one search, one answer call whose prompt is
    system prompt + question (~1,000) + 5 chunks of 300 tokens."""
    return prompt_tokens, s.retrieval_s + s.ttft_s + s.answer_out * s.tpot_s


def blended(share_agentic: float, cost_one_shot: float, cost_agentic: float) -> float:
    """Mean cost per question when a router sends `share_agentic` of traffic to the agent
    (routing decided after retrieval, before generation, so no answer call is wasted)."""
    return (1 - share_agentic) * cost_one_shot + share_agentic * cost_agentic
# --8<-- [end:agentic_cost]


if __name__ == "__main__":
    s = LoopShape()
    inp1, lat1 = one_shot(s)
    print(f"one-shot: {inp1} input tokens, {lat1:.1f} s")
    for r in (1, 3, 5):
        inp, out = agentic_tokens(r, s)
        print(f"agentic, {r} rounds: {inp:,} input / {out} output tokens "
              f"({inp / inp1:.1f}x), {agentic_latency(r, s):.1f} s")
    print(f"E[rounds] with p=0.5 per round, cap 5: {expected_rounds(0.5, 5):.2f}")
    print(f"20% routed to the agent (3 rounds): "
          f"{blended(0.2, inp1, agentic_tokens(3, s)[0]):,.0f} input tokens per question on average")
