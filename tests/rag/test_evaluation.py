"""Tests for snippets/rag/evaluation.py: metrics by hand, and invariants on the labeled set."""
import math

import pytest
import torch

from snippets import load

ev = load("rag/evaluation")


def test_recall_mrr_ndcg_by_hand():
    ranked = ["a", "b", "c", "d"]
    assert ev.recall_at_k(ranked, {"b", "d"}, 1) == 0.0
    assert ev.recall_at_k(ranked, {"b", "d"}, 2) == 0.5
    assert ev.recall_at_k(ranked, {"b", "d"}, 4) == 1.0
    assert ev.reciprocal_rank(ranked, {"c", "d"}) == pytest.approx(1 / 3)
    assert ev.reciprocal_rank(ranked, {"z"}) == 0.0
    # Relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal (ranks 1, 2) = 1 + 1/log2(3).
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ev.ndcg_at_k(ranked, {"b", "d"}, 4) == pytest.approx(expected)
    assert ev.ndcg_at_k(["b", "d", "a"], {"b", "d"}, 3) == pytest.approx(1.0)


def test_metrics_when_k_is_below_the_number_of_relevant_documents():
    ranked = ["a", "x", "b", "c", "y"]
    rel = {"a", "b", "c"}
    assert ev.recall_at_k(ranked, rel, 2) == pytest.approx(1 / 3)
    assert ev.recall_at_k(ranked, rel, 3) == pytest.approx(2 / 3)
    assert ev.reciprocal_rank(["a", "b"], {"a"}) == 1.0
    assert ev.reciprocal_rank(["x", "a"], {"a"}) == 0.5
    # k = 2 < 3 relevant: DCG = 1 (rank 1 only); the ideal ranking is cut at k too: 1 + 1/log2(3).
    assert ev.ndcg_at_k(ranked, rel, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # all top-k relevant is perfect even though a third relevant document is left out
    assert ev.ndcg_at_k(["a", "b", "x", "c"], rel, 2) == pytest.approx(1.0)


def test_ndcg_matches_sklearn_with_binary_relevance():
    import numpy as np
    from sklearn.metrics import ndcg_score
    rng = np.random.default_rng(0)
    docs = [f"d{i}" for i in range(10)]
    for _ in range(12):
        rel = set(rng.choice(docs, size=int(rng.integers(1, 7)), replace=False).tolist())
        ranked = rng.permutation(docs).tolist()
        y_true = [[float(d in rel) for d in ranked]]
        y_score = [[float(len(ranked) - i) for i in range(len(ranked))]]   # distinct: no ties
        for k in (1, 2, 3, 5, 10):
            assert ev.ndcg_at_k(ranked, rel, k) == pytest.approx(ndcg_score(y_true, y_score, k=k))


def test_dataset_labels_point_into_corpus():
    for _, rel in ev.QUERIES:
        assert rel and rel <= set(ev.CORPUS)


@pytest.fixture(scope="module")
def encoder():
    return ev.retrieval.load_encoder()


@pytest.fixture(scope="module")
def ranked(encoder):
    return ev.rankings([q for q, _ in ev.QUERIES], *encoder)


def test_rankings_are_full_permutations_and_recall_by_position(ranked):
    n = len(ev.CORPUS)
    for name, rows in ranked.items():
        for row, (_, rel) in zip(rows, ev.QUERIES):
            assert sorted(row) == sorted(ev.CORPUS)
            (gold,) = rel                                    # one relevant document per query
            pos = row.index(gold)                            # 0-based position in the ranking
            recalls = [ev.recall_at_k(row, rel, k) for k in range(1, n + 1)]
            assert recalls == [float(k > pos) for k in range(1, n + 1)]


def test_bm25_and_dense_rankings_match_independent_oracles(encoder):
    import numpy as np
    from rank_bm25 import BM25Okapi
    # rankings is called here, not through the module fixture: a mutation tool that runs only the
    # tests which called a function would otherwise credit the fixture's call to another test
    ranked = ev.rankings([q for q, _ in ev.QUERIES], *encoder)
    ids = list(ev.CORPUS)
    ref = BM25Okapi([ev.retrieval.tokenize(ev.CORPUS[i]) for i in ids])
    docs = ev.retrieval.embed([ev.CORPUS[i] for i in ids], *encoder)
    qvs = ev.retrieval.embed([q for q, _ in ev.QUERIES], *encoder)
    for qi, (q, _) in enumerate(ev.QUERIES):
        s = ref.get_scores(ev.retrieval.tokenize(q))
        assert ranked["bm25"][qi] == [ids[j] for j in sorted(range(len(ids)), key=lambda j: -s[j])]
        cos = [float(torch.dot(qvs[qi], d)) for d in docs]
        assert ranked["dense"][qi] == [ids[j] for j in np.argsort(-np.array(cos), kind="stable")]


def test_hybrid_is_rrf_of_bm25_and_dense_by_hand(ranked):
    # Fusing a list with itself (or dropping one list) would reproduce one of the inputs; the two
    # systems disagree on this set, so the hybrid must differ from each input somewhere.
    assert ranked["bm25"] != ranked["dense"]
    for bm, de, hy in zip(ranked["bm25"], ranked["dense"], ranked["hybrid"]):
        score = {d: 1 / (60 + bm.index(d) + 1) + 1 / (60 + de.index(d) + 1) for d in bm}
        assert hy == sorted(score, key=lambda d: (-score[d], d))
    assert ranked["hybrid"] != ranked["bm25"] and ranked["hybrid"] != ranked["dense"]


def test_report_means_recall_and_mrr_over_queries(ranked, encoder, monkeypatch):
    monkeypatch.setattr(ev.retrieval, "load_encoder", lambda *a, **kw: encoder)
    results = {1: ev.report(), 3: ev.report(k=3)}
    for k, got in results.items():
        assert set(got) == {"bm25", "dense", "hybrid"}
        for name, rows in ranked.items():
            pos = [row.index(next(iter(rel))) + 1 for row, (_, rel) in zip(rows, ev.QUERIES)]
            hit = sum(p <= k for p in pos) / len(pos)          # one relevant doc: recall@k = hit@k
            mrr = sum(1 / p for p in pos) / len(pos)
            assert got[name] == (pytest.approx(hit), pytest.approx(mrr)), name
    # the claim the page makes: hybrid beats BM25 on this set (paraphrases)
    assert results[1]["hybrid"][1] > results[1]["bm25"][1]


def test_exact_code_queries_win_with_bm25(ranked):
    # Only one document contains each code token, and BM25 scores exact tokens, so by
    # construction BM25 must put that document first; RRF keeps it at the top.
    for i, (query, rel) in enumerate(ev.QUERIES):
        if any(ch.isdigit() for ch in query):
            assert ranked["bm25"][i][0] in rel, query
            assert ranked["hybrid"][i][0] in rel, query


def test_failure_attribution_follows_the_pipeline_order():
    T = ev.FailureTrace
    assert ev.attribute(T(False, None, [], [], True)) == "missing content"
    assert ev.attribute(T(True, None, ["c1"], ["c1"], True)) == "parsing/chunking"
    assert ev.attribute(T(True, "c7", ["c1", "c2"], ["c1"], True)) == "retrieval"
    assert ev.attribute(T(True, "c7", ["c1", "c7"], ["c1"], True)) == "ranking/context"
    assert ev.attribute(T(True, "c7", ["c7"], ["c7"], False)) == "generation: unfaithful"
    assert ev.attribute(T(True, "c7", ["c7"], ["c7"], True)) == "generation: incomplete or wrong"
    # an earlier stage wins even when later signals also look bad
    assert ev.attribute(T(False, "c7", [], [], False)) == "missing content"


def test_stage_shares_counts_and_interval_by_hand():
    T = ev.FailureTrace
    traces = ([T(True, "c7", ["c1"], ["c1"], True)] * 60         # retrieval
              + [T(True, "c7", ["c7"], ["c7"], False)] * 30      # generation: unfaithful
              + [T(False, None, [], [], True)] * 10)             # missing content
    shares = ev.stage_shares(traces)
    assert [s for s, _, _ in shares] == ["retrieval", "generation: unfaithful", "missing content"]
    assert [round(p, 2) for _, p, _ in shares] == [0.6, 0.3, 0.1]
    # 1.96 * sqrt(0.6 * 0.4 / 100) = 0.0960
    assert shares[0][2] == pytest.approx(0.0960, abs=1e-4)


def test_faithfulness_interval_matches_a_cluster_bootstrap():
    import numpy as np
    rng = np.random.default_rng(0)
    # correlated claims: an answer is either grounded (claims supported w.p. 0.97) or drifting (0.4)
    answers = []
    for _ in range(300):
        p = 0.97 if rng.random() < 0.85 else 0.4
        answers.append([int(rng.random() < p) for _ in range(rng.integers(2, 8))])
    est = ev.faithfulness_with_ci(answers)
    boots = []
    for _ in range(2000):
        pick = [answers[i] for i in rng.integers(0, len(answers), len(answers))]
        boots.append(sum(map(sum, pick)) / sum(map(len, pick)))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    assert est["claim_half"] == pytest.approx((hi - lo) / 2, rel=0.15)
    # treating claims as independent understates the uncertainty
    n_claims = sum(map(len, answers))
    naive = 1.96 * math.sqrt(est["claim_rate"] * (1 - est["claim_rate"]) / n_claims)
    assert naive < est["claim_half"]


def test_faithfulness_by_hand():
    judged = [[1, 1, 1, 1]] * 80 + [[1, 1, 0, 0]] * 15 + [[0, 0, 0]] * 5
    est = ev.faithfulness_with_ci(judged)
    assert est["claim_rate"] == pytest.approx((320 + 30) / (320 + 60 + 15))     # 350 / 395
    assert est["answer_rate"] == pytest.approx(0.80)
    assert est["answer_half"] == pytest.approx(1.96 * math.sqrt(0.8 * 0.2 / 100))


def test_claim_half_width_on_three_answers_by_hand():
    import numpy as np
    # s = (2, 0, 3) supported of m = (2, 2, 4) claims: r = 5/8, mean m = 8/3; residuals
    # s - r m = (0.75, -1.25, 0.5), squares sum to 2.375; var = 2.375 / (3 x 2) / (8/3)^2
    est = ev.faithfulness_with_ci([[1, 1], [0, 0], [1, 0, 1, 1]])
    assert est["claim_rate"] == 5 / 8
    var = 2.375 / 6 / (8 / 3) ** 2
    assert est["claim_half"] == pytest.approx(1.96 * math.sqrt(var), rel=1e-12)   # 0.4624
    # the same with numpy: sample variance (ddof=1) of the residuals / n, divided by mean m^2
    e = np.array([2, 0, 3]) - 5 / 8 * np.array([2, 2, 4])
    assert est["claim_half"] == pytest.approx(1.96 * math.sqrt(e.var(ddof=1) / 3) / (8 / 3), rel=1e-12)
    assert est["answer_rate"] == 1 / 3


def test_abstain_threshold_by_hand_and_against_sklearn():
    import numpy as np
    from sklearn.metrics import precision_recall_curve
    scores = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4]
    correct = [1, 1, 1, 0, 1, 1, 0, 0]
    assert ev.abstain_threshold(scores, correct, 0.8) == (0.6, 0.75)   # 5/6 right; 5/7 < 0.8
    assert ev.abstain_threshold(scores, correct, 1.0) == (0.85, 0.375)
    assert ev.abstain_threshold([0.5, 0.4], [0, 0], 0.5) == (math.inf, 0.0)
    rng = np.random.default_rng(0)
    for _ in range(30):
        s = np.round(rng.random(60), 2)                                # rounding creates ties
        c = (rng.random(60) < s).astype(int)
        if c.sum() == 0:
            continue
        prec, _, thr = precision_recall_curve(c, s)
        ok = thr[prec[:-1] >= 0.8]
        t, cov = ev.abstain_threshold(s.tolist(), c.tolist(), 0.8)
        if len(ok) == 0:
            assert t == math.inf
        else:
            assert t == pytest.approx(ok.min())
            assert cov == pytest.approx((s >= ok.min()).mean())


