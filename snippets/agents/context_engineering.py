"""Context engineering for long-horizon agents: block-level prefix-cache hits (as in vLLM's
automatic prefix caching), an agent-loop cost model with and without prompt caching, a
compaction policy (system + summary + last k turns) and pagination of long tool results.

Pages: docs/agents/context_engineering.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable

Message = tuple[str, str]          # (role, content); role in {"system", "user", "assistant", "tool"}


# --8<-- [start:prefix_hit]
def prefix_cache_hit_tokens(cached: list[int], prompt: list[int], block_size: int) -> int:
    """Tokens of `prompt` whose KV can be reused from a cached sequence, vLLM-style.

    The cache is keyed by whole blocks of `block_size` tokens, each block's hash covering the
    block and every token before it, so a hit is the run of leading *full* blocks on which the
    two sequences agree. The last prompt token is always recomputed (its logits are needed),
    so at most floor((len(prompt) - 1) / block_size) blocks can hit.
    """
    lcp = 0
    for a, b in zip(cached, prompt):
        if a != b:
            break
        lcp += 1
    max_blocks = max(len(prompt) - 1, 0) // block_size
    return min(lcp // block_size, max_blocks) * block_size
# --8<-- [end:prefix_hit]


# --8<-- [start:loop_cost]
def agent_loop_cost(n_steps: int, first_prompt: int, growth: int, output_per_step: int,
                    price_in: float, price_out: float, price_cache_write: float,
                    price_cache_read: float, caching: bool, prefix_stable: bool = True) -> float:
    """Dollar cost of an agent loop whose prompt grows by `growth` tokens each step.

    Step t (1-based) sends L_t = first_prompt + (t-1) * growth input tokens and gets
    `output_per_step` tokens back. Prices are $ per token. With caching and a stable prefix,
    step 1 writes L_1 to the cache and every later step reads L_{t-1} and writes the `growth`
    new tokens (cache assumed warm: every step within the TTL). A prefix that changes every step
    (a timestamp at the top) turns every step into a full cache write.
    """
    total = 0.0
    for t in range(1, n_steps + 1):
        length = first_prompt + (t - 1) * growth
        if not caching:
            total += length * price_in
        elif not prefix_stable or t == 1:
            total += length * price_cache_write
        else:
            prev = length - growth
            total += prev * price_cache_read + growth * price_cache_write
        total += output_per_step * price_out
    return total
# --8<-- [end:loop_cost]


# --8<-- [start:compact]
def words(message: Message) -> int:
    """Stand-in token counter (use the model's tokenizer in practice)."""
    return len(message[1].split())


def compact(messages: list[Message], budget: int, keep_turns: int,
            summarize: Callable[[list[Message]], str],
            count: Callable[[Message], int] = words) -> list[Message]:
    """Compaction: if the history exceeds `budget`, keep the system message, replace the older
    turns by one summary message and keep the last `keep_turns` turns verbatim (a turn starts at
    a user message). If that still does not fit, keep fewer turns (down to one). Returns the
    history unchanged when it already fits."""
    if sum(count(m) for m in messages) <= budget:
        return list(messages)
    system = [messages[0]] if messages and messages[0][0] == "system" else []
    body = messages[len(system):]
    starts = [i for i, m in enumerate(body) if m[0] == "user"]
    for k in range(min(keep_turns, len(starts)), 0, -1):
        cut = starts[-k]
        old, recent = body[:cut], body[cut:]
        summary = [("user", "[summary of earlier work] " + summarize(old))] if old else []
        out = system + summary + recent
        if sum(count(m) for m in out) <= budget:
            return out
    raise ValueError("even system + summary + the last turn exceed the budget")
# --8<-- [end:compact]


# --8<-- [start:paginate]
def paginate(tokens: list[str], page_size: int, page: int) -> tuple[list[str], str]:
    """Return one page (1-based) of a long tool result plus a footer telling the model how to
    ask for more, instead of pasting the whole result into the context."""
    n_pages = max(1, -(-len(tokens) // page_size))
    if not 1 <= page <= n_pages:
        raise ValueError(f"page {page} out of range 1..{n_pages}")
    chunk = tokens[(page - 1) * page_size: page * page_size]
    footer = (f"[page {page}/{n_pages}; {len(tokens)} tokens in total"
              + (f"; call again with page={page + 1} for more]" if page < n_pages else "]"))
    return chunk, footer
# --8<-- [end:paginate]


if __name__ == "__main__":
    sys_prompt = list(range(1000))
    a = sys_prompt + [1, 2, 3] * 100
    b = sys_prompt + [1, 2, 3] * 50 + [9] * 200
    print("hit tokens (B=16):", prefix_cache_hit_tokens(a, b, 16), "of", len(b))
    print("timestamp at the top:", prefix_cache_hit_tokens([7] + a, [8] + a, 16))
    M = 1e-6  # Claude Sonnet 5.5 list prices as of Dec 2026 (USD/MTok): in 2, out 10, 5-min write 2.50, read 0.10
    args = dict(n_steps=50, first_prompt=10_000, growth=2_000, output_per_step=200, price_in=2 * M,
                price_out=10 * M, price_cache_write=2.50 * M, price_cache_read=0.10 * M)
    print(f"no cache ${agent_loop_cost(caching=False, **args):.3f}, "
          f"cache ${agent_loop_cost(caching=True, **args):.3f}, "
          f"cache + timestamp ${agent_loop_cost(caching=True, prefix_stable=False, **args):.3f}")
    chat = [("system", "you are a coding agent"), ("user", "fix the failing test in parser"),
            ("assistant", "reading parser.py " * 5), ("tool", "x " * 40), ("user", "now add a docstring"),
            ("assistant", "done")]
    print(compact(chat, budget=30, keep_turns=2, summarize=lambda old: f"{len(old)} msgs: parser test fixed"))
    print(paginate([f"line{i}" for i in range(7)], 3, 1))
