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


def test_tokenize_by_hand():
    assert rt.tokenize("The Quick, brown-FOX jumps_over 2 dogs!") == ["the", "quick", "brown", "fox", "jumps_over", "2", "dogs"]


def test_bm25_defaults_are_rank_bm25_okapi_defaults():
    # BM25Okapi's defaults: k1 = 1.5, b = 0.75, epsilon = 0.25; on a corpus where "the" is floored
    docs = [rt.tokenize(d) for d in CORPUS]
    ref = BM25Okapi(docs)
    for query in ["quick fox", "the dog", "lazy lazy dog", "the the hound"]:
        q = rt.tokenize(query)
        np.testing.assert_allclose(rt.BM25(docs).scores(q), ref.get_scores(q), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"^idf must be 'okapi' or 'lucene', not 'okpai'$"):
        rt.BM25(docs, idf="okpai")                              # a typo is an error, not silently Okapi


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
    # the default k is 60 (Cormack et al.); equal scores are ordered by document id
    assert rt.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]]) == \
        rt.reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    assert dict(rt.reciprocal_rank_fusion([["x"]]))["x"] == pytest.approx(1 / 61)
    assert rt.reciprocal_rank_fusion([["b", "a"], ["a", "b"]], k=1) == [("a", 1 / 2 + 1 / 3), ("b", 1 / 2 + 1 / 3)]
    assert [d for d, _ in rt.reciprocal_rank_fusion([["z", "y"], ["y", "z"]])] == ["y", "z"]


def test_mmr_matches_langchain_core_and_hand_example():
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
    # Hand example: q = (1, 0); d0 and d1 are near-duplicates close to q, d2 points elsewhere.
    q = torch.tensor([1.0, 0.0])
    docs = torch.tensor([[1.0, 0.1], [1.0, 0.12], [0.6, -0.8]])
    assert rt.mmr(q, docs, k=2, lambda_mult=1.0) == [0, 1]       # pure relevance
    assert rt.mmr(q, docs, k=2, lambda_mult=0.5) == [0, 2]       # diversity kicks the duplicate out
    assert rt.mmr(q, docs, k=2) == [0, 2]                         # the default lambda is 0.5
    # k larger than the number of documents: each document once (vectors longer than the corpus)
    wide = torch.randn(3, 8, generator=torch.Generator().manual_seed(1))
    assert sorted(rt.mmr(torch.ones(8), wide, k=5)) == [0, 1, 2]
    g = torch.Generator().manual_seed(0)
    for lam in (0.0, 0.3, 0.5, 0.9):
        vecs = torch.randn(20, 8, generator=g, dtype=torch.float64)
        query = torch.randn(8, generator=g, dtype=torch.float64)
        ref = maximal_marginal_relevance(query.numpy(), vecs.numpy().tolist(), lambda_mult=lam, k=6)
        assert rt.mmr(query, vecs, k=6, lambda_mult=lam) == ref


@pytest.fixture(scope="module")
def encoder():
    return rt.load_encoder()


