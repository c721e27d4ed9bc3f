"""Short-term memory for a chat agent (keep the system prompt and the most recent turns that
fit a token budget, starting on a user turn) and the token/latency arithmetic of splitting a
task across parallel sub-agents.

Pages: docs/agents/agent_design.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable

Message = tuple[str, str]          # (role, content); role in {"system", "user", "assistant", "tool"}


# --8<-- [start:trim]
def word_count(message: Message) -> int:
    """A stand-in token counter; use the model's tokenizer in practice."""
    return len(message[1].split())


def trim_history(messages: list[Message], max_tokens: int,
                 count: Callable[[Message], int] = word_count) -> list[Message]:
    """Sliding-window memory. Keep a leading system message, then walk back from the newest
    message and keep whole messages while the total stays <= max_tokens. Finally drop messages
    from the front of the window until it starts with a user turn, so the model never sees an
    orphaned assistant reply or tool result."""
    system = [messages[0]] if messages and messages[0][0] == "system" else []
    budget = max_tokens - sum(count(m) for m in system)
    kept: list[Message] = []
    for m in reversed(messages[len(system):]):
        if count(m) > budget:
            break
        kept.append(m)
        budget -= count(m)
    kept.reverse()
    while kept and kept[0][0] != "user":
        kept.pop(0)
    return system + kept
# --8<-- [end:trim]


# --8<-- [start:fanout]
def loop_input_tokens(calls: int, base: int, per_call: int) -> int:
    """Input tokens of one agent that makes `calls` tool calls, each appending `per_call`
    tokens to a context that starts at `base` and is re-sent in full on every call (no prefix
    caching): sum_{i<n} (base + i * per_call) = n * base + per_call * n (n - 1) / 2."""
    return calls * base + per_call * calls * (calls - 1) // 2


def fanout(calls: int, workers: int, base: int, per_call: int, summary: int,
           step_s: float, lead_s: float) -> dict[str, float]:
    """Same total work split evenly over `workers` parallel sub-agents; the lead reads one
    `summary` per worker. workers = 1 means a single agent doing everything itself."""
    if workers == 1:
        return {"input_tokens": loop_input_tokens(calls, base, per_call),
                "peak_context": base + (calls - 1) * per_call,
                "wall_s": calls * step_s}
    per_worker = -(-calls // workers)                     # ceil: the slowest worker sets the pace
    sub = workers * loop_input_tokens(per_worker, base, per_call)
    lead = base + workers * summary                       # one synthesis call over the summaries
    return {"input_tokens": sub + lead,
            "peak_context": max(base + (per_worker - 1) * per_call, lead),
            "wall_s": lead_s + per_worker * step_s + lead_s}
# --8<-- [end:fanout]


# --8<-- [start:memory_score]
def score_memories(hours_since_access: list[float], importance: list[float],
                   relevance: list[float], decay: float = 0.995,
                   weights: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> list[float]:
    """Generative-Agents-style retrieval score: recency (decay ** hours since last access),
    importance (e.g. 1-10 from an LLM) and relevance (cosine similarity to the query), each
    min-max normalised over the candidates, then a weighted sum. Higher is retrieved first."""
    def norm(xs: list[float]) -> list[float]:
        lo, hi = min(xs), max(xs)
        return [0.0 if hi == lo else (x - lo) / (hi - lo) for x in xs]
    rec = norm([decay ** h for h in hours_since_access])
    imp, rel = norm(importance), norm(relevance)
    a, b, c = weights
    return [a * r + b * i + c * v for r, i, v in zip(rec, imp, rel)]
# --8<-- [end:memory_score]


if __name__ == "__main__":
    chat = [("system", "You are a helpful assistant."),
            ("user", "My name is Lin and I work on search."),
            ("assistant", "Nice to meet you, Lin."),
            ("user", "What is BM25?"),
            ("assistant", "A ranking function based on term frequency and idf."),
            ("user", "And what is my name?")]
    for budget in (40, 25, 12):
        kept = trim_history(chat, budget)
        print(budget, "->", [c for _, c in kept])
    for k in (1, 5):
        r = fanout(calls=90, workers=k, base=3_000, per_call=3_000, summary=2_000, step_s=7.0, lead_s=10.0)
        print(f"{k} agent(s): {r['input_tokens'] / 1e6:.2f}M input tokens, "
              f"peak context {r['peak_context']:,}, {r['wall_s'] / 60:.1f} min")
    scores = score_memories([1, 200, 30], [3, 9, 5], [0.82, 0.40, 0.75])
    print("memory scores (recent+relevant, old+important, middle):", [round(x, 2) for x in scores])
