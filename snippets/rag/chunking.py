"""Chunking for RAG: fixed-size windows with overlap, and recursive splitting.

Pages: docs/rag/chunking.{zh,en}.md
"""
from __future__ import annotations

import re


# --8<-- [start:fixed_size]
def fixed_size_chunks(text: str, size: int, overlap: int = 0) -> list[tuple[int, str]]:
    """Cut ``text`` into windows of ``size`` characters; neighbors share ``overlap`` characters.

    Returns (start offset, chunk) pairs. Window i starts at i * (size - overlap); the last
    window is shorter if the text runs out, and no window starts inside the previous one's tail
    once the text is covered.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError("need size > 0 and 0 <= overlap < size")
    step = size - overlap
    chunks: list[tuple[int, str]] = []
    start = 0
    while True:
        chunks.append((start, text[start:start + size]))
        if start + size >= len(text):
            return chunks
        start += step
# --8<-- [end:fixed_size]


# --8<-- [start:recursive]
# Coarse to fine: paragraphs, lines, sentence ends (Chinese and English), clauses, words, characters.
DEFAULT_SEPARATORS: tuple[str, ...] = ("\n\n", "\n", "。", "！", "？", ". ", "! ", "? ",
                                       "；", "，", ", ", " ", "")


def _split_keep(text: str, sep: str) -> list[str]:
    """Split on ``sep`` but keep it at the end of each piece, so ''.join(pieces) == text."""
    parts = text.split(sep)
    pieces = [p + sep for p in parts[:-1]] + [parts[-1]]
    return [p for p in pieces if p]


def _atoms(text: str, size: int, separators: tuple[str, ...]) -> list[str]:
    """Break ``text`` into pieces of at most ``size`` chars, using the coarsest separator that works."""
    if len(text) <= size:
        return [text]
    for i, sep in enumerate(separators):
        if sep == "":                                   # last resort: hard cut by characters
            return [text[j:j + size] for j in range(0, len(text), size)]
        if sep in text:
            out: list[str] = []
            for piece in _split_keep(text, sep):
                out.extend(_atoms(piece, size, separators[i + 1:]))
            return out
    return [text[j:j + size] for j in range(0, len(text), size)]


def recursive_split(text: str, size: int,
                    separators: tuple[str, ...] = DEFAULT_SEPARATORS) -> list[str]:
    """Recursive character splitting: split on the coarsest boundary, recurse into pieces that are
    still too long, then greedily merge neighboring pieces while the chunk stays <= ``size``.
    No overlap, so ''.join(chunks) == text.
    """
    chunks: list[str] = []
    current = ""
    for atom in _atoms(text, size, separators):
        if current and len(current) + len(atom) > size:
            chunks.append(current)
            current = ""
        current += atom
    if current:
        chunks.append(current)
    return chunks
# --8<-- [end:recursive]


# --8<-- [start:size_rule]
def max_chunk_tokens(context_budget: int, k: int, embed_max_len: int, header_tokens: int = 0) -> int:
    """Upper bound on chunk size N: k chunks must fit the context budget given to the LLM
    (k * N <= budget), and a chunk plus any title/prefix must fit the embedder's max length."""
    return min(context_budget // k, embed_max_len - header_tokens)


def span_intact_rate(size: int, overlap: int, span: int) -> float:
    """Share of positions at which an answer span of `span` units lies wholly inside some chunk
    (fixed windows, stride size - overlap, away from the text's end). Closed form:
    min(1, (size - span + 1) / stride); 0 if the span is longer than a chunk."""
    if span > size:
        return 0.0
    return min(1.0, (size - span + 1) / (size - overlap))


def index_growth(size: int, overlap: int) -> float:
    """Chunks (and vectors, and embedding cost) relative to no overlap: size / (size - overlap)."""
    return size / (size - overlap)


def duplicate_hit_rate(hits: list[tuple[str, int]], size: int) -> float:
    """Share of top-k hits (doc id, start offset) that overlap a higher-ranked hit of the same
    document: the online signal that overlap is filling the context with repeats."""
    dup = 0
    for i, (doc, start) in enumerate(hits):
        if any(d == doc and abs(start - s) < size for d, s in hits[:i]):
            dup += 1
    return dup / len(hits)
# --8<-- [end:size_rule]


# --8<-- [start:strategy_cost]
def index_gb(n_vectors: float, dim: int, bytes_per_value: int = 4) -> float:
    """Raw vector storage in GB (float32 by default), before any index overhead."""
    return n_vectors * dim * bytes_per_value / 1e9


def llm_chunking_usd(n_chunks: float, chunk_tokens: int, prompt_tokens: int, out_tokens: int,
                     usd_in_per_m: float, usd_out_per_m: float) -> float:
    """API cost of one LLM call per chunk (proposition extraction, contextual headers):
    input = instructions + chunk, output = what the model writes back."""
    tokens_in = n_chunks * (prompt_tokens + chunk_tokens)
    tokens_out = n_chunks * out_tokens
    return (tokens_in * usd_in_per_m + tokens_out * usd_out_per_m) / 1e6


_PRONOUN_START = re.compile(r"^\s*(?:(?:it|this|that|these|those|they|its|their|the above)\b"
                            r"|它|这|该|其|上述|此)", re.IGNORECASE)   # Chinese has no word boundary
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.MULTILINE)
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}", re.MULTILINE)