def test_load_encoder_switches_the_hub_offline(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    tok, model = rt.load_encoder()
    assert os.environ["HF_HUB_OFFLINE"] == "1" and not model.training
    assert tok("a b")["input_ids"][0] == tok.cls_token_id


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


# --- RAG-Fusion ---------------------------------------------------------------------------------

FAQ = {
    "policy": "password policy: a password needs 12 characters and a password expires after 90 days",
    "recovery": "forgot your password? account recovery sends a reset link to your email",
    "sso": "single sign-on users log in with the company account",
    "billing": "update the credit card used for billing on the invoices page",
    "2fa": "two-factor authentication codes arrive by sms or an authenticator app",
    "locked": "after five failed log in attempts the account is locked for 30 minutes",
    "export": "export your data as csv from the settings page",
    "delete": "to delete the account open settings and confirm by email",
    "team": "invite team members from the admin console",
    "api": "create an api key in the developer settings",
}
QUESTION = "how do I change my password"
VARIANTS = ["forgot password", "password reset link by email"]     # stands in for the LLM's rewrites


def rank_bm25_ranking(query):
    """Oracle ranking from rank-bm25's BM25Okapi: positive scores, descending, ties in corpus order."""
    ids = list(FAQ)
    ref = BM25Okapi([rt.tokenize(t) for t in FAQ.values()])
    scores = ref.get_scores(rt.tokenize(query))
    order = sorted(range(len(ids)), key=lambda i: -scores[i])
    return [ids[i] for i in order if scores[i] > 0]


def test_rag_fusion_per_query_lists_match_rank_bm25():
    retrieve = rt.bm25_retriever(list(FAQ), list(FAQ.values()))
    for q in [QUESTION] + VARIANTS:
        assert retrieve(q) == rank_bm25_ranking(q)
    # The lists this test's hand computation relies on:
    assert rank_bm25_ranking(QUESTION) == ["policy", "recovery"]
    assert rank_bm25_ranking(VARIANTS[0]) == ["recovery", "policy"]
    assert rank_bm25_ranking(VARIANTS[1]) == ["recovery", "delete", "policy", "2fa"]


def test_rag_fusion_changes_the_winner_by_hand():
    retrieve = rt.bm25_retriever(list(FAQ), list(FAQ.values()))
    fused = rt.rag_fusion(QUESTION, lambda q: VARIANTS, retrieve, k=60)
    # The original query alone puts the password-policy page first ...
    assert retrieve(QUESTION)[0] == "policy"
    # ... fusion with k = 60, ranks counted from 1:
    recovery = 1 / 62 + 1 / 61 + 1 / 61          # ranks 2, 1, 1  = 0.048916
    policy = 1 / 61 + 1 / 62 + 1 / 63            # ranks 1, 2, 3  = 0.048395
    expected = {"recovery": recovery, "policy": policy, "delete": 1 / 62, "2fa": 1 / 64}
    assert [d for d, _ in fused] == ["recovery", "policy", "delete", "2fa"]
    for d, s in fused:
        assert s == pytest.approx(expected[d], abs=1e-12)
    # Without the original query the two rewrites alone already agree on "recovery".
    alone = rt.rag_fusion(QUESTION, lambda q: VARIANTS, retrieve, include_original=False)
    assert alone[0] == ("recovery", pytest.approx(2 / 61))


def test_rag_fusion_default_k_is_60():
    retrieve = rt.bm25_retriever(list(FAQ), list(FAQ.values()))
    assert rt.rag_fusion(QUESTION, lambda q: VARIANTS, retrieve) == \
        rt.rag_fusion(QUESTION, lambda q: VARIANTS, retrieve, k=60)


def test_rag_fusion_passes_the_question_and_k_through():
    retrieve = rt.bm25_retriever(list(FAQ), list(FAQ.values()))
    asked = []
    fused = rt.rag_fusion(QUESTION, lambda q: asked.append(q) or VARIANTS, retrieve, k=1)
    assert asked == [QUESTION]                                   # the LLM rewrites the user's question
    # k = 1, ranks from 1: recovery 1/3 + 1/2 + 1/2, policy 1/2 + 1/3 + 1/4, delete 1/3, 2fa 1/5
    expected = [("recovery", 1 / 3 + 1 / 2 + 1 / 2), ("policy", 1 / 2 + 1 / 3 + 1 / 4), ("delete", 1 / 3), ("2fa", 1 / 5)]
    assert [d for d, _ in fused] == [d for d, _ in expected]
    assert [s for _, s in fused] == pytest.approx([s for _, s in expected], abs=1e-12)


def test_bm25_retriever_depth_and_weak_matches_against_rank_bm25():
    # 12 documents share the term "log"; long documents score it below 1 but above 0 and still count
    texts = [f"log {'filler ' * (i * 20)}entry {i}" for i in range(12)]
    ids = [f"d{i}" for i in range(12)]
    ref = BM25Okapi([rt.tokenize(t) for t in texts]).get_scores(rt.tokenize("log"))
    assert 0 < min(ref) < 1                                      # weak but real matches exist
    expected = [ids[i] for i in sorted(range(12), key=lambda i: -ref[i]) if ref[i] > 0]
    assert len(expected) == 12
    assert rt.bm25_retriever(ids, texts)("log") == expected[:10]        # the default depth is 10
    assert rt.bm25_retriever(ids, texts, depth=12)("log") == expected


def test_rag_fusion_output_feeds_the_rag_prompt():
    pipeline = load("rag/pipeline")
    retrieve = rt.bm25_retriever(list(FAQ), list(FAQ.values()))
    fused = rt.rag_fusion(QUESTION, lambda q: VARIANTS, retrieve)[:2]
    chunks = [pipeline.Chunk(FAQ[d], d, s) for d, s in fused]
    user = pipeline.build_rag_messages(QUESTION, chunks)[1]["content"]
    assert user.index("[1] (recovery)") < user.index("[2] (policy)")


def test_dense_search_k_larger_than_the_corpus_returns_every_document():
    g = torch.Generator().manual_seed(0)
    docs = torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1)
    q = torch.nn.functional.normalize(torch.randn(2, 8, generator=g), dim=-1)
    scores, idx = rt.dense_search(q, docs, k=10)
    assert idx.shape == (2, 4)
    for i in range(2):                                          # all four, best first
        assert idx[i].tolist() == torch.argsort(q[i] @ docs.T, descending=True).tolist()


