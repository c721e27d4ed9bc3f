"""MMBench-style CircularEval for multiple-choice multimodal benchmarks, and the paired
standard error of an accuracy difference between two models.

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


# --8<-- [start:paired_diff]
def paired_accuracy_diff(correct_a: list[bool], correct_b: list[bool]) -> tuple[float, float, float]:
    """Accuracy difference of two models on the same questions, with its standard error.

    b = questions only A gets right, c = questions only B gets right, n = all questions.
    diff = (b - c) / n ; SE = sqrt(b + c - (b - c)^2 / n) / n ; z = diff / SE
    (the large-sample form of McNemar's test). Returns (diff, se, z); z = 0 if SE = 0.
    """
    n = len(correct_a)
    b = sum(a and not o for a, o in zip(correct_a, correct_b, strict=True))
    c = sum(o and not a for a, o in zip(correct_a, correct_b))
    diff = (b - c) / n
    se = max(b + c - (b - c) ** 2 / n, 0.0) ** 0.5 / n
    return diff, se, (diff / se if se > 0 else 0.0)
# --8<-- [end:paired_diff]


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
    a = [True] * 150 + [False] * 100 + [True] * 1950 + [False] * 800   # 3,000 shared questions
    b = [False] * 150 + [True] * 100 + [True] * 1950 + [False] * 800
    d, se, z = paired_accuracy_diff(a, b)
    print(f"paired: A - B = {100 * d:.2f} points, SE {100 * se:.2f} points, z = {z:.2f}")
