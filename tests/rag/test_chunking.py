"""Tests for snippets/rag/chunking.py: boundaries, overlap and coverage, checked by hand."""
import random

import pytest

from checks import fail_after
from snippets import load

ch = load("rag/chunking")


@pytest.fixture(autouse=True)
def no_endless_loop():
    """fixed_size_chunks advances its start by hand; a wrong step never returns (and fills memory).
    A 3 s alarm (the whole file runs in well under 1 s) turns such a hang into a failure naming the test."""
    with fail_after(3, "rag/chunking"):
        yield


def test_fixed_size_hand_example():
    # 10 chars, size 4, overlap 1 -> step 3 -> windows [0:4], [3:7], [6:10].
    assert ch.fixed_size_chunks("abcdefghij", 4, 1) == [(0, "abcd"), (3, "defg"), (6, "ghij")]
    # No overlap: plain partition, last window shorter.
    assert ch.fixed_size_chunks("abcdefghij", 4, 0) == [(0, "abcd"), (4, "efgh"), (8, "ij")]


@pytest.mark.parametrize("size,overlap", [(7, 0), (7, 3), (16, 15), (50, 10)])
def test_fixed_size_overlap_and_coverage(size, overlap):
    rng = random.Random(size * 100 + overlap)
    text = "".join(rng.choice("abc 。\n") for _ in range(123))
    chunks = ch.fixed_size_chunks(text, size, overlap)
    for start, chunk in chunks:
        assert chunk == text[start:start + size] and 0 < len(chunk) <= size
    # Consecutive windows share exactly `overlap` characters.
    for (s0, c0), (s1, c1) in zip(chunks, chunks[1:]):
        assert s1 - s0 == size - overlap
        if overlap:
            assert c0[-overlap:] == c1[:overlap]
    # Coverage: every character is in some window and the last window reaches the end.
    covered = set()
    for start, chunk in chunks:
        covered.update(range(start, start + len(chunk)))
    assert covered == set(range(len(text)))
    assert chunks[-1][0] + len(chunks[-1][1]) == len(text)


def test_fixed_size_rejects_bad_overlap():
    with pytest.raises(ValueError, match=r"^need size > 0 and 0 <= overlap < size$"):
        ch.fixed_size_chunks("abc", 4, 4)
    with pytest.raises(ValueError, match=r"^need size > 0 and 0 <= overlap < size$"):
        ch.fixed_size_chunks("abc", 4, -1)                  # negative overlap would leave gaps
    with pytest.raises(ValueError, match=r"^need size > 0 and 0 <= overlap < size$"):
        ch.fixed_size_chunks("abc", 0, 0)
    assert ch.fixed_size_chunks("abc", 1) == [(0, "a"), (1, "b"), (2, "c")]   # the smallest legal size


def test_fixed_size_stops_when_the_text_is_covered():
    # the last window ends exactly at the end: no further (shorter or empty) window
    assert ch.fixed_size_chunks("abcdefgh", 4) == [(0, "abcd"), (4, "efgh")]
    assert ch.fixed_size_chunks("abcdefg", 4, 1) == [(0, "abcd"), (3, "defg")]
    assert ch.fixed_size_chunks("abc", 4, 2) == [(0, "abc")]


def test_recursive_split_fills_a_chunk_to_exactly_size():
    # greedy merge: "ab. " + "cd. " is 8 chars and fits size 8; "ef" goes to the next chunk
    assert ch.recursive_split("ab. cd. ef", size=8, separators=(". ", "")) == ["ab. cd. ", "ef"]
    # every chunk but the last is as full as the next atom allows (random text, coarse separators)
    rng = random.Random(3)
    for _ in range(30):
        words = ["x" * rng.randint(1, 6) + " " for _ in range(rng.randint(5, 40))]
        size = rng.randint(7, 20)
        chunks = ch.recursive_split("".join(words), size, separators=(" ", ""))
        for c, nxt in zip(chunks, chunks[1:]):
            first_word = nxt[:nxt.index(" ") + 1]
            assert len(c) + len(first_word) > size


def test_recursive_split_hard_cut_without_an_empty_separator():
    # no separator occurs and "" is not in the list: still cut by characters, never longer than size
    assert ch.recursive_split("abcdefgh", 3, separators=("\n\n",)) == ["abc", "def", "gh"]
    assert ch._atoms("abcdefgh", 3, ("\n\n", "。")) == ["abc", "def", "gh"]
    assert ch._atoms("abc def", 7, (" ", "")) == ["abc def"]             # exactly size: one atom, not split


def test_recursive_split_respects_sentences_and_size():
    sentences = ["第一句话比较短。", "第二句话稍微长一点点。", "第三句。", "Fourth is here. ",
                 "第五句结束了。"]
    text = "".join(sentences)
    chunks = ch.recursive_split(text, size=20)
    assert "".join(chunks) == text                      # coverage, no overlap, nothing lost
    assert all(len(c) <= 20 for c in chunks)
    # Every sentence is shorter than 20 chars, so no sentence may be cut in the middle:
    # each chunk is a concatenation of whole sentences.
    for c in chunks:
        rest = c
        while rest:
            head = next(s for s in sentences if rest.startswith(s))
            rest = rest[len(head):]