def test_index_bytes_by_hand():
    # 100M x 768 float32 = 307.2 GB; HNSW M=32 adds 2 * 32 * 4 = 256 B per vector
    assert rt.index_bytes("flat", 100_000_000, 768) == 307_200_000_000
    assert rt.index_bytes("hnsw", 100_000_000, 768) == 307_200_000_000 + 25_600_000_000
    # IVF-PQ with 64 one-byte codes + an 8-byte id: 72 B per vector
    assert rt.index_bytes("ivfpq", 100_000_000, 768) == 7_200_000_000


def test_ivf_recall_against_exact_sklearn_search():
    from sklearn.neighbors import NearestNeighbors
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1.5, (40, 16))
    xb = (centers[rng.integers(0, 40, 5000)] + rng.normal(0, 1, (5000, 16))).astype(np.float32)
    xq = (centers[rng.integers(0, 40, 100)] + rng.normal(0, 1, (100, 16))).astype(np.float32)
    exact = NearestNeighbors(n_neighbors=10, algorithm="brute").fit(xb).kneighbors(xq)[1]
    recalls = [rt.ann_recall(rt.ivf_search(xb, xq, 32, p, 10), exact) for p in (1, 2, 8, 32)]
    assert recalls[0] < 0.97                                  # one list misses neighbours
    assert all(a <= b for a, b in zip(recalls, recalls[1:]))  # more probes never hurt
    assert recalls[-1] == 1.0                                 # probing every list is exact


def _ivf_with_sklearn_kmeans(xb, xq, nlist, nprobe, k, iters=8, seed=0):
    """The same IVF-Flat with scikit-learn's Lloyd k-means from the same initial centroids (nlist distinct base
    vectors drawn with numpy's default_rng(seed)), the nprobe nearest lists, then exact search inside them."""
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits
    init = xb[np.random.default_rng(seed).choice(len(xb), nlist, replace=False)]
    with threadpool_limits(1):
        km = KMeans(nlist, init=init, n_init=1, max_iter=iters, tol=0.0, algorithm="lloyd").fit(xb)
    lists = km.predict(xb)
    out = []
    for q in xq:
        probe = np.argsort(((km.cluster_centers_ - q) ** 2).sum(1))[:nprobe]
        cand = np.flatnonzero(np.isin(lists, probe))
        out.append(cand[np.argsort(np.linalg.norm(xb[cand] - q, axis=1), kind="stable")[:k]])
    return np.array(out)


def test_ivf_search_matches_sklearn_kmeans_ivf():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 1.5, (40, 16))
    xb = (centers[rng.integers(0, 40, 2000)] + rng.normal(0, 1, (2000, 16))).astype(np.float32)
    xq = (centers[rng.integers(0, 40, 30)] + rng.normal(0, 1, (30, 16))).astype(np.float32)
    for nprobe in (1, 3):
        ours = rt.ivf_search(xb, xq, 16, nprobe, 5)
        assert ours.dtype.kind == "i"                                   # ids, not floats
        np.testing.assert_array_equal(ours, _ivf_with_sklearn_kmeans(xb, xq, 16, nprobe, 5))
    # other iteration counts and seeds give other lists, and are honoured
    np.testing.assert_array_equal(rt.ivf_search(xb, xq, 16, 1, 5, iters=2, seed=3),
                                  _ivf_with_sklearn_kmeans(xb, xq, 16, 1, 5, iters=2, seed=3))


def test_ivf_search_keeps_the_centroid_of_an_empty_list():
    # Duplicated base vectors: with all four vectors as initial centroids, two lists start identical and one
    # of each pair stays empty (argmin takes the first). Its centroid is kept, not replaced by a mean of nothing.
    xb = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 20.0], [10.0, 20.0]], dtype=np.float32)
    xq = np.array([[0.5, 0.0], [9.0, 19.0]], dtype=np.float32)
    with np.errstate(all="raise"):
        out = rt.ivf_search(xb, xq, 4, 2, 2)           # each query probes its two (identical) centroids
    assert [sorted(r) for r in out.tolist()] == [[0, 1], [2, 3]]


