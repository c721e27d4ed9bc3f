"""MMBench-style CircularEval for multiple-choice multimodal benchmarks.

Pages: docs/multimodal/evaluation.{zh,en}.md
"""
from __future__ import annotations

import string
from collections.abc import Callable


# --8<-- [start:circular_eval]
def circular_variants(options: list[str], answer: int) -> list[tuple[list[str], str]]:
    """All N circular shifts of an N-option question: (shifted options, letter of the answer).

    Shift s moves option i to position (i - s) mod N, so every option visits every letter once."""
    n = len(options)
    out = []
    for s in range(n):
        shifted = options[s:] + options[:s]
        out.append((shifted, string.ascii_uppercase[(answer - s) % n]))
    return out


def circular_eval(questions: list[tuple[str, list[str], int]],
                  model: Callable[[str, list[str]], str]) -> tuple[float, float]:
    """questions: (question, options, index of the correct option); model returns a letter.

    Returns (vanilla accuracy on the original order, CircularEval accuracy): under
    CircularEval a question counts only if the model is right in every shifted variant."""
    vanilla = circular = 0
    for q, options, answer in questions:
        results = [model(q, opts) == letter for opts, letter in circular_variants(options, answer)]
        vanilla += results[0]                   # shift 0 = the original order
        circular += all(results)
    n = len(questions)
    return vanilla / n, circular / n
# --8<-- [end:circular_eval]


if __name__ == "__main__":
    qs = [("colour of the bus?", ["red", "blue", "green", "white"], 0),
          ("how many dogs?", ["1", "2", "3", "4"], 1),
          ("what is on the table?", ["cup", "book", "phone", "plate"], 0),
          ("weather?", ["sunny", "rain", "snow", "fog"], 2)]
    always_a = lambda q, opts: "A"
    truth = {q: opts[a] for q, opts, a in qs}
    knows = lambda q, opts: string.ascii_uppercase[opts.index(truth[q])]
    print("always 'A':      vanilla %.2f, circular %.2f" % circular_eval(qs, always_a))
    print("knows the answer: vanilla %.2f, circular %.2f" % circular_eval(qs, knows))
