"""Tests for snippets/evaluation/long_context_eval.py: the i-th instance lookup and the MRCR grader
against hand-checked cases (SequenceMatcher ratio 2M/T worked by hand), the multi-key needle task
against a parse of its own context, and RULER's effective length against the RULER README table."""
from snippets import load

lc = load("evaluation/long_context_eval")


def test_ith_instance_hand_case():
    turns = [("A", "a1"), ("B", "b1"), ("A", "a2"), ("C", "c1"), ("A", "a3"), ("B", "b2")]
    assert lc.ith_instance(turns, "A", 1) == "a1"
    assert lc.ith_instance(turns, "A", 2) == "a2"
    assert lc.ith_instance(turns, "A", 3) == "a3"
    assert lc.ith_instance(turns, "B", 2) == "b2"


def test_generated_conversation_has_distinct_replies_for_identical_asks():
    asks = ["poem about tapirs", "blog post about rocks", "poem about tapirs", "poem about tapirs"]
    turns = lc.mrcr_conversation(asks, seed=3)
    replies = [r for a, r in turns if a == "poem about tapirs"]
    assert len(replies) == 3 and len(set(replies)) == 3
    # each reply names its ask and its 1-based occurrence number, then six words
    assert [r.split("] ")[0] for r in replies] == ["[poem about tapirs #1", "[poem about tapirs #2",
                                                   "[poem about tapirs #3"]
    assert turns[1][1].startswith("[blog post about rocks #1] ")
    assert all(len(r.split("] ")[1].split()) == 6 for _, r in turns)
    assert [a for a, _ in turns] == asks
    assert lc.ith_instance(turns, "poem about tapirs", 2) == turns[2][1]


def test_grader_hand_values():
    # no prefix -> 0 even if the text is perfect
    assert lc.grade_mrcr("abcd", "abcd", "XY7") == 0.0
    assert lc.grade_mrcr("XY7abcd", "abcd", "XY7") == 1.0
    # SequenceMatcher ratio = 2M / T: "abce" vs "abcd" share "abc" (M = 3), T = 8 -> 0.75
    assert lc.grade_mrcr("XY7abce", "abcd", "XY7") == 0.75
    # the prefix must START the response: prefix in the middle (or at the end) still scores 0
    assert lc.grade_mrcr("abXY7cd", "abcd", "XY7") == 0.0
    assert lc.grade_mrcr("abcdXY7", "abcd", "XY7") == 0.0
    # "ab" vs "abcd": M = 2, T = 6 -> 2/3
    assert abs(lc.grade_mrcr("XY7ab", "abcd", "XY7") - 2 / 3) < 1e-12
    # order matters (a bag-of-characters score would give 1.0): "dcba" vs "abcd" has one matching block
    # of length 1, M = 1, T = 8 -> 0.25
    assert lc.grade_mrcr("XY7dcba", "abcd", "XY7") == 0.25


def test_wrong_instance_scores_below_right_instance():
    asks = ["poem about tapirs", "riddle about tapirs", "poem about tapirs"]
    turns = lc.mrcr_conversation(asks, seed=0)
    ref = lc.ith_instance(turns, "poem about tapirs", 2)
    wrong = lc.ith_instance(turns, "poem about tapirs", 1)
    assert lc.grade_mrcr("P" + ref, ref, "P") == 1.0
    assert lc.grade_mrcr("P" + wrong, ref, "P") < 1.0


def test_multikey_answer_is_the_asked_keys_value():
    for seed in range(5):
        ctx, question, answer = lc.multikey_niah(n_keys=4, n_filler=20, seed=seed)
        key = question.split("for ")[1].rstrip("?")
        needles = {line.split("for ")[1].split(" is ")[0]: line.split(" is ")[1].rstrip(".")
                   for line in ctx.splitlines() if "magic number" in line}
        assert len(needles) == 4 and needles[key] == answer


