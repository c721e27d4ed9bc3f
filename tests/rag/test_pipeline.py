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
