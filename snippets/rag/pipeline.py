"""The generation side of RAG: pack retrieved chunks into a grounded prompt with numbered sources;
and the cost of answering from a long (cached) context instead of retrieving.

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


# --8<-- [start:lc_vs_rag]
# Prices in units of one uncached input token (1 unit). Anthropic's ratios (others differ):
# a cache write costs 1.25 units per token (5-minute TTL), a cache read 0.1, an output token 5.
def rag_query_units(prompt_tokens: int, output_tokens: int, out: float = 5.0) -> float:
    """One RAG call: the retrieved prompt is new every time, so nothing is cached."""
    return prompt_tokens + out * output_tokens


def long_context_query_units(doc_tokens: int, question_tokens: int, output_tokens: int,
                             queries_per_write: float = float("inf"), write: float = 1.25,
                             read: float = 0.1, out: float = 5.0) -> float:
    """One question over a whole document kept as a cached prefix. Every `queries_per_write`
    queries the cache has expired and the document is written again (amortised here);
    queries_per_write = 1 means no cache reuse at all."""
    if queries_per_write <= 1:
        return doc_tokens * write + question_tokens + out * output_tokens
    return doc_tokens * (read + write / queries_per_write) + question_tokens + out * output_tokens


def break_even_doc_tokens(rag_prompt_tokens: int, question_tokens: int, read: float = 0.1) -> float:
    """Document size at which a warm cached long context costs as much per query as RAG
    (same output, write amortised away): read * D + q = rag_prompt."""
    return (rag_prompt_tokens - question_tokens) / read


def prefix_kv_bytes(tokens: int, layers: int, kv_heads: int, head_dim: int, bytes_per: int = 2) -> int:
    """GPU memory to keep a prefix's KV cache resident (self-hosted): K and V per layer."""
    return tokens * 2 * layers * kv_heads * head_dim * bytes_per
# --8<-- [end:lc_vs_rag]


if __name__ == "__main__":
    hits = [Chunk("Passwords expire every 90 days.", "it-faq.md", 0.82),
            Chunk("Annual leave is approved by your manager.", "hr.md", 0.31),
            Chunk("Passwords expire every 90 days.", "it-faq-copy.md", 0.80)]
    for m in build_rag_messages("How often do passwords expire?", hits):
        print(f"--- {m['role']}\n{m['content']}")
    usd = 3e-6                                           # $3 per million input tokens
    rag = rag_query_units(2_500, 300)
    for qpw in (1, 10, float("inf")):
        lc = long_context_query_units(150_000, 500, 300, qpw)
        print(f"150k-token document, {qpw} queries per cache write: ${lc * usd:.3f}/query "
              f"vs RAG ${rag * usd:.3f} ({lc / rag:.1f}x)")
    print(f"break-even document size: {break_even_doc_tokens(2_500, 500):,.0f} tokens; "
          f"KV of a 150k prefix on Llama-3-8B: {prefix_kv_bytes(150_000, 32, 8, 128) / 1e9:.1f} GB")
