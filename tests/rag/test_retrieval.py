"""Tests for snippets/rag/retrieval.py against rank-bm25, sentence-transformers, langchain-core
and hand computations."""
import math
import os

import numpy as np
import pytest
import torch
from rank_bm25 import BM25Okapi

from snippets import load

rt = load("rag/retrieval")

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "the lazy dog sleeps all day",
    "a quick brown dog outpaces a quick red fox",
    "the fox and the hound are friends",
    "retrieval augmented generation grounds the model in documents",
    "the the the dog",
]


def test_bm25_okapi_matches_rank_bm25():
    docs = [rt.tokenize(d) for d in CORPUS]
    ours = rt.BM25(docs, k1=1.5, b=0.75, idf="okapi", epsilon=0.25)
    ref = BM25Okapi(docs, k1=1.5, b=0.75, epsilon=0.25)
    # "the" is in more than half the documents, so its raw Okapi idf is negative and floored.
    for query in ["quick fox", "the dog", "lazy lazy dog", "generation documents", "unknown"]:
        q = rt.tokenize(query)
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), rtol=1e-12, atol=1e-12)


def test_bm25_lucene_idf_by_hand():
    # Two documents: "a b" and "a". Query "b". N = 2, n_b = 1, avgdl = 1.5.
    bm = rt.BM25([["a", "b"], ["a"]], k1=1.2, b=0.75, idf="lucene")
    idf = math.log(1 + (2 - 1 + 0.5) / (1 + 0.5))               # ln 2
    norm = 1.2 * (1 - 0.75 + 0.75 * 2 / 1.5)                     # doc 0 has length 2
    expected = idf * 1 * (1.2 + 1) / (1 + norm)
    assert bm.scores(["b"]) == pytest.approx([expected, 0.0])
    # Lucene idf stays positive even for a term in every document.
    assert bm.idf["a"] > 0


def test_bm25_tf_saturates_and_length_normalises():
    bm = rt.BM25([["x"] * 1 + ["y"] * 9, ["x"] * 5 + ["y"] * 5, ["x"] * 10, ["z"] * 10], idf="lucene")
    s = bm.scores(["x"])
    assert s[0] < s[1] < s[2]                                   # more occurrences, higher score
    # ... but bounded: tf term < k1 + 1 however large tf gets.
    assert s[2] < bm.idf["x"] * (bm.k1 + 1)


def test_rrf_by_hand():
    fused = dict(rt.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert fused["b"] == pytest.approx(1 / 62)
    assert fused["d"] == pytest.approx(1 / 63)
    order = [d for d, _ in rt.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)]
    assert order == ["a", "c", "b", "d"]


def test_mmr_matches_langchain_core_and_hand_example():
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
    # Hand example: q = (1, 0); d0 and d1 are near-duplicates close to q, d2 points elsewhere.
    q = torch.tensor([1.0, 0.0])
    docs = torch.tensor([[1.0, 0.1], [1.0, 0.12], [0.6, -0.8]])
    assert rt.mmr(q, docs, k=2, lambda_mult=1.0) == [0, 1]       # pure relevance
    assert rt.mmr(q, docs, k=2, lambda_mult=0.5) == [0, 2]       # diversity kicks the duplicate out
    g = torch.Generator().manual_seed(0)
    for lam in (0.0, 0.3, 0.5, 0.9):
        vecs = torch.randn(20, 8, generator=g, dtype=torch.float64)
        query = torch.randn(8, generator=g, dtype=torch.float64)
        ref = maximal_marginal_relevance(query.numpy(), vecs.numpy().tolist(), lambda_mult=lam, k=6)
        assert rt.mmr(query, vecs, k=6, lambda_mult=lam) == ref


@pytest.fixture(scope="module")
def encoder():
    return rt.load_encoder()


def test_mean_pooling_matches_sentence_transformers(encoder):
    os.environ["HF_HUB_OFFLINE"] = "1"
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(rt.minilm_path(), device="cpu")
    ref = torch.from_numpy(st.encode(CORPUS, normalize_embeddings=True))
    ours = rt.embed(CORPUS, *encoder)
    assert ours.shape == (len(CORPUS), 384)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-4)


def test_dense_search_matches_brute_force_and_semantic_search(encoder):
    from sentence_transformers import util
    docs = rt.embed(CORPUS, *encoder)
    queries = rt.embed(["which animal is quick?", "what grounds a language model?"], *encoder)
    scores, idx = rt.dense_search(queries, docs, k=3)
    for qi in range(2):
        # Brute force: cosine with every document, one at a time, then sort.
        cos = [torch.nn.functional.cosine_similarity(queries[qi], docs[j], dim=0).item()
               for j in range(len(CORPUS))]
        best = sorted(range(len(CORPUS)), key=lambda j: -cos[j])[:3]
        assert idx[qi].tolist() == best
        np.testing.assert_allclose(scores[qi].tolist(), [cos[j] for j in best], atol=1e-5)
    hits = util.semantic_search(queries, docs, top_k=3)
    assert [[h["corpus_id"] for h in row] for row in hits] == idx.tolist()
    assert idx[1, 0].item() == 4            # the RAG sentence answers the RAG question