def chunk_smells(chunk: str) -> set[str]:
    """Cheap checks run over every chunk at index time. 'orphan_pronoun': the chunk opens
    with a pronoun whose referent is in the previous chunk. 'split_table': it holds
    Markdown table rows but not the header rule, so column names were cut off."""
    smells = set()
    if _PRONOUN_START.match(chunk):
        smells.add("orphan_pronoun")
    if _TABLE_ROW.search(chunk) and not _TABLE_RULE.search(chunk):
        smells.add("split_table")
    return smells
# --8<-- [end:strategy_cost]



# --8<-- [start:small_to_big]
def contextual_retrieval_usd(doc_tokens: int, chunk_tokens: int, instr_tokens: int,
                             ctx_tokens: int, usd_in: float, usd_write: float, usd_read: float,
                             usd_out: float, cached: bool = True) -> float:
    """Cost per million document tokens of contextual retrieval: one LLM call per chunk that
    reads the whole document plus the chunk and writes `ctx_tokens` of context. With prompt
    caching the document is written to the cache once and read once per chunk; without it
    every call pays the document at the input price. Prices in USD per million tokens."""
    chunks = doc_tokens / chunk_tokens
    per_call = (chunk_tokens + instr_tokens) * usd_in + ctx_tokens * usd_out
    doc = (doc_tokens * usd_write + chunks * doc_tokens * usd_read) if cached \
        else chunks * doc_tokens * usd_in
    per_doc = (doc + chunks * per_call) / 1e6
    return per_doc * 1e6 / doc_tokens


def parents_in_budget(child_hits: list[str], parent_of: dict[str, str],
                      parent_tokens: dict[str, int], budget: int) -> tuple[list[str], int]:
    """Small-to-big at query time: walk the child hits best-first, map each to its parent,
    skip parents already taken, stop adding when a parent would overflow the token budget.
    Returns (parents kept, child hits that were duplicates of a kept parent)."""
    kept: list[str] = []
    used = dup = 0
    for child in child_hits:
        parent = parent_of[child]
        if parent in kept:
            dup += 1
            continue
        if used + parent_tokens[parent] > budget:
            continue                     # a smaller parent further down may still fit
        kept.append(parent)
        used += parent_tokens[parent]
    return kept, dup
# --8<-- [end:small_to_big]


if __name__ == "__main__":
    doc = ("检索增强生成先检索再生成。切分太大，噪声多；切分太小，语义不完整。"
           "所以要按段落和句子边界切分。\n\nRAG retrieves first. Then it generates an answer.")
    for start, chunk in fixed_size_chunks(doc, size=20, overlap=5):
        print(f"fixed  @{start:3d}: {chunk!r}")
    for chunk in recursive_split(doc, size=30):
        print(f"recursive ({len(chunk):2d}): {chunk!r}")
    print("max chunk tokens, 4,000-token budget, k=8, 512-token embedder:", max_chunk_tokens(4000, 8, 512))
    for o in (0, 25, 50, 64):
        print(f"N=512 O={o:2d}: 60-token answer intact {span_intact_rate(512, o, 60):.3f}, "
              f"index x{index_growth(512, o):.3f}")
    props = 1e6 * 3 * 257 / 41   # 400-token chunk ~ 300 words = 3 Dense X 100-word passages
    print(f"1M chunks x 1024-d: {index_gb(1e6, 1024):.1f} GB; as propositions ({props / 1e6:.1f}M, "
          f"6.3 per 100-word passage): {index_gb(props, 1024):.1f} GB")
    print(f"propositions for 1M chunks via an LLM at $2/$10 per M tokens (Sonnet 5.5, Dec 2026): "
          f"${llm_chunking_usd(1e6, 400, 500, 400, 2, 10):,.0f}")
    print(chunk_smells("It also supports batching."), chunk_smells("| 2024 | 12% |\n| 2025 | 15% |"))
    haiku3 = dict(usd_in=0.25, usd_write=0.30, usd_read=0.03, usd_out=1.25)   # Claude 3 Haiku
    per_m = contextual_retrieval_usd(8_000, 800, 50, 100, **haiku3)
    print(f"contextual retrieval, Anthropic's assumptions: ${per_m:.2f} per million document "
          f"tokens (${contextual_retrieval_usd(8_000, 800, 50, 100, **haiku3, cached=False):.2f} "
          f"uncached) at 2024 Claude 3 Haiku prices")
    haiku55 = dict(usd_in=0.10, usd_write=0.125, usd_read=0.01, usd_out=0.50)  # Dec 2026, <=100k
    per_m = contextual_retrieval_usd(8_000, 800, 50, 100, **haiku55)
    print(f"at Claude Haiku 5.5 prices: ${per_m:.2f} per million document tokens; "
          f"1M chunks x 800 tokens: ${per_m * 800:,.0f}")
    parents = {f"c{i}": f"p{i // 3}" for i in range(12)}
    print(parents_in_budget(["c0", "c1", "c4", "c9", "c2"], parents, {f"p{j}": 2_000 for j in range(4)}, 6_000))
