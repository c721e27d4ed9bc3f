"""Tests for snippets/evaluation/benchmarks.py: hand-counted n-grams and hand-computed statistics."""
import math

from snippets import load

b = load("evaluation/benchmarks")


def test_overlap_counts_by_hand():
    # test item: 6 tokens -> 4 trigrams: (a b c) (b c d) (c d e) (d e f); corpus contains "x a b c d y"
    # -> (a b c) and (b c d) are seen: 2 / 4
    assert math.isclose(b.ngram_overlap("A b, c d E f", ["x a b c d y"], n=3), 0.5)
    assert b.ngram_overlap("a b c d e f", ["f e d c b a"], n=3) == 0.0
    assert b.ngram_overlap("a b c d e f", ["zz a b c d e f zz"], n=3) == 1.0


def test_overlap_short_items_and_chinese():
    assert b.ngram_overlap("hello world", ["say hello world now"], n=13) == 1.0   # n shrinks to 2
    assert b.normalise("小明有3个苹果") == ["小", "明", "有", "3", "个", "苹", "果"]
    # 7 tokens -> 5 trigrams; corpus has 小明有 / 明有3 / 有3个 -> 3 of 5
    assert math.isclose(b.ngram_overlap("小明有3个苹果", ["今天小明有3个梨"], n=3), 3 / 5)


def test_prompt_robustness_hand_computed():
    runs = [[True, True, False, True], [True, False, False, True], [True, True, True, True]]
    r = b.prompt_robustness(runs)
    assert math.isclose(r["mean"], (0.75 + 0.5 + 1.0) / 3)
    assert r["min"] == 0.5 and r["max"] == 1.0 and r["spread"] == 0.5
    # items: (T,T,T) consistent, (T,F,T) no, (F,F,T) no, (T,T,T) consistent -> 2/4
    assert r["consistency"] == 0.5