def test_ivf_search_pads_with_minus_one_when_the_probed_lists_are_short():
    # two lists of two vectors each, one probe, k = 3: the third neighbour is not in the probed list
    xb = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 50.0], [51.0, 50.0]], dtype=np.float32)
    out = rt.ivf_search(xb, np.array([[0.9, 0.0]], dtype=np.float32), 2, 1, 3)
    assert out.tolist() == [[1, 0, -1]]
    assert rt.ivf_search(xb, np.array([[0.9, 0.0]], dtype=np.float32), 2, 2, 3).tolist() == [[1, 0, 2]]


def test_rerank_cost_by_hand():
    # 0.6B params x 100 pairs x 330 tokens x 2 FLOPs = 3.96e13; at 312 TFLOPS x 0.4 = 1.248e14 FLOP/s
    flops = rt.rerank_flops(0.6e9, 100, 330)
    assert flops == pytest.approx(3.96e13)
    sec, gpus = rt.rerank_gpus(100, flops)
    assert sec == pytest.approx(3.96e13 / 1.248e14)            # 0.317 s
    assert gpus == 32                                          # 31.7 rounded up
    sec8, gpus8 = rt.rerank_gpus(100, rt.rerank_flops(8e9, 100, 330))
    assert sec8 == pytest.approx(sec * 8 / 0.6) and gpus8 == 424
    assert rt.rerank_gpus(10, flops)[1] == 4                    # 3.17 GPUs of work: 4, not 3
    # exactly 1 s per query at the default peak and MFU: 10 qps needs 10 GPUs, not 11
    assert rt.rerank_gpus(10, 312e12 * 0.4) == (1.0, 10)
    # 1.1 s per query at 100 qps is 110 GPUs of work; in floating point 100 * 1.1 = 110.00000000000001,
    # which a bare ceil would turn into 111 GPUs
    sec, gpus = rt.rerank_gpus(100, 1.1 * 312e12 * 0.4)
    assert sec == pytest.approx(1.1) and 100 * sec > 110 and gpus == 110


def test_ndcg_matches_sklearn_and_hand_value():
    from sklearn.metrics import ndcg_score
    rng = np.random.default_rng(1)
    for _ in range(20):
        rel = rng.integers(0, 4, 12).astype(float)
        if rel.sum() == 0:
            rel[0] = 1.0
        scores = rng.permutation(12).astype(float)             # distinct: no ties
        for k in (1, 3, 5, 12):
            assert rt.ndcg_at_k(rel.tolist(), scores.tolist(), k) == pytest.approx(
                ndcg_score([rel], [scores], k=k))
    # one relevant chunk at first-stage rank 3, reranked to rank 1: nDCG@5 from 1/log2(4) = 0.5 to 1
    assert rt.ndcg_at_k([0, 0, 1, 0, 0], [5, 4, 3, 2, 1], 5) == pytest.approx(0.5)
    assert rt.ndcg_at_k([0, 0, 1, 0, 0], [4, 3, 5, 2, 1], 5) == pytest.approx(1.0)
    assert rt.ndcg_at_k([0, 0, 0], [3, 2, 1], 3) == 0.0           # no relevant document: 0, not 0 / 0


def test_pool_size_stops_where_recall_per_ms_flattens():
    ranks = [1, 1, 2, 3, 5, 8, 15, 25, 60, None]               # first-stage rank of the gold chunk
    assert [rt.pool_recall(ranks, n) for n in (10, 20, 30, 50, 100)] == [0.6, 0.7, 0.8, 0.8, 0.9]
    assert rt.pool_recall([10, 11, 9, None], 10) == 0.5         # rank n is inside a pool of n
    # 10->20 and 20->30 each buy 0.1 for 10 ms (0.01/ms); 30->50 buys nothing: stop at 30
    assert rt.pick_pool_size(ranks, [10, 20, 30, 50, 100], 1.0, 0.005) == 30
    # a stricter bar stops at the first step
    assert rt.pick_pool_size(ranks, [10, 20, 30, 50, 100], 1.0, 0.02) == 10
    # exact binary fractions: recall 0.25, 0.5, 0.75 at 4, 8, 16; 0.25 ms per candidate -> gains per ms
    # of 0.25 and 0.125. A gain exactly at the bar is still paid for ("at or above")
    ranks4 = [1, 5, 12, None]
    assert rt.pick_pool_size(ranks4, [16, 4, 8], 0.25, 0.125) == 16       # sizes in any order
    assert rt.pick_pool_size(ranks4, [4, 8, 16], 0.25, 0.2) == 8