def test_multikey_needles_can_sit_anywhere_including_the_end():
    # with no filler the context is the needles alone (an insert position that excludes the end fails here)
    ctx, question, answer = lc.multikey_niah(n_keys=3, n_filler=0, seed=1)
    assert len(ctx.splitlines()) == 3 and all("magic number" in line for line in ctx.splitlines())
    last = 0
    for seed in range(30):
        ctx, _, answer = lc.multikey_niah(n_keys=2, n_filler=3, seed=seed)
        lines = ctx.splitlines()
        assert len(lines) == 5
        last += "magic number" in lines[-1]
        assert len(answer) == 7 and answer.isdigit() and answer[0] != "0"      # values in [10^6, 10^7)
    assert last > 0


def test_multikey_asks_about_needles_at_varying_ranks():
    # guards against always asking for the first (or last) needle in the context
    ranks = set()
    for seed in range(20):
        ctx, question, _ = lc.multikey_niah(n_keys=4, n_filler=20, seed=seed)
        key = question.split("for ")[1].rstrip("?")
        order = [line.split("for ")[1].split(" is ")[0] for line in ctx.splitlines() if "magic number" in line]
        ranks.add(order.index(key))
    assert len(ranks) >= 3


def test_effective_length_matches_ruler_table():
    # RULER README (NVIDIA/RULER): scores at 4K..128K and the effective length it reports
    gpt4 = {4_000: 96.6, 8_000: 96.3, 16_000: 95.2, 32_000: 93.2, 64_000: 87.0, 128_000: 81.2}
    llama31_70b = {4_000: 96.5, 8_000: 95.8, 16_000: 95.4, 32_000: 94.8, 64_000: 88.4, 128_000: 66.6}
    gemini15 = {4_000: 96.7, 8_000: 95.8, 16_000: 96.0, 32_000: 95.9, 64_000: 95.9, 128_000: 94.4}
    assert lc.effective_length(gpt4) == 64_000
    assert lc.effective_length(llama31_70b) == 64_000
    assert lc.effective_length(gemini15) == 128_000      # reported as ">128K"
    assert lc.effective_length({4_000: 80.0}) is None
    # RULER's definition is the LARGEST passing length, read literally: a dip at 16K does not cap it
    # (the page warns that "last length before the first failure" is the safer reading for decisions)
    assert lc.effective_length({4_000: 90.0, 8_000: 88.0, 16_000: 84.0, 32_000: 86.0}) == 32_000
    # "exceeding" the threshold is strict: a score of exactly 85.6 does not pass
    assert lc.effective_length({4_000: 90.0, 8_000: 85.6, 16_000: 70.0}) == 4_000


WORDS = {"moss", "tide", "ember", "lark", "slate"}
KEYS = {"apple", "river", "violet", "copper", "falcon", "maple", "orbit", "quartz"}


def test_generated_texts_use_the_documented_vocabulary_and_seed_zero_by_default():
    assert lc.multikey_niah(4, 20) == lc.multikey_niah(4, 20, seed=0) != lc.multikey_niah(4, 20, seed=1)
    asks = ["poem", "poem", "joke"] * 3
    assert lc.mrcr_conversation(asks) == lc.mrcr_conversation(asks, seed=0) != lc.mrcr_conversation(asks, seed=1)
    ctx, _, _ = lc.multikey_niah(8, 5, seed=2)
    lines = ctx.splitlines()
    assert {line.split("for ")[1].split(" is ")[0] for line in lines if "magic number" in line} == KEYS
    assert [line for line in lines if "magic number" not in line] == ["The grass is green and the sky is blue."] * 5
    used = [w for _, r in lc.mrcr_conversation(asks * 3, seed=4) for w in r.split("] ")[1].split(" ")]
    assert set(used) == WORDS and len(used) == 6 * 27


def test_needle_positions_and_values_are_uniform():
    # one key, one filler line: the needle goes before or after it with probability 1/2 each
    end = sum(lc.multikey_niah(1, 1, seed=s)[0].splitlines()[-1].startswith("The special") for s in range(400))
    assert 160 < end < 240                                   # 200 +- 4 standard deviations
    values = [int(lc.multikey_niah(2, 0, seed=s)[2]) for s in range(200)]
    assert min(values) < 1_500_000 and max(values) > 9_500_000    # spread over [10^6, 10^7)
