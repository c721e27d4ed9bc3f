"""The generation side of RAG: pack retrieved chunks into a grounded prompt with numbered sources.

Pages: docs/rag/pipeline.{zh,en}.md
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chunk:
    """A retrieved passage: its text, where it came from, and the retriever's score."""
    text: str
    source: str
    score: float


# --8<-- [start:prompt]
SYSTEM = ("Answer the question using only the numbered sources below. "
          "Cite sources like [1]. If the sources do not contain the answer, "
          "say \"I don't know\" instead of guessing.")


def build_rag_messages(question: str, chunks: list[Chunk],
                       max_context_chars: int = 2000) -> list[dict[str, str]]:
    """Chat messages for a grounded answer.

    Chunks are taken best-first, exact duplicates are dropped, and packing stops before the
    context budget (characters here; tokens in a real system) would be exceeded.
    """
    seen: set[str] = set()
    blocks: list[str] = []
    used = 0
    for c in sorted(chunks, key=lambda c: -c.score):
        if c.text in seen:
            continue
        block = f"[{len(blocks) + 1}] ({c.source}) {c.text}"
        if used + len(block) > max_context_chars:
            break
        seen.add(c.text)
        blocks.append(block)
        used += len(block)
    context = "\n".join(blocks) if blocks else "(no sources found)"
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Sources:\n{context}\n\nQuestion: {question}"}]
# --8<-- [end:prompt]


if __name__ == "__main__":
    hits = [Chunk("Passwords expire every 90 days.", "it-faq.md", 0.82),
            Chunk("Annual leave is approved by your manager.", "hr.md", 0.31),
            Chunk("Passwords expire every 90 days.", "it-faq-copy.md", 0.80)]
    for m in build_rag_messages("How often do passwords expire?", hits):
        print(f"--- {m['role']}\n{m['content']}")