def test_verify_costs_by_hand():
    c = ev.verify_costs(5, 2, 300, 0.6e9, 3000, 300, 5)
    # 5 claims x 2 chunks x 330 tokens x 2 x 0.6e9 = 3.96e12 FLOPs at 1.248e14 FLOP/s
    assert c["nli_gpu_s"] == pytest.approx(3.96e12 / 1.248e14)
    # Sonnet 5.5 list prices (Dec 2026): 3,000 * $2/M + 300 * $10/M = $0.006 + $0.003 = $0.009
    assert c["answer_usd"] == pytest.approx(3000 * 2e-6 + 300 * 10e-6)
    assert c["answer_usd"] == pytest.approx(0.009)
    assert c["selfcheck_usd"] == pytest.approx(5 * 0.009)                  # $0.045


def test_verify_costs_default_hardware_and_prices_exactly():
    # 10 claims x 10 chunks x 1,300 tokens x 2 x 0.6e9 = 1.56e14 FLOPs; the default A100
    # (312e12 bf16 FLOP/s) at 50 % MFU does 1.56e14 per second; every step is exact in floats
    c = ev.verify_costs(10, 10, 1270, 0.6e9, 1_000_000, 100_000, 2, mfu=0.5)
    assert c["nli_gpu_s"] == 1.0
    # 1M input tokens at $2/M + 100k output tokens at $10/M = $3, twice for two samples
    assert (c["answer_usd"], c["selfcheck_usd"]) == (3.0, 6.0)
