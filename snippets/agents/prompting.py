"""Prompting: a few-shot prompt built by hand, and self-consistency voting over sampled
chain-of-thought answers.

Pages: docs/agents/prompting.{zh,en}.md
"""
from __future__ import annotations

import re
from collections import Counter


# --8<-- [start:few_shot]
def few_shot_prompt(examples: list[dict[str, str]], query: str,
                    prefix: str = "", sep: str = "\n\n") -> str:
    """Instruction, then k solved examples, then the unsolved query in the same format.
    Zero-shot is the special case examples == []."""
    shots = [f"Q: {e['question']}\nA: {e['answer']}" for e in examples]
    parts = ([prefix] if prefix else []) + shots + [f"Q: {query}\nA:"]
    return sep.join(parts)
# --8<-- [end:few_shot]


# --8<-- [start:self_consistency]
ANSWER_RE = re.compile(r"answer is\s*\$?(-?[\d,]*\.?\d+)", re.IGNORECASE)


def extract_answer(completion: str) -> str | None:
    """Final answer of a chain-of-thought completion ('... so the answer is 42.')."""
    m = ANSWER_RE.search(completion)
    return m.group(1).replace(",", "") if m else None


def self_consistency(completions: list[str]) -> tuple[str | None, float]:
    """Self-consistency (Wang et al., 2022): sample several reasoning paths at temperature > 0,
    take the majority final answer. Returns (answer, share of votes); ties go to the answer
    seen first. Completions without a parsable answer do not vote."""
    answers = [a for a in map(extract_answer, completions) if a is not None]
    if not answers:
        return None, 0.0
    counts = Counter(answers)                    # insertion order = first occurrence
    best = max(counts, key=lambda a: counts[a])  # max keeps the first among equals
    return best, counts[best] / len(completions)
# --8<-- [end:self_consistency]


if __name__ == "__main__":
    shots = [{"question": "2 apples + 3 apples?", "answer": "5"},
             {"question": "10 pens - 4 pens?", "answer": "6"}]
    print(few_shot_prompt(shots, "7 cups + 8 cups?", prefix="Answer with a number."))
    samples = ["16 - 3 - 4 = 9 eggs left, 9 * 2 = 18, so the answer is 18.",
               "She sells 16 - 7 = 9 eggs for $2 each: the answer is $18.",
               "16 - 3 = 13, 13 * 2 = 26. The answer is 26.",
               "I am not sure."]
    print("self-consistency:", self_consistency(samples))
