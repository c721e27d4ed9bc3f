"""Tests for snippets/agents/agent_design.py against langchain-core's trim_messages."""
import random

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage, trim_messages

from snippets import load

mem = load("agents/agent_design")

TO_LC = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def to_lc(messages):
    out = []
    for i, (role, content) in enumerate(messages):
        if role == "tool":
            out.append(ToolMessage(content=content, tool_call_id=f"call_{i}"))
        else:
            out.append(TO_LC[role](content=content))
    return out


def lc_word_count(messages):
    return sum(len(m.content.split()) for m in messages)


def test_hand_example():
    chat = [("system", "be brief"), ("user", "a b c"), ("assistant", "d e"), ("user", "f")]
    # Budget 6: system (2) + "f" (1) + "d e" (2) = 5; "a b c" (3) would make 8.
    # The window would start with the assistant turn, so it is dropped too.
    assert mem.trim_history(chat, 6) == [("system", "be brief"), ("user", "f")]
    assert mem.trim_history(chat, 8) == chat


def test_matches_langchain_trim_messages_on_random_chats():
    rng = random.Random(0)
    words = "alpha beta gamma delta epsilon zeta".split()
    for trial in range(200):
        chat = [("system", " ".join(rng.choices(words, k=rng.randint(1, 4))))] if rng.random() < 0.7 else []
        for _ in range(rng.randint(1, 9)):
            role = rng.choice(["user", "assistant", "user", "tool"])
            chat.append((role, " ".join(rng.choices(words, k=rng.randint(1, 6)))))
        budget = rng.randint(1, 30)
        ref = trim_messages(to_lc(chat), max_tokens=budget, token_counter=lc_word_count,
                            strategy="last", include_system=True, start_on="human",
                            allow_partial=False)
        ours = mem.trim_history(chat, budget)
        assert [(m.type, m.content) for m in ref] == [
            ({"user": "human", "assistant": "ai"}.get(r, r), c) for r, c in ours], (chat, budget)


def test_loop_input_tokens_closed_form_matches_brute_force():
    for calls, base, per_call in [(1, 500, 100), (7, 3_000, 1_234), (90, 3_000, 3_000)]:
        context, total = base, 0
        for _ in range(calls):
            total += context            # the whole context is re-sent on every call
            context += per_call         # then the tool result is appended
        assert mem.loop_input_tokens(calls, base, per_call) == total


def test_loop_input_tokens_is_an_exact_integer_for_long_loops():
    # n * base + per_call * C(n, 2), with math.comb as the oracle; the total is past 2**53, where
    # a float (true division) can no longer hold every integer and the count would be off
    import math
    n, per_call = 10**8, 1_001
    got = mem.loop_input_tokens(n, 1, per_call)
    assert isinstance(got, int) and got == n + per_call * math.comb(n, 2)


def test_fanout_hand_numbers():
    single = mem.fanout(90, 1, 3_000, 3_000, 2_000, step_s=7.0, lead_s=10.0)
    # 90 * 3000 + 3000 * 90 * 89 / 2 = 270,000 + 12,015,000
    assert single == {"input_tokens": 12_285_000, "peak_context": 270_000, "wall_s": 630.0}
    multi = mem.fanout(90, 5, 3_000, 3_000, 2_000, step_s=7.0, lead_s=10.0)
    # each worker: 18 calls -> 54,000 + 459,000 = 513,000; x 5 + lead 3,000 + 5 * 2,000
    assert multi == {"input_tokens": 2_578_000, "peak_context": 54_000, "wall_s": 146.0}
    # uneven split: 10 calls over 3 workers -> the slowest worker makes 4 calls
    assert mem.fanout(10, 3, 100, 10, 50, step_s=1.0, lead_s=2.0)["wall_s"] == 2 + 4 + 2
    # many workers with long summaries: the lead's synthesis call is the largest context
    wide = mem.fanout(10, 10, 100, 10, 500, step_s=1.0, lead_s=2.0)
    # each worker: 1 call of 100 tokens; lead reads 100 + 10 x 500 = 5,100
    assert wide == {"input_tokens": 10 * 100 + 5_100, "peak_context": 5_100, "wall_s": 2 + 1 + 2}


def test_memory_scores_by_hand():
    import pytest
    # recency 0.995**[1, 200, 30] = [0.995, 0.3670, 0.8604] -> normalised [1, 0, 0.7857]
    # importance [3, 9, 5] -> [0, 1, 1/3]; relevance [0.82, 0.40, 0.75] -> [1, 0, 0.8333]
    scores = mem.score_memories([1, 200, 30], [3, 9, 5], [0.82, 0.40, 0.75])
    r2 = (0.995 ** 30 - 0.995 ** 200) / (0.995 - 0.995 ** 200)
    assert scores == pytest.approx([2.0, 1.0, r2 + 1 / 3 + 0.35 / 0.42])
    # relevance-only weighting ranks purely by similarity
    only_rel = mem.score_memories([1, 200, 30], [3, 9, 5], [0.82, 0.40, 0.75], weights=(0, 0, 1))
    assert sorted(range(3), key=lambda i: -only_rel[i]) == [0, 2, 1]
    # distinct weights: each one must scale its own component (recency, importance, relevance)
    weighted = mem.score_memories([1, 200, 30], [3, 9, 5], [0.82, 0.40, 0.75], weights=(2, 3, 5))
    assert weighted == pytest.approx([2 + 5, 3, 2 * r2 + 3 / 3 + 5 * 0.35 / 0.42])
    # all equal -> no signal, all zero
    assert mem.score_memories([5, 5], [2, 2], [0.3, 0.3]) == [0.0, 0.0]


def test_word_count_counts_whitespace_words_of_the_content():
    assert mem.word_count(("user", "hello  there\tgeneral\nkenobi")) == 4
    assert mem.word_count(("assistant", "")) == 0
