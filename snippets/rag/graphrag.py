"""GraphRAG indexing cost against plain RAG, and a position-debiased pairwise comparison;
agentic RAG cost model: rounds, tokens and latency of a search loop against a one-shot
pipeline, and the blended cost when only some questions are routed to the agent.

Pages: docs/rag/graphrag.{zh,en}.md
"""
from __future__ import annotations

import math
from dataclasses import dataclass


# --8<-- [start:graphrag_cost]
def n_chunks(corpus_tokens: int, size: int, overlap: int) -> int:
    """Fixed-size windows with overlap: stride size - overlap, the last window may be short."""
    if corpus_tokens <= size:
        return 1
    return math.ceil((corpus_tokens - overlap) / (size - overlap))


def graphrag_index_tokens(chunks: int, chunk: int = 600, prompt: int = 2_300, out: int = 1_000,
                          gleanings: int = 1, glean_out: int = 500, reports: int = 2_680,
                          report_in: int = 8_000, report_out: int = 584) -> tuple[int, int]:
    """(input, output) LLM tokens of a GraphRAG index. Per chunk: one extraction call
    (prompt + chunk -> out), then each gleaning call re-sends the conversation so far
    (prompt + chunk + earlier outputs) and writes glean_out more. Per community: one report
    call reading up to report_in tokens. Not counted: the yes/no loop checks between
    gleanings (only when gleanings > 1), description-merging calls, embeddings."""
    inp = chunks * (prompt + chunk)
    outp = chunks * out
    for g in range(1, gleanings + 1):
        inp += chunks * (prompt + chunk + out + (g - 1) * glean_out)
        outp += chunks * glean_out
    return inp + reports * report_in, outp + reports * report_out


def usd(tokens_in: float, tokens_out: float, usd_in_per_m: float, usd_out_per_m: float) -> float:
    """API cost in USD from token counts and per-million prices."""
    return (tokens_in * usd_in_per_m + tokens_out * usd_out_per_m) / 1e6
# --8<-- [end:graphrag_cost]


# --8<-- [start:pairwise_eval]
def debiased_wins(ab: list[int], ba: list[int]) -> tuple[int, int, int]:
    """Judge every question twice with the answers swapped. ab[i]: verdict with system A shown
    first, ba[i]: with B shown first; +1 = the first-shown answer wins, -1 = the second, 0 = tie.
    A win counts only if it survives the swap; anything else is a tie.
    Returns (wins of A, wins of B, ties)."""
    a = b = t = 0
    for x, y in zip(ab, ba):
        if x == 1 and y == -1:
            a += 1
        elif x == -1 and y == 1:
            b += 1
        else:
            t += 1
    return a, b, t


def sign_test_p(wins_a: int, wins_b: int) -> float:
    """Two-sided exact sign test on the decided pairs (ties dropped): the probability, if
    both systems were equally good, of a split at least this uneven."""
    n, k = wins_a + wins_b, max(wins_a, wins_b)
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k, n + 1)) / 2 ** n
    return min(1.0, 2 * tail)
# --8<-- [end:pairwise_eval]


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
    c = n_chunks(1_000_000, 600, 100)
    tin, tout = graphrag_index_tokens(1_669)            # Edge et al.'s Podcast corpus
    print(f"1M tokens -> {c} chunks of 600/100; Podcast index: {tin / 1e6:.1f}M in, "
          f"{tout / 1e6:.2f}M out tokens: ${usd(tin, tout, 2, 10):,.0f} at $2/$10 (Sonnet 5.5), "
          f"${usd(tin, tout, 0.10, 0.50):,.1f} at $0.10/$0.50 (Haiku 5.5), Dec 2026; "
          f"embeddings only: ${usd(1_669 * 600, 0, 0.02, 0):.2f}")
    a, b, t = debiased_wins([1] * 70 + [-1] * 20 + [1] * 35, [-1] * 70 + [1] * 20 + [1] * 35)
    print(f"pairwise, both orders: A {a}, B {b}, ties {t}; sign test p = {sign_test_p(a, b):.2g}")
