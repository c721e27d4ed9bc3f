"""Tests for snippets/alignment/test_time_compute.py: hand counts, hand products, brute-force search."""
import itertools
import math

import pytest

from snippets import load

ttc = load("alignment/test_time_compute")


def test_math_shepherd_hard_and_soft_by_hand():
    # step 1: 3 of 4 completions correct; step 2: 1 of 4; step 3: none
    hard, soft = ttc.math_shepherd_labels([[True, True, False, True], [False, True, False, False], [False] * 4])
    assert hard == [1, 1, 0]
    assert soft == [0.75, 0.25, 0.0]
    # the number of completions may differ per step: each step's fraction uses its own N
    hard, soft = ttc.math_shepherd_labels([[True, False], [False, False, True, True, True], [True]])
    assert hard == [1, 1, 1] and soft == [0.5, 0.6, 1.0]


def test_step_aggregation_hand_values():
    s = [0.9, 0.3, 0.8]
    assert ttc.aggregate_steps(s, "min") == 0.3
    assert ttc.aggregate_steps(s) == 0.3                                   # min is the default
    assert math.isclose(ttc.aggregate_steps(s, "prod"), 0.216)           # 0.9 * 0.3 * 0.8
    assert ttc.aggregate_steps(s, "last") == 0.8
    # a solution whose only bad step is early: last ignores it, min and prod do not
    early_bad = [0.1, 0.95, 0.95]
    assert ttc.aggregate_steps(early_bad, "last") > ttc.aggregate_steps(s, "last")
    assert ttc.aggregate_steps(early_bad, "min") < ttc.aggregate_steps(s, "min")
    with pytest.raises(ValueError, match="unknown aggregation 'mean'"):
        ttc.aggregate_steps(s, "mean")


def test_majority_best_of_n_and_weighted_vote_disagree():
    answers = [12, 12, 12, 15, 15, 9]
    scores = [0.2, 0.3, 0.25, 0.6, 0.5, 0.9]
    # by hand: votes 12:3, 15:2, 9:1; top single score 0.9 -> 9; sums 12:0.75, 15:1.1, 9:0.9
    assert ttc.majority_vote(answers) == 12
    assert ttc.best_of_n(answers, scores) == 9
    assert ttc.weighted_vote(answers, scores) == 15


def test_majority_vote_tie_keeps_first_seen():
    assert ttc.majority_vote(["b", "a", "a", "b"]) == "b"
    assert ttc.majority_vote(["a", "b", "b", "a"]) == "a"


def test_best_of_n_and_weighted_vote_ties_keep_first_seen():
    # equal top scores: best-of-N returns the first sample's answer; equal sums: the first answer seen
    assert ttc.best_of_n(["p", "q", "r"], [0.4, 0.9, 0.9]) == "q"
    assert ttc.best_of_n(["p", "q", "r"], [0.9, 0.4, 0.9]) == "p"
    assert ttc.weighted_vote(["u", "v", "v", "u"], [0.5, 0.25, 0.25, 0.0]) == "u"     # 0.5 vs 0.5
    assert ttc.weighted_vote(["v", "u", "u", "v"], [0.5, 0.25, 0.25, 0.0]) == "v"


def test_weighted_vote_with_equal_scores_is_majority_vote():
    answers = ["x", "y", "y", "z", "y", "x"]
    assert ttc.weighted_vote(answers, [0.5] * 6) == ttc.majority_vote(answers) == "y"


TREE = {(): ["a", "b"], ("a",): ["c", "d"], ("b",): ["e", "f"]}
VALUE = {("a",): 0.6, ("b",): 0.5, ("a", "c"): 0.2, ("a", "d"): 0.3, ("b", "e"): 0.9, ("b", "f"): 0.1}


def brute_force_best_leaf(tree, value, depth):
    paths = [()]
    for _ in range(depth):
        paths = [p + (c,) for p in paths for c in tree.get(p, [])]
    return max(paths, key=value.__getitem__)