def test_recursive_split_prefers_paragraphs():
    a, b = "x" * 8 + "\n\n", "y" * 8
    assert ch.recursive_split(a + b, size=12) == [a, b]     # 10 + 8 > 12: split at the paragraph


def test_recursive_split_hard_cut_for_long_words():
    word = "z" * 25
    chunks = ch.recursive_split(word, size=10)
    assert chunks == ["z" * 10, "z" * 10, "z" * 5]


def test_recursive_split_random_text_invariants():
    rng = random.Random(0)
    alphabet = list("abcde") + [" ", "。", "，", "\n", "\n\n", ". "]
    for trial in range(50):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 300)))
        size = rng.randint(3, 40)
        chunks = ch.recursive_split(text, size)
        assert "".join(chunks) == text
        assert all(0 < len(c) <= size for c in chunks)


@pytest.mark.parametrize("size,overlap,span", [(40, 0, 9), (40, 5, 9), (40, 8, 9), (40, 12, 9),
                                               (25, 3, 25), (25, 0, 26), (32, 10, 1)])
def test_span_intact_rate_matches_brute_force_over_fixed_chunks(size, overlap, span):
    text = "x" * 3000
    chunks = [(s, s + len(c)) for s, c in ch.fixed_size_chunks(text, size, overlap)]
    stride = size - overlap
    positions = range(0, stride * (2000 // stride))  # whole periods, far from the end
    intact = sum(any(a <= p and p + span <= b for a, b in chunks) for p in positions)
    assert intact / len(positions) == pytest.approx(ch.span_intact_rate(size, overlap, span))


def test_size_rule_and_overlap_cost_by_hand():
    assert ch.max_chunk_tokens(4000, 8, 512) == 500                  # budget binds: 4000 // 8
    assert ch.max_chunk_tokens(4000, 4, 512, header_tokens=20) == 492  # embedder binds
    assert ch.max_chunk_tokens(4000, 4, 512) == 512                  # no header by default
    n = ch.max_chunk_tokens(4000, 3, 4096)                          # 3 x 1333 <= 4000 < 3 x 1334
    assert n == 1333 and isinstance(n, int)
    assert ch.span_intact_rate(512, 0, 60) == pytest.approx(453 / 512)  # 0.885
    assert ch.span_intact_rate(512, 64, 60) == 1.0                   # overlap >= span - 1
    assert ch.index_growth(512, 64) == pytest.approx(512 / 448)      # 14% more vectors


def test_duplicate_hit_rate_by_hand():
    # size 500, stride 400: a@0 and a@400 overlap; a@1200 does not; b@0 is another document
    hits = [("a", 0), ("a", 400), ("b", 0), ("a", 1200), ("b", 400)]
    assert ch.duplicate_hit_rate(hits, 500) == pytest.approx(2 / 5)
    assert ch.duplicate_hit_rate([("a", 0), ("a", 500)], 500) == 0.0  # touching, not overlapping
    assert ch.duplicate_hit_rate([("a", 0), ("b", 100)], 500) == 0.0  # same offsets, other document
    assert ch.duplicate_hit_rate([("a", 1200), ("a", 1000)], 500) == 0.5   # later hit starts earlier


def test_strategy_cost_by_hand():
    assert ch.index_gb(1e6, 1024) == pytest.approx(4.096, rel=1e-12)            # 1M x 1024 x 4 B
    assert ch.index_gb(257e6 / 41e6 * 1e6, 1024) == pytest.approx(25.67, abs=0.01)  # Dense X ratio
    # 400-token chunk ~ 300 words = 3 Dense X 100-word passages: 1M x 3 x 257/41 = 18.80M vectors
    props = 1e6 * 3 * 257 / 41
    assert props == pytest.approx(18.80e6, rel=1e-3)
    assert ch.index_gb(props, 1024) == pytest.approx(77.02, abs=0.01)    # 18.80M x 1024 x 4 B
    # 1M calls at Claude Sonnet 5.5 (Dec 2026): (500 + 400) in at $2/M = $1,800; 400 out at $10/M = $4,000
    assert ch.llm_chunking_usd(1e6, 400, 500, 400, 2, 10) == pytest.approx(5800, rel=1e-12)


@pytest.mark.parametrize("chunk,expected", [
    ("It also supports batching of requests.", {"orphan_pronoun"}),
    ("这种方法需要先训练。", {"orphan_pronoun"}),                       # "this method": referent is elsewhere
    ("上述方法需要 GPU。", {"orphan_pronoun"}),
    ("Iterative methods converge slowly.", set()),                       # 'It' inside a word
    ("| year | share |\n|---|---|\n| 2024 | 12% |", set()),              # whole table
    ("| 2025 | 15% |\n| 2026 | 18% |", {"split_table"}),                 # rows without header
    ("This table:\n| 2025 | 15% |", {"orphan_pronoun", "split_table"}),
])
def test_chunk_smells_by_hand(chunk, expected):
    assert ch.chunk_smells(chunk) == expected


# --- issue 22: contextual-retrieval indexing cost and the parent budget ---

HAIKU3 = dict(usd_in=0.25, usd_write=0.30, usd_read=0.03, usd_out=1.25)   # Claude 3 Haiku, $/M
HAIKU45 = dict(usd_in=1.0, usd_write=1.25, usd_read=0.10, usd_out=5.0)    # Claude Haiku 4.5, $/M
# Claude Haiku 5.5 as of December 2026, prompts up to 100k tokens: in, 5-min write, read, out
HAIKU55 = dict(usd_in=0.10, usd_write=0.125, usd_read=0.01, usd_out=0.50)


def test_contextual_retrieval_reproduces_anthropics_published_cost():
    # Anthropic (2024): 800-token chunks, 8k-token documents, 50-token instructions, 100 tokens
    # of context per chunk -> "$1.02 per million document tokens" with prompt caching.
    assert ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU3) == pytest.approx(1.02, abs=0.005)


def test_contextual_retrieval_cost_by_hand():
    # per 8k document, cached: write 8,000 x 0.30 + 10 reads x 8,000 x 0.03
    # + 10 calls x (850 x 0.25 + 100 x 1.25) = 2,400 + 2,400 + 3,375 = 8,175 (x 1e-6 $)
    # -> x 125 documents per million tokens = $1.021875
    assert ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU3) == pytest.approx(1.021875, rel=1e-12)
    # uncached: 10 x 8,000 x 0.25 = 20,000 instead of 4,800 -> 23,375 x 125 / 1e6
    assert ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU3, cached=False) == pytest.approx(2.921875)
    # Claude Haiku 4.5: 10,000 + 8,000 + 10 x (850 + 500) = 31,500 -> $3.9375
    assert ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU45) == pytest.approx(3.9375)
    # Claude Haiku 5.5: 8,000 x 0.125 + 10 x 8,000 x 0.01 + 10 x (850 x 0.10 + 100 x 0.50)
    # = 1,000 + 800 + 1,350 = 3,150 per document -> x 125 / 1e6 = $0.39375
    assert ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU55) == pytest.approx(0.39375)
    # uncached: 10 x 8,000 x 0.10 + 1,350 = 9,350 -> $1.16875; 1M x 800-token chunks: $315 / $935
    assert ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU55, cached=False) == pytest.approx(1.16875)
    assert 800 * ch.contextual_retrieval_usd(8_000, 800, 50, 100, **HAIKU55) == pytest.approx(315)
    # with 9 reads (the first call writes): 2,400 + 2,160 + 3,375 = 7,935 x 125 / 1e6 = $0.99
    assert (8_000 * 0.30 + 9 * 8_000 * 0.03 + 10 * (850 * 0.25 + 100 * 1.25)) * 125 / 1e6 == pytest.approx(0.991875)


