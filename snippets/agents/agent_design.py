"""Short-term memory for a chat agent: keep the system prompt and the most recent turns that
fit a token budget, starting on a user turn.

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