def test_embedding_budget_against_numpy_and_hand():
    gb, hours = rt.embedding_budget(1000, 384, 22.7e6, 400)
    assert gb * 1e9 == np.zeros((1000, 384), dtype=np.float32).nbytes   # storage = real array size
    # 10M chunks x 400 tokens x 2 x 0.6e9 = 4.8e18 FLOPs at 1.248e14 FLOP/s = 38,462 s = 10.7 h
    gb, hours = rt.embedding_budget(10_000_000, 1024, 0.6e9, 400)
    assert gb == pytest.approx(40.96) and hours == pytest.approx(4.8e18 / 1.248e14 / 3600)
    # MiniLM truncates at 256: the same 4e9 tokens as 4e9 / 256 = 15.625M chunks of 256 tokens
    # storage 15.625M x 384 x 4 B = 24.0 GB; compute 2 x 22.7e6 x 4e9 = 1.816e17 FLOPs = 0.40 h
    gb, hours = rt.embedding_budget(4e9 / 256, 384, 22.7e6, 256)
    assert gb == pytest.approx(24.0) and hours == pytest.approx(1.816e17 / 1.248e14 / 3600)
    assert hours == pytest.approx(0.404, abs=1e-3)
    assert 4e9 / 256 / 1e7 == pytest.approx(1.5625)                     # 56% more vectors than 10M


def test_embedding_budget_default_peak_and_mfu_exactly():
    # params chosen so that one 1-token chunk takes exactly one hour at 312 TFLOPS x 0.4 MFU
    assert rt.embedding_budget(1, 384, 312e12 * 0.4 * 3600 / 2, 1) == (384 * 4 / 1e9, 1.0)


def test_pick_embedder_takes_cheapest_within_tolerance():
    results = {"small": (0.80, 1.0), "base": (0.84, 3.0), "large": (0.85, 20.0)}
    assert rt.pick_embedder(results, 0.02) == "base"      # small is 5 points behind
    assert rt.pick_embedder(results, 0.06) == "small"
    assert rt.pick_embedder(results, 0.0) == "large"


def test_truncation_makes_tails_invisible(encoder):
    tok, model = encoder
    base = "the service restarts the worker when memory runs out. " * 40   # > 256 word pieces
    a, b = base + "Refunds take five days.", base + "Passwords expire after 90 days."
    va, vb = rt.embed([a, b], tok, model, max_length=256)
    assert torch.allclose(va, vb, atol=1e-6)              # the differing tails were cut off
    sa, sb = rt.embed(["Refunds take five days.", "Passwords expire after 90 days."], tok, model)
    assert float(sa @ sb) < 0.9                           # short texts do differ
    assert rt.truncated_share([a, "short chunk"], tok, 256) == 0.5
    # a chunk of exactly max_length word pieces (with [CLS] and [SEP]) fits: it is not truncated
    n = len(tok("short chunk")["input_ids"])
    assert (rt.truncated_share(["short chunk"], tok, n), rt.truncated_share(["short chunk"], tok, n - 1)) == (0.0, 1.0)
    # the default max_length is MiniLM's 256 word pieces
    va2, vb2 = rt.embed([a, b], tok, model)
    assert torch.allclose(va2, vb2, atol=1e-6) and torch.allclose(va2, va, atol=1e-6)


@pytest.mark.parametrize("query,history,route", [
    ("why does it fail?", True, "standalone"),
    ("why does it fail?", False, "none"),
    ("error E1234 on boot", False, "literal"),
    ("what about ERR-504?", True, "literal"),
    ('docs for "max_connections"', False, "literal"),
    ("upgrade to v2.3.1 broke login", False, "literal"),
    ("how to rotate logs", False, "none"),
    ("Is 2024 different?", True, "standalone"),          # a bare year is not an identifier
])
def test_choose_rewrite_by_hand(query, history, route):
    assert rt.choose_rewrite(query, history) == route


def test_lost_terms_and_rewrite_cost_by_hand():
    assert rt.lost_terms("error E1234 after v2.3 upgrade", "error E1234 after upgrading to 2.4") == {"v2.3", "3"}
    assert rt.lost_terms("reset max_connections to 200", "how do I reset max_connections to 200") == set()
    usd, sec = rt.llm_step_cost(1000, 30)                 # 1000 x $2/M + 30 x $10/M (Sonnet 5.5)
    assert usd == pytest.approx(0.002 + 0.0003) and sec == pytest.approx(30 / 140)
    usd, sec = rt.llm_step_cost(100, 200)                 # HyDE: a 200-token passage
    assert usd == pytest.approx(0.0002 + 0.002) and sec == pytest.approx(200 / 140)
    assert rt.llm_step_cost(100, 80)[0] == pytest.approx(0.0002 + 0.0008)   # multi-query
    assert rt.llm_step_cost(1_000_000, 1_000_000) == (12.0, 1_000_000 / 140)  # prices are per million, exactly
