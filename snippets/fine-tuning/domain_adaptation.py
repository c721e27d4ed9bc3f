"""Domain evaluation hygiene: n-gram overlap between an eval set and training data.

Pages: docs/fine-tuning/domain_adaptation.{zh,en}.md
"""
from __future__ import annotations


# --8<-- [start:contamination]
def ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    """All contiguous n-grams of a token list."""
    return {tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)}


def contaminated(eval_items: list[list[str]], train_docs: list[list[str]], n: int = 13) -> list[bool]:
    """Flag each eval item that shares at least one n-gram with the training data.

    GPT-3 used n = 13 word tokens; for Chinese, use characters and a similar span.
    Items shorter than n are compared as a whole (their full token tuple).
    """
    index: set[tuple[str, ...]] = set()
    for doc in train_docs:
        index |= ngrams(doc, n)
    flags = []
    for item in eval_items:
        if len(item) >= n:
            flags.append(bool(ngrams(item, n) & index))
        else:                                   # short item: look for it verbatim
            flags.append(any(_contains(doc, item) for doc in train_docs))
    return flags


def _contains(doc: list[str], item: list[str]) -> bool:
    """True if `item` occurs as a contiguous span of `doc`."""
    k = len(item)
    return any(doc[i:i + k] == item for i in range(len(doc) - k + 1))
# --8<-- [end:contamination]


if __name__ == "__main__":
    train = [list("高血压患者首选的降压药包括钙通道阻滞剂和血管紧张素转换酶抑制剂")]
    evals = [list("高血压患者首选的降压药有哪些"),   # shares an 11-character span
             list("糖尿病的诊断标准是什么"),
             list("降压药")]                       # short, occurs verbatim in a training doc
    for n in (13, 8):
        print(f"n={n}:", contaminated(evals, train, n=n))