def test_parents_in_budget_dedups_and_respects_budget():
    parent_of = {"a1": "A", "a2": "A", "b1": "B", "c1": "C", "d1": "D"}
    size = {"A": 2_000, "B": 3_000, "C": 4_000, "D": 1_000}
    kept, dup = ch.parents_in_budget(["a1", "a2", "b1", "c1", "d1"], parent_of, size, 6_000)
    # A (2,000) + B (3,000) = 5,000; C would make 9,000 -> skipped; D fits -> 6,000
    assert kept == ["A", "B", "D"] and dup == 1
    assert sum(size[p] for p in kept) <= 6_000
    kept, dup = ch.parents_in_budget(["c1"], parent_of, size, 3_000)
    assert kept == [] and dup == 0                         # one parent bigger than the budget


def test_parents_in_budget_random_invariants():
    rng = random.Random(7)
    for _ in range(200):
        parent_of = {f"c{i}": f"p{rng.randrange(6)}" for i in range(15)}
        size = {f"p{j}": rng.randrange(200, 3_000) for j in range(6)}
        hits = rng.sample(sorted(parent_of), 10)
        budget = rng.randrange(1_000, 9_000)
        kept, dup = ch.parents_in_budget(hits, parent_of, size, budget)
        assert len(set(kept)) == len(kept)
        assert sum(size[p] for p in kept) <= budget
        # every hit's parent is either kept, or skipped because it did not fit
        assert dup == sum(1 for i, h in enumerate(hits)
                          if parent_of[h] in kept and parent_of[h] in [parent_of[x] for x in hits[:i]])


def test_split_keep_and_atoms_by_hand():
    assert ch._split_keep("a. b. c", ". ") == ["a. ", "b. ", "c"]
    assert ch._split_keep("a\n\n", "\n\n") == ["a\n\n"]                    # no empty tail piece
    text = "para one is long.\n\npara two. has two sentences."
    atoms = ch._atoms(text, 20, ("\n\n", ". ", " ", ""))
    assert "".join(atoms) == text and all(len(a) <= 20 for a in atoms)
    assert atoms == ["para one is long.\n\n", "para two. ", "has two sentences."]
    assert ch._atoms("abcdefgh", 3, ("\n\n", "")) == ["abc", "def", "gh"]     # last resort: hard cut