def test_beam_search_matches_brute_force_when_wide_and_greedy_can_miss():
    children = lambda s: TREE.get(s, [])      # noqa: E731
    best = brute_force_best_leaf(TREE, VALUE, 2)
    assert best == ("b", "e")
    assert ttc.step_beam_search(children, VALUE.__getitem__, beam_width=2, depth=2) == best
    # greedy follows the better-looking first step "a" (0.6 > 0.5) and misses the best leaf
    assert ttc.step_beam_search(children, VALUE.__getitem__, beam_width=1, depth=2) == ("a", "d")


def test_beam_search_random_trees_full_width_equals_exhaustive():
    import random
    rng = random.Random(0)
    for _ in range(20):
        branch, depth = 3, 3
        tree, value = {}, {}
        for d in range(depth):
            for p in itertools.product("xyz", repeat=d):
                tree[p] = list("xyz")[:branch]
                for c in tree[p]:
                    value[p + (c,)] = rng.random()
        wide = ttc.step_beam_search(lambda s: tree.get(s, []), value.__getitem__, branch ** depth, depth)
        assert wide == brute_force_best_leaf(tree, value, depth)


def test_beam_search_intermediate_width_matches_independent_reference():
    """Width 2 on random trees against a reference written differently (heapq.nlargest per level):
    catches pruning on the parent's score, keeping the worst prefixes, or not pruning at all."""
    import heapq
    import random
    rng = random.Random(1)
    differs_from_exhaustive = 0
    for _ in range(30):
        tree, value = {}, {}
        for d in range(3):
            for p in itertools.product("xyz", repeat=d):
                tree[p] = list("xyz")
                for c in tree[p]:
                    value[p + (c,)] = rng.random()
        level = [()]
        for _ in range(3):
            level = heapq.nlargest(2, (p + (c,) for p in level for c in tree[p]), key=value.__getitem__)
        ref = max(level, key=value.__getitem__)
        got = ttc.step_beam_search(lambda s: tree.get(s, []), value.__getitem__, beam_width=2, depth=3)
        assert got == ref
        differs_from_exhaustive += got != brute_force_best_leaf(tree, value, 3)
    assert differs_from_exhaustive > 0      # the trees are hard enough that width 2 sometimes misses


def test_flops_exchange_matches_direct_accounting():
    # oracle: count FLOPs directly for a concrete small model (N params, Dp pretraining tokens)
    n, dp = 7e9, 2e12
    for m in (2.0, 14.0):
        for r in (0.16, 0.79, 1.0, 22.0):
            di = r * dp
            big_total = 6 * (m * n) * dp + 2 * (m * n) * di
            k = (big_total - 6 * n * dp) / (2 * n * di)
            assert math.isclose(ttc.matched_inference_multiplier(m, r), k, rel_tol=1e-12)
    # hand values for Snell et al.'s 14x comparison: 14 + 39 / R
    assert math.isclose(ttc.matched_inference_multiplier(14, 1.0), 53.0)
    assert math.isclose(ttc.matched_inference_multiplier(14, 0.16), 257.75)
    assert math.isclose(ttc.matched_inference_multiplier(14, 22), 14 + 39 / 22)
    assert ttc.matched_inference_multiplier(1, 0.5) == 1.0          # same model: no extra budget
    for bad_r in (0, -0.5):                                         # a ratio of token counts is > 0
        with pytest.raises(ValueError, match=r"^r = D_inference / D_pretrain must be positive$"):
            ttc.matched_inference_multiplier(14, bad_r)


def test_beam_search_ties_keep_proposal_order():
    # every state scores the same: the stable sort keeps the first proposals, so the first path wins
    children = lambda s: ["a", "b", "c"]      # noqa: E731
    assert ttc.step_beam_search(children, lambda s: 0.5, beam_width=1, depth=3) == ("a", "a", "a")
    assert ttc.step_beam_search(children, lambda s: 0.5, beam_width=2, depth=2) == ("a", "a")
    # a tie only at the cut: ("b",) and ("c",) score the same, width 2 keeps ("a",) and ("b",)
    score = {("a",): 0.9, ("b",): 0.4, ("c",): 0.4}
    got = ttc.step_beam_search(children, lambda s: score.get(s, 1.0 if s[:1] == ("c",) else 0.0), 2, 2)
    assert got[0] in ("a", "b")
