"""The generation side of RAG: pack retrieved chunks into a grounded prompt with numbered sources;
and the cost of answering from a long (cached) context instead of retrieving.

Pages: docs/rag/pipeline.{zh,en}.md
"""
from __future__ import annotations

import math
import re
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
# Prices in units of one uncached input token (1 unit). Claude Sonnet 5.5's ratios as of
# December 2026 ($2 in, $2.50 5-minute cache write, $0.10 cache read, $10 out per million):
# a cache write costs 1.25 units per token, a cache read 0.05, an output token 5. Most other
# Claude models read the cache at 0.1; other providers differ.
def rag_query_units(prompt_tokens: int, output_tokens: int, out: float = 5.0) -> float:
    """One RAG call: the retrieved prompt is new every time, so nothing is cached."""
    return prompt_tokens + out * output_tokens


def long_context_query_units(doc_tokens: int, question_tokens: int, output_tokens: int,
                             queries_per_write: float = float("inf"), write: float = 1.25,
                             read: float = 0.05, out: float = 5.0) -> float:
    """One question over a whole document kept as a cached prefix. Every `queries_per_write`
    queries the cache has expired and the document is written again (amortised here);
    queries_per_write = 1 means no cache reuse at all."""
    if queries_per_write <= 1:
        return doc_tokens * write + question_tokens + out * output_tokens
    return doc_tokens * (read + write / queries_per_write) + question_tokens + out * output_tokens


def break_even_doc_tokens(rag_prompt_tokens: int, question_tokens: int, read: float = 0.05) -> float:
    """Document size at which a warm cached long context costs as much per query as RAG
    (same output, write amortised away): read * D + q = rag_prompt."""
    return (rag_prompt_tokens - question_tokens) / read


def prefix_kv_bytes(tokens: int, layers: int, kv_heads: int, head_dim: int, bytes_per: int = 2) -> int:
    """GPU memory to keep a prefix's KV cache resident (self-hosted): K and V per layer."""
    return tokens * 2 * layers * kv_heads * head_dim * bytes_per
# --8<-- [end:lc_vs_rag]



# --8<-- [start:prompt_budget]
def prompt_tokens(k: int, chunk_tokens: int, header_tokens: int = 15,
                  system_tokens: int = 150, question_tokens: int = 50) -> int:
    """Input tokens of one RAG call: system rules + k numbered sources ("[i] (file, date)"
    header + chunk text) + the question."""
    return system_tokens + k * (header_tokens + chunk_tokens) + question_tokens


def query_usd(input_tokens: int, output_tokens: int,
              usd_in_per_m: float = 2.0, usd_out_per_m: float = 10.0) -> float:
    """API cost of one call (defaults: $2 / $10 per million input / output tokens, Claude
    Sonnet 5.5 list price as of December 2026)."""
    return (input_tokens * usd_in_per_m + output_tokens * usd_out_per_m) / 1e6


def smallest_k(correct_by_k: dict[int, float], tolerance: float = 0.01) -> int:
    """Decision rule for k: the smallest k whose answer correctness (measured on the labeled
    set) is within `tolerance` of the best k tried. More chunks only add cost and noise."""
    best = max(correct_by_k.values())
    return min(k for k, acc in correct_by_k.items() if acc >= best - tolerance)


def edge_order(ranked: list[str]) -> list[str]:
    """Put the best chunks at both ends of the context, the weakest in the middle
    (1st, 3rd, 5th, ... first; ..., 4th, 2nd last): "lost in the middle" is U-shaped."""
    return ranked[0::2] + ranked[1::2][::-1]
# --8<-- [end:prompt_budget]


# --8<-- [start:prompt_checks]
_CITE = re.compile(r"\[(\d+)\]")
IDK = "I don't know"
# A sentence ends at a CJK full stop, or at . ! ? followed by whitespace: "3.5" has no space
# after its point. Abbreviations that do ("e.g. BGE") are masked before splitting.
_SENT_END = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|vs|cf|approx|Fig|Eq)\.", re.IGNORECASE)


def split_sentences(text: str) -> list[str]:
    """Sentences of an answer, not fooled by decimals ("3.5 %") or "e.g."."""
    masked = _ABBREV.sub(lambda m: m.group(0).replace(".", "\0"), text.strip())
    return [s.replace("\0", ".").strip() for s in _SENT_END.split(masked) if s.strip()]


