"""Long-context evaluation beyond a single needle: a multi-key needle task (RULER style), an
MRCR-style "return the i-th of several identical requests" task with its grader, and RULER's
effective context length.

Pages: docs/evaluation/long_context_eval.{zh,en}.md
"""
from __future__ import annotations

import random
from difflib import SequenceMatcher


# --8<-- [start:multikey]
def multikey_niah(n_keys: int, n_filler: int, seed: int = 0) -> tuple[str, str, str]:
    """RULER-style multi-key needle: several 'key -> number' needles in filler; ask for ONE key.
    The distractor needles share the template, so surface matching on 'magic number' is not enough.
    Returns (context, question, answer)."""
    rng = random.Random(seed)
    keys = rng.sample(["apple", "river", "violet", "copper", "falcon", "maple", "orbit", "quartz"], n_keys)
    values = [str(rng.randrange(10**6, 10**7)) for _ in keys]
    lines = ["The grass is green and the sky is blue."] * n_filler
    for k, v in zip(keys, values):
        lines.insert(rng.randrange(len(lines) + 1), f"The special magic number for {k} is {v}.")
    target = rng.randrange(n_keys)
    return "\n".join(lines), f"What is the special magic number for {keys[target]}?", values[target]
# --8<-- [end:multikey]


# --8<-- [start:mrcr]
def mrcr_conversation(asks: list[str], seed: int = 0) -> list[tuple[str, str]]:
    """A synthetic multi-turn chat: (user ask, assistant reply) per turn. Identical asks get
    different replies, so 'the 2nd poem about tapirs' has exactly one right answer."""
    rng = random.Random(seed)
    seen: dict[str, int] = {}
    turns = []
    for ask in asks:
        seen[ask] = seen.get(ask, 0) + 1
        reply = f"[{ask} #{seen[ask]}] " + " ".join(rng.choice(["moss", "tide", "ember", "lark", "slate"])
                                                   for _ in range(6))
        turns.append((ask, reply))
    return turns


def ith_instance(turns: list[tuple[str, str]], ask: str, i: int) -> str:
    """Reference answer: the reply to the i-th (1-indexed) occurrence of `ask`."""
    replies = [reply for a, reply in turns if a == ask]
    return replies[i - 1]


def grade_mrcr(response: str, answer: str, prefix: str) -> float:
    """OpenAI MRCR grading: 0 unless the response starts with the random prefix it was told to
    prepend; otherwise difflib's SequenceMatcher ratio between the rest and the reference."""
    if not response.startswith(prefix):
        return 0.0
    return SequenceMatcher(None, response[len(prefix):], answer).ratio()
# --8<-- [end:mrcr]


# --8<-- [start:effective_length]
def effective_length(scores: dict[int, float], threshold: float = 85.6) -> int | None:
    """RULER's effective context length: the largest tested length whose score exceeds the
    threshold (85.6 = Llama-2-7B's score at 4K in the RULER paper); None if no length passes."""
    passing = [length for length, s in scores.items() if s > threshold]
    return max(passing) if passing else None
# --8<-- [end:effective_length]


if __name__ == "__main__":
    ctx, q, a = multikey_niah(n_keys=4, n_filler=12, seed=1)
    print(q, "->", a, f"({ctx.count('magic number')} look-alike needles in the context)")
    asks = ["poem about tapirs", "blog post about rocks", "poem about tapirs", "riddle about tapirs",
            "poem about tapirs"]
    turns = mrcr_conversation(asks, seed=0)
    ref = ith_instance(turns, "poem about tapirs", 2)
    print("reference:", ref)
    print("right instance :", grade_mrcr("xK3" + ref, ref, "xK3"))
    print("wrong instance :", round(grade_mrcr("xK3" + ith_instance(turns, "poem about tapirs", 3), ref, "xK3"), 3))
    print("no prefix      :", grade_mrcr(ref, ref, "xK3"))
    gpt4 = {4_000: 96.6, 8_000: 96.3, 16_000: 95.2, 32_000: 93.2, 64_000: 87.0, 128_000: 81.2}
    print("effective length of GPT-4-1106 on RULER:", effective_length(gpt4))
