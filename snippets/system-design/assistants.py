"""Dialogue context budget: input tokens of a conversation that re-sends its whole history
versus one that keeps a fixed window of recent turns plus a rolling summary.

Pages: docs/system-design/assistants.{zh,en}.md
"""
from __future__ import annotations


# --8<-- [start:context_budget]
def full_history_tokens(turns: int, fixed: int, per_turn: int) -> int:
    """Turn t (0-based) sends the fixed prefix plus all t earlier turns:
    sum_t (fixed + per_turn * t) = turns * fixed + per_turn * turns (turns - 1) / 2."""
    return turns * fixed + per_turn * turns * (turns - 1) // 2


def windowed_tokens(turns: int, fixed: int, per_turn: int, window: int,
                    state_and_summary: int, summarize_every: int, summary_call: int) -> int:
    """Turn t sends fixed + structured state + rolling summary + the last min(t, window) turns;
    every `summarize_every` turns a summarisation call reads `summary_call` tokens."""
    chat = sum(fixed + state_and_summary + per_turn * min(t, window) for t in range(turns))
    return chat + (turns // summarize_every) * summary_call
# --8<-- [end:context_budget]


if __name__ == "__main__":
    for n in (30, 100):
        full = full_history_tokens(n, 800, 300)
        win = windowed_tokens(n, 800, 300, window=6, state_and_summary=600,
                              summarize_every=6, summary_call=2_200)
        print(f"{n} turns: full history {full:,} input tokens, window + summary {win:,} ({full / win:.1f}x)")
