"""Tests for snippets/agents/context_engineering.py: a brute-force chained-hash prefix cache,
hand-summed agent-loop costs, a hand-checked compaction budget, and pagination invariants."""
import hashlib
import random

import pytest

from snippets import load

ce = load("agents/context_engineering")


def brute_force_hit(cached, prompt, block_size):
    """Independent oracle: build vLLM-style chained block hashes for the cached sequence (full
    blocks only), then walk the prompt's blocks from the start while the hash is in the cache,
    never letting the hit reach the last prompt token."""
    def chained(tokens):
        out, parent = [], b""
        for i in range(len(tokens) // block_size):
            block = tokens[i * block_size:(i + 1) * block_size]
            parent = hashlib.sha256(parent + repr(block).encode()).digest()
            out.append(parent)
        return out
    cache = set(chained(cached))
    hit = 0
    for h in chained(prompt):
        if h not in cache or hit + block_size > len(prompt) - 1:
            break
        hit += block_size
    return hit


def test_prefix_hit_hand_cases():
    base = list(range(40))
    assert ce.prefix_cache_hit_tokens(base, base + [99, 98], 16) == 32          # 2 full blocks
    assert ce.prefix_cache_hit_tokens(base, base[:33], 16) == 32                # 33 tokens: 32 reusable
    assert ce.prefix_cache_hit_tokens(base, base[:32], 16) == 16                # last token recomputed
    assert ce.prefix_cache_hit_tokens(base, [-1] + base[1:], 16) == 0           # first token differs
    assert ce.prefix_cache_hit_tokens(base, base[:20] + [7] * 30, 16) == 16     # diverges inside block 2
    assert ce.prefix_cache_hit_tokens(base, base[:1], 1) == 0                    # the only token is the last
    assert ce.prefix_cache_hit_tokens(base, base[:2], 1) == 1
    assert ce.prefix_cache_hit_tokens(base, [], 1) == 0


def test_prefix_hit_matches_brute_force():
    rng = random.Random(0)
    for _ in range(500):
        B = rng.choice([1, 2, 4, 16])
        shared = [rng.randrange(5) for _ in range(rng.randrange(0, 80))]
        a = shared + [rng.randrange(5) for _ in range(rng.randrange(0, 40))]
        b = shared + [rng.randrange(5) for _ in range(rng.randrange(0, 40))]
        assert ce.prefix_cache_hit_tokens(a, b, B) == brute_force_hit(a, b, B), (a, b, B)


def test_agent_loop_cost_hand_sums():
    M = 1e-6  # Claude Sonnet 5.5 list prices as of Dec 2026, USD per MTok
    kw = dict(n_steps=50, first_prompt=10_000, growth=2_000, output_per_step=200, price_in=2 * M,
              price_out=10 * M, price_cache_write=2.50 * M, price_cache_read=0.10 * M)
    # sum_t L_t = 50*10,000 + 2,000*(0+1+...+49) = 500,000 + 2,450,000 = 2,950,000 tokens
    output = 50 * 200 * 10 * M                                                   # $0.10
    # no cache: 2,950,000 * $2/M = $5.90, + $0.10 = $6.00
    assert ce.agent_loop_cost(caching=False, **kw) == pytest.approx(2_950_000 * 2 * M + output)
    assert 2_950_000 * 2 * M + output == pytest.approx(6.00)
    # writes: 10,000 + 49*2,000 = 108,000; reads: sum_{t=1..49} L_t = 490,000 + 2,000*1,176 = 2,842,000
    # 108,000 * $2.50/M = $0.270; 2,842,000 * $0.10/M = $0.2842; + $0.10 output = $0.6542
    cached = 108_000 * 2.50 * M + 2_842_000 * 0.10 * M + output
    assert ce.agent_loop_cost(caching=True, **kw) == pytest.approx(cached)
    assert cached == pytest.approx(0.6542)
    # a prefix that changes every step: everything is a cache write, dearer than no cache at all
    # 2,950,000 * $2.50/M = $7.375, + $0.10 = $7.475
    assert ce.agent_loop_cost(caching=True, prefix_stable=False, **kw) == pytest.approx(
        2_950_000 * 2.50 * M + output)
    assert 2_950_000 * 2.50 * M + output == pytest.approx(7.475)


def test_compaction_hand_budget():
    chat = [("system", "s1 s2 s3"),                                  # 3
            ("user", "u1 u1 u1 u1"), ("assistant", "a1 a1 a1"),      # turn 1: 7
            ("tool", "t " * 20),                                     # 20 (still turn 1)
            ("user", "u2 u2"), ("assistant", "a2 a2 a2"),            # turn 2: 5
            ("user", "u3"), ("assistant", "a3 a3")]                  # turn 3: 3
    seen = []

    def summarize(old):
        seen.append(old)
        return "ok"                                                  # summary message: 5 words
    assert ce.compact(chat, budget=100, keep_turns=2, summarize=summarize) == chat   # 38 <= 100
    assert ce.compact(chat, budget=38, keep_turns=2, summarize=summarize) == chat    # exactly fits
    assert seen == []                                                # nothing was summarised
    out = ce.compact(chat, budget=20, keep_turns=2, summarize=summarize)
    # system 3 + summary 5 + turn 2 (5) + turn 3 (3) = 16 <= 20
    assert out == [chat[0], ("user", "[summary of earlier work] ok")] + chat[4:]
    assert seen[-1] == chat[1:4]                                     # exactly the dropped turn
    out = ce.compact(chat, budget=12, keep_turns=2, summarize=summarize)
    # keeping 2 turns gives 16 > 12, so keep 1: 3 + 5 + 3 = 11
    assert out == [chat[0], ("user", "[summary of earlier work] ok")] + chat[6:]
    with pytest.raises(ValueError, match=r"^even system \+ summary \+ the last turn exceed the budget$"):
        ce.compact(chat, budget=5, keep_turns=2, summarize=summarize)
    # keep_turns larger than the number of turns: keeping them all drops nothing, so there is
    # nothing to summarise (the summariser is a model call) and the first fitting cut is 2 turns
    seen.clear()
    out = ce.compact(chat, budget=20, keep_turns=5, summarize=summarize)
    assert out == [chat[0], ("user", "[summary of earlier work] ok")] + chat[4:]
    assert seen and all(seen)


def test_compaction_without_a_system_message():
    chat = [("user", "u1 " * 8), ("assistant", "a1"),                   # turn 1: 9
            ("user", "u2"), ("assistant", "a2 a2")]                      # turn 2: 3 (total 12)
    out = ce.compact(chat, budget=10, keep_turns=1, summarize=lambda old: "ok")
    # no system message to keep: summary 5 + turn 2 (3) = 8 <= 10
    assert out == [("user", "[summary of earlier work] ok")] + chat[2:]
    assert ce.compact([], budget=0, keep_turns=1, summarize=lambda old: "ok") == []


def test_compaction_never_orphans_a_tool_result():
    # The last turn ends with a tool call and its (long) result. Keeping one turn must keep the
    # user message that opened it, so the tool result stays next to the call that produced it.
    chat = [("system", "s"),
            ("user", "u1 " * 8), ("assistant", "a1"),                 # turn 1: 9 (total 19 > 15)
            ("user", "u2"), ("assistant", "call grep"), ("tool", "r " * 6)]
    out = ce.compact(chat, budget=15, keep_turns=1, summarize=lambda old: "ok")
    # system 1 + summary 5 + turn 2 (1 + 2 + 6 = 9) = 15
    assert out == [chat[0], ("user", "[summary of earlier work] ok")] + chat[3:]


def test_compaction_invariants_random():
    rng = random.Random(1)
    for _ in range(200):
        chat = [("system", "x " * rng.randrange(1, 5))]
        for _ in range(rng.randrange(1, 6)):
            chat.append(("user", "u " * rng.randrange(1, 6)))
            for _ in range(rng.randrange(0, 3)):
                chat.append((rng.choice(["assistant", "tool"]), "w " * rng.randrange(1, 30)))
        budget = rng.randrange(10, 80)
        try:
            out = ce.compact(chat, budget, keep_turns=3, summarize=lambda old: "s")
        except ValueError:
            continue
        assert sum(ce.words(m) for m in out) <= budget
        assert out[0] == chat[0] and out[-1] == chat[-1]
        assert all(m in chat or m[1].startswith("[summary") for m in out)
        if out != chat:
            # after system + summary, the verbatim part is a suffix of the chat that opens at a
            # user message (whole turns only)
            rest = out[2:] if out[1][1].startswith("[summary") else out[1:]
            assert rest and rest[0][0] == "user" and chat[len(chat) - len(rest):] == rest


def test_paginate_round_trip_and_footer():
    toks = [f"t{i}" for i in range(10)]
    pages = [ce.paginate(toks, 4, p) for p in (1, 2, 3)]
    assert sum((c for c, _ in pages), []) == toks
    assert pages[0][1] == "[page 1/3; 10 tokens in total; call again with page=2 for more]"
    assert pages[2] == (["t8", "t9"], "[page 3/3; 10 tokens in total]")
    for bad in (0, 4, -1):                                  # pages are numbered 1..3
        with pytest.raises(ValueError, match=r"1\.\.3"):
            ce.paginate(toks, 4, bad)
    # exactly full pages: no empty last page, and the last page has no "call again" hint
    assert ce.paginate(toks[:8], 4, 2) == (["t4", "t5", "t6", "t7"], "[page 2/2; 8 tokens in total]")
    # an empty result is one empty page, not an error
    assert ce.paginate([], 4, 1) == ([], "[page 1/1; 0 tokens in total]")