def citation_problems(answer: str, n_sources: int) -> dict[str, int]:
    """Checks run on every answer in production: citations to sources that do not exist,
    and sentences that state something without any citation (abstentions excepted)."""
    sentences = split_sentences(answer)
    bad = sum(1 for m in _CITE.findall(answer) if not 1 <= int(m) <= n_sources)
    uncited = sum(1 for s in sentences if not _CITE.search(s) and IDK not in s)
    return {"invalid_citations": bad, "uncited_sentences": uncited}


def abstention_scores(abstained: list[bool], answerable: list[bool]) -> dict[str, float]:
    """On a labeled set with unanswerable questions mixed in: precision (of the questions the
    system refused, the share that really were unanswerable) and recall (of the unanswerable
    ones, the share it refused). Low precision = refuses answerable questions; low recall =
    answers what the sources do not support."""
    tp = sum(a and not ok for a, ok in zip(abstained, answerable))
    n_abst = sum(abstained)
    n_unans = sum(not ok for ok in answerable)
    return {"precision": tp / n_abst if n_abst else 0.0,
            "recall": tp / n_unans if n_unans else 0.0,
            "abstain_rate": n_abst / len(abstained)}


def n_for_margin(p: float, margin: float, z: float = 1.96) -> int:
    """Questions needed so a rate near p is known to +/- margin (95 % normal approximation):
    n = z^2 p (1 - p) / margin^2, rounded up."""
    return math.ceil(z * z * p * (1 - p) / margin ** 2)
# --8<-- [end:prompt_checks]


# --8<-- [start:update_cost]
def reindex_usd(changed_chunks: float, tokens_per_chunk: int, usd_per_m: float = 0.02) -> float:
    """Embedding cost of re-indexing changed chunks through an API (default: $0.02 per
    million tokens, OpenAI text-embedding-3-small)."""
    return changed_chunks * tokens_per_chunk * usd_per_m / 1e6


def lora_gpu_hours(n_params: float, train_tokens: float, peak_flops: float = 989e12,
                   utilization: float = 0.4, flops_per_param_token: float = 4.0) -> float:
    """GPU-hours of a LoRA run. Full fine-tuning costs ~6 N FLOPs per token (2 N forward,
    4 N backward); with the base weights frozen their weight gradients (2 N) are skipped,
    so ~4 N. Defaults: H100 dense bf16 peak at 40 % utilization."""
    return flops_per_param_token * n_params * train_tokens / (peak_flops * utilization) / 3600


def ft_update_tokens(changed_tokens: float, variants: int, epochs: int) -> float:
    """Training tokens to push changed facts into weights: each fact has to be seen in many
    rewordings (variants), for several epochs."""
    return changed_tokens * variants * epochs
# --8<-- [end:update_cost]


# --8<-- [start:kb_sizing]
def weights_gb(n_params: float, bytes_per_param: float = 2.0) -> float:
    """Model weights in GB (bf16 = 2 bytes; 4-bit AWQ/GPTQ ~0.5 plus scales)."""
    return n_params * bytes_per_param / 1e9


