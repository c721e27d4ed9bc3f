"""Tests for snippets/rag/pipeline.py: the prompt is checked against hand-written text and
against langchain-core's ChatPromptTemplate filled with the same sources."""
from langchain_core.prompts import ChatPromptTemplate

from snippets import load

pl = load("rag/pipeline")


def test_order_dedup_and_numbering_by_hand():
    hits = [pl.Chunk("B text", "b.md", 0.2), pl.Chunk("A text", "a.md", 0.9),
            pl.Chunk("A text", "a-copy.md", 0.5)]
    msgs = pl.build_rag_messages("Q?", hits)
    assert msgs[1]["content"] == "Sources:\n[1] (a.md) A text\n[2] (b.md) B text\n\nQuestion: Q?"
    assert "I don't know" in msgs[0]["content"]


def test_budget_is_respected():
    hits = [pl.Chunk(chr(97 + i) * 50, f"{i}.md", 1.0 - i / 10) for i in range(10)]
    msgs = pl.build_rag_messages("Q?", hits, max_context_chars=200)
    body = msgs[1]["content"].split("\n\nQuestion:")[0].removeprefix("Sources:\n")
    blocks = body.split("\n")
    # Each block is "[n] (i.md) " (11 chars) + 50 = 61 chars: three fit in 200, four do not.
    assert len(blocks) == 3
    assert sum(len(b) for b in blocks) <= 200


def test_matches_langchain_chat_prompt_template():
    hits = [pl.Chunk("Passwords expire every 90 days.", "it.md", 0.8)]
    template = ChatPromptTemplate.from_messages([
        ("system", pl.SYSTEM),
        ("human", "Sources:\n{context}\n\nQuestion: {question}"),
    ])
    ref = template.invoke({"context": "[1] (it.md) Passwords expire every 90 days.",
                           "question": "When do passwords expire?"}).to_messages()
    ours = pl.build_rag_messages("When do passwords expire?", hits)
    assert [(m.type, m.content) for m in ref] == [("system", ours[0]["content"]),
                                                  ("human", ours[1]["content"])]


def test_no_sources():
    msgs = pl.build_rag_messages("Q?", [])
    assert "(no sources found)" in msgs[1]["content"]


def test_long_context_vs_rag_costs_by_hand():
    import pytest
    # RAG: 2,500 input + 5 x 300 output = 4,000 units ($0.012 at $3 / M)
    assert pl.rag_query_units(2_500, 300) == 4_000
    # no caching at all: the 150k document is plain input on every query
    assert pl.rag_query_units(150_500, 300) == 152_000
    # warm cache: 0.1 x 150,000 + 500 + 1,500 = 17,000 units, 4.25x RAG
    assert pl.long_context_query_units(150_000, 500, 300) == pytest.approx(17_000)
    # cache rewritten every 10 queries: + 1.25 x 150,000 / 10 = 18,750
    assert pl.long_context_query_units(150_000, 500, 300, 10) == pytest.approx(35_750)
    # written but never reused: worse than not caching (1.25 x 150,000 + 2,000)
    assert pl.long_context_query_units(150_000, 500, 300, 1) == pytest.approx(189_500)


def test_break_even_is_where_the_two_costs_meet():
    import pytest
    d = pl.break_even_doc_tokens(2_500, 500)
    assert d == pytest.approx(20_000)
    assert pl.long_context_query_units(d, 500, 300) == pytest.approx(pl.rag_query_units(2_500, 300))
    assert pl.long_context_query_units(d * 2, 500, 300) > pl.rag_query_units(2_500, 300)


def test_prefix_kv_bytes_hand_number():
    # Llama-3-8B: 32 layers, 8 KV heads, head_dim 128, bf16 -> 131,072 B per token
    assert pl.prefix_kv_bytes(1, 32, 8, 128) == 131_072
    assert pl.prefix_kv_bytes(150_000, 32, 8, 128) == 19_660_800_000
    # Llama-3-70B: 80 layers -> 327,680 B per token, 49.2 GB for 150k tokens
    assert pl.prefix_kv_bytes(150_000, 80, 8, 128) == 49_152_000_000


def test_budget_boundary_and_packing_stops_at_the_first_chunk_that_does_not_fit():
    hits = [pl.Chunk(chr(97 + i) * 50, f"{i}.md", 1.0 - i / 10) for i in range(4)]
    # blocks are 61 chars each: a budget of exactly 3 x 61 = 183 holds three, 182 only two
    count = lambda budget: pl.build_rag_messages("Q?", hits, budget)[1]["content"].count(".md)")
    assert count(183) == 3 and count(182) == 2 and count(60) == 0
    body = pl.build_rag_messages("Q?", hits, 183)[1]["content"]
    assert body == "Sources:\n" + "\n".join(f"[{i + 1}] ({i}.md) " + chr(97 + i) * 50 for i in range(3)) + \
        "\n\nQuestion: Q?"
    assert "(no sources found)" in pl.build_rag_messages("Q?", hits, 60)[1]["content"]
    # best-first packing stops: a smaller, lower-scored chunk after an oversized one is not used
    mixed = [pl.Chunk("x" * 40, "a.md", 0.9), pl.Chunk("y" * 500, "b.md", 0.8), pl.Chunk("z", "c.md", 0.7)]
    user = pl.build_rag_messages("Q?", mixed, 200)[1]["content"]
    assert user == "Sources:\n[1] (a.md) " + "x" * 40 + "\n\nQuestion: Q?"
    # a duplicate does not take a number: the next distinct chunk is [2]
    dup = [pl.Chunk("same", "a.md", 0.9), pl.Chunk("same", "b.md", 0.8), pl.Chunk("other", "c.md", 0.1)]
    assert pl.build_rag_messages("Q?", dup)[1]["content"] == \
        "Sources:\n[1] (a.md) same\n[2] (c.md) other\n\nQuestion: Q?"