def concurrent_sequences(gpu_gb: float, weights: float, ctx_tokens: int, kv_per_token: int,
                         util: float = 0.9, overhead_gb: float = 1.5) -> int:
    """Full-length requests whose KV cache fits next to the weights (vLLM-style: a share
    `util` of GPU memory, minus weights, minus activations/runtime overhead)."""
    free = gpu_gb * util - weights - overhead_gb
    return max(0, int(free * 1e9 // (ctx_tokens * kv_per_token)))


def prefill_seconds(prompt_tokens: int, n_params: float, effective_flops: float = 5e13) -> float:
    """Time to first token when the GPU does nothing else: prefill costs ~2 N FLOPs per
    prompt token (attention ignored). Concurrent prompts arriving together share the GPU,
    so k of them wait about k times as long."""
    return 2 * n_params * prompt_tokens / effective_flops


def hnsw_gb(n_vectors: float, dim: int, m: int = 32) -> float:
    """FAISS IndexHNSWFlat memory: float32 vector plus 2*M int32 links per vector at the
    base layer, (4 d + 8 M) bytes; upper layers add little."""
    return n_vectors * (4 * dim + 8 * m) / 1e9


def embed_hours(corpus_tokens: float, encoder_params: float, effective_flops: float) -> float:
    """Encoder forward pass ~2 FLOPs per (non-embedding) parameter per token; assumes the
    GPU sustains `effective_flops` (measure it: batch size, padding and length matter)."""
    return corpus_tokens * 2 * encoder_params / effective_flops / 3600
# --8<-- [end:kb_sizing]


# --8<-- [start:kb_tuning]
def recall_at_k(gold_rank: list[int | None], k: int) -> float:
    """Share of questions whose gold chunk is ranked within the top k (rank 1 = best;
    None = not retrieved at all)."""
    return sum(1 for r in gold_rank if r is not None and r <= k) / len(gold_rank)


def pick_k(gold_rank: list[int | None], target: float = 0.9, max_k: int = 20) -> int | None:
    """Smallest k with recall@k >= target; None means no k up to max_k reaches it:
    fix retrieval (hybrid, reranker, chunking) rather than stuffing more chunks."""
    for k in range(1, max_k + 1):
        if recall_at_k(gold_rank, k) >= target:
            return k
    return None


def pick_threshold(gold_scores: list[float], keep: float = 0.95) -> float:
    """Score threshold for "no relevant source, abstain": the largest value that still keeps
    a share `keep` of the gold chunks' scores (their lower (1-keep) quantile, no interpolation)."""
    if not 0 < keep <= 1:
        raise ValueError(f"keep is a share in (0, 1], got {keep}")
    s = sorted(gold_scores)
    return s[math.floor((1 - keep) * len(s) + 1e-9)]   # guard 0.1 * 10 = 0.999...


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a rate: how little 50-100 questions can tell apart."""
    p = successes / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return c - h, c + h
# --8<-- [end:kb_tuning]


if __name__ == "__main__":
    hits = [Chunk("Passwords expire every 90 days.", "it-faq.md", 0.82),
            Chunk("Annual leave is approved by your manager.", "hr.md", 0.31),
            Chunk("Passwords expire every 90 days.", "it-faq-copy.md", 0.80)]
    for m in build_rag_messages("How often do passwords expire?", hits):
        print(f"--- {m['role']}\n{m['content']}")
    usd = 2e-6                             # $2 per million input tokens (Sonnet 5.5, Dec 2026)
    rag = rag_query_units(2_500, 300)
    for qpw in (1, 10, float("inf")):
        lc = long_context_query_units(150_000, 500, 300, qpw)
        print(f"150k-token document, {qpw} queries per cache write: ${lc * usd:.3f}/query "
              f"vs RAG ${rag * usd:.3f} ({lc / rag:.1f}x)")
    print(f"break-even document size: {break_even_doc_tokens(2_500, 500):,.0f} tokens; "
          f"KV of a 150k prefix on Llama-3-8B: {prefix_kv_bytes(150_000, 32, 8, 128) / 1e9:.1f} GB")
    k5 = prompt_tokens(5, 300)
    print(f"k=5 x 300-token chunks: {k5:,} input tokens, ${query_usd(k5, 300):.4f}/query; "
          f"k=20: {prompt_tokens(20, 300):,} tokens, ${query_usd(prompt_tokens(20, 300), 300):.4f}")
    print("edge order of 5 ranked chunks:", edge_order(["c1", "c2", "c3", "c4", "c5"]))
    print(citation_problems("Passwords expire every 90 days [1]. They must be 12 characters [4].", 3))
    print(citation_problems("Latency fell 3.5 % [1]. Use a reranker, e.g. BGE [2].", 2))
    print(f"answerable questions for +/-5 points around 85 %: {n_for_margin(0.85, 0.05)}; "
          f"Wilson CI for 40/50 unanswerable abstained: {tuple(round(x, 2) for x in wilson(40, 50))}")
    print(f"re-embed 10k changed chunks: ${reindex_usd(1e4, 300):.2f}; whole 1M-chunk corpus: "
          f"${reindex_usd(1e6, 300):.2f}; LoRA on 7.6B, 3M changed tokens x 10 variants x 3 epochs: "
          f"{lora_gpu_hours(7.6e9, ft_update_tokens(3e6, 10, 3)):.2f} H100-hours")
    kv = 28 * 2 * 4 * 128 * 2                          # Qwen2.5-7B: 57,344 B per token
    print(f"Qwen2.5-7B bf16 on 24 GB: {weights_gb(7.61e9):.1f} GB weights, "
          f"{concurrent_sequences(24, weights_gb(7.61e9), 8192, kv)} concurrent 8k-token requests "
          f"(prefill {prefill_seconds(8192, 7.61e9):.1f} s each, {prefill_seconds(3000, 7.61e9):.2f} s "
          f"for a 3k prompt); "
          f"HNSW for 200k x 1024-d chunks: {hnsw_gb(2e5, 1024):.2f} GB")
    ranks = [1, 1, 2, 1, 3, None, 1, 6, 2, 1]
    print(f"recall@5 {recall_at_k(ranks, 5):.1f}, pick_k(0.8) = {pick_k(ranks, 0.8)}, "
          f"Wilson CI for 90/100: {tuple(round(x, 3) for x in wilson(90, 100))}")
