"""Retrieval metrics (recall@k, MRR, nDCG@k), a tiny labeled retrieval set on which BM25,
dense retrieval and their RRF fusion are compared, and per-stage attribution of RAG failures.

Pages: docs/rag/evaluation.{zh,en}.md
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from snippets import load

retrieval = load("rag/retrieval")


# --8<-- [start:metrics]
def recall_at_k(ranked: list[str], relevant: set[str], k: int) -> float:
    """Share of the relevant documents that appear in the top k."""
    return len(set(ranked[:k]) & relevant) / len(relevant)


def reciprocal_rank(ranked: list[str], relevant: set[str]) -> float:
    """1 / rank of the first relevant document (0 if none is retrieved); MRR is its mean."""
    for rank, doc in enumerate(ranked, start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked: list[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG@k: DCG = sum_{i<=k} rel_i / log2(i + 1), divided by the ideal DCG."""
    dcg = sum(1.0 / math.log2(i + 1) for i, d in enumerate(ranked[:k], start=1) if d in relevant)
    ideal = sum(1.0 / math.log2(i + 1) for i in range(1, min(k, len(relevant)) + 1))
    return dcg / ideal
# --8<-- [end:metrics]


# --8<-- [start:dataset]
# A toy knowledge base: an IT help desk. Some queries share exact words (codes, product names)
# with their answer, others are paraphrases that share almost none.
CORPUS: dict[str, str] = {
    "vpn": "To connect to the office network from home, install the GlobalProtect client "
           "and sign in with your staff account.",
    "err-0x80070005": "Error 0x80070005 means access denied: run the installer as an "
                      "administrator.",
    "err-0x80070057": "Error 0x80070057 means a parameter is incorrect: check the date "
                      "format in the form.",
    "password": "Passwords expire every 90 days; change yours on the self-service portal "
                "before it runs out.",
    "printer": "The third-floor printer HP-M479 needs the PCL6 driver; add it from the "
               "print server.",
    "printer-2": "The second-floor printer HP-M404 prints double-sided by default; change it "
                 "in the printing preferences.",
    "laptop-slow": "If your notebook computer is sluggish, close browser tabs and restart it "
                   "once a week.",
    "leave": "Annual leave requests are approved by your manager in the HR system.",
    "wifi": "The guest wireless network is called Visitors and the access code changes "
            "every Monday.",
    "mfa": "Two-step verification uses the Authenticator app; a lost phone must be reported "
           "to the service desk.",
    "backup": "Files saved in the OneDrive folder are backed up automatically every hour.",
    "expenses": "Travel expenses are reimbursed within two weeks after the receipts are "
                "uploaded.",
}

QUERIES: list[tuple[str, set[str]]] = [
    ("what does 0x80070005 mean", {"err-0x80070005"}),
    ("HP-M479 driver", {"printer"}),
    ("fix 0x80070057", {"err-0x80070057"}),
    ("how do I work remotely and reach internal systems", {"vpn"}),
    ("my computer is really slow", {"laptop-slow"}),
    ("my phone with the login codes was stolen", {"mfa"}),
    ("when will I get my money back for a business trip", {"expenses"}),
    ("how often must I change my password", {"password"}),
    ("is my work saved if my disk dies", {"backup"}),
]
# --8<-- [end:dataset]


# --8<-- [start:compare]
def rankings(queries: list[str], tokenizer, model) -> dict[str, list[list[str]]]:
    """Full rankings of CORPUS for each query from BM25, dense (MiniLM) and RRF(BM25, dense)."""
    ids = list(CORPUS)
    bm25 = retrieval.BM25([retrieval.tokenize(CORPUS[i]) for i in ids])
    doc_vecs = retrieval.embed([CORPUS[i] for i in ids], tokenizer, model)
    query_vecs = retrieval.embed(queries, tokenizer, model)
    _, dense_idx = retrieval.dense_search(query_vecs, doc_vecs, k=len(ids))
    out: dict[str, list[list[str]]] = {"bm25": [], "dense": [], "hybrid": []}
    for q, row in zip(queries, dense_idx.tolist()):
        s = bm25.scores(retrieval.tokenize(q))
        bm = sorted(ids, key=lambda i: -s[ids.index(i)])
        de = [ids[j] for j in row]
        out["bm25"].append(bm)
        out["dense"].append(de)
        out["hybrid"].append([d for d, _ in retrieval.reciprocal_rank_fusion([bm, de])])
    return out


def report(k: int = 1) -> dict[str, tuple[float, float]]:
    """Mean recall@k and MRR of each system on QUERIES."""
    tok, model = retrieval.load_encoder()
    ranked = rankings([q for q, _ in QUERIES], tok, model)
    return {name: (sum(recall_at_k(r, rel, k) for r, (_, rel) in zip(rs, QUERIES)) / len(QUERIES),
                   sum(reciprocal_rank(r, rel) for r, (_, rel) in zip(rs, QUERIES)) / len(QUERIES))
            for name, rs in ranked.items()}
# --8<-- [end:compare]


# --8<-- [start:attribution]
@dataclass
class FailureTrace:
    """What the logs and one labeler tell us about a failed question."""
    gold_in_kb: bool              # does any source document contain the answer?
    gold_chunk: str | None        # id of the chunk whose text contains the answer span, if any
    candidates: list[str]         # retriever output before reranking (e.g. top 50), best first
    in_prompt: list[str]          # chunk ids actually placed in the prompt (after rerank/budget)
    faithful: bool                # judge: every claim of the answer supported by the prompt?


def attribute(t: FailureTrace) -> str:
    """First stage, in pipeline order, that lost the answer."""
    if not t.gold_in_kb:
        return "missing content"
    if t.gold_chunk is None:
        return "parsing/chunking"          # in the KB, but no chunk holds the answer span intact
    if t.gold_chunk not in t.candidates:
        return "retrieval"
    if t.gold_chunk not in t.in_prompt:
        return "ranking/context"
    return "generation: unfaithful" if not t.faithful else "generation: incomplete or wrong"


def stage_shares(traces: list[FailureTrace], z: float = 1.96) -> list[tuple[str, float, float]]:
    """(stage, share, 95 % half-width) sorted by share: where to work first."""
    n = len(traces)
    counts = Counter(attribute(t) for t in traces)
    return [(stage, c / n, z * math.sqrt(c / n * (1 - c / n) / n)) for stage, c in counts.most_common()]
# --8<-- [end:attribution]


# --8<-- [start:faithfulness_ci]
def faithfulness_with_ci(supported: list[list[int]], z: float = 1.96) -> dict[str, float]:
    """Faithfulness of a sample of answers, each a list of per-claim judgments (1 supported).

    claim_rate: supported claims / all claims (RAGAS-style, pooled), with a cluster-robust
    half-width (claims of one answer are not independent: linearised ratio estimator).
    answer_rate: share of answers with every claim supported, with a binomial half-width."""
    n = len(supported)
    s = [sum(a) for a in supported]
    m = [len(a) for a in supported]
    r = sum(s) / sum(m)
    mbar = sum(m) / n
    var = sum((si - r * mi) ** 2 for si, mi in zip(s, m)) / (n * (n - 1)) / mbar ** 2
    full = sum(si == mi for si, mi in zip(s, m)) / n
    return {"claim_rate": r, "claim_half": z * math.sqrt(var),
            "answer_rate": full, "answer_half": z * math.sqrt(full * (1 - full) / n)}
# --8<-- [end:faithfulness_ci]


# --8<-- [start:abstain]
def abstain_threshold(scores: list[float], correct: list[int],
                      target_precision: float) -> tuple[float, float]:
    """Lowest confidence threshold t (retrieval or verification score) such that answering only
    when score >= t gives at least target_precision correct answers on the labeled set.
    Returns (t, coverage = share of questions answered); (inf, 0.0) if no threshold reaches it."""
    pairs = sorted(zip(scores, correct), reverse=True)
    best = (math.inf, 0.0)
    hits = 0
    for i, (t, c) in enumerate(pairs):
        hits += c
        last_of_tie = i + 1 == len(pairs) or pairs[i + 1][0] < t
        if last_of_tie and hits / (i + 1) >= target_precision:
            best = (t, (i + 1) / len(pairs))
    return best


def verify_costs(answer_claims: int, chunks_per_claim: int, chunk_tokens: int,
                 nli_params: float, prompt_tokens: int, answer_tokens: int, samples: int,
                 usd_in_per_m: float = 2.0, usd_out_per_m: float = 10.0,
                 peak_flops: float = 312e12, mfu: float = 0.4) -> dict[str, float]:
    """Per-answer cost of two checks. NLI: one cross-encoder pass per (claim, cited chunk) pair,
    about 2 * params FLOPs per token, as GPU seconds. SelfCheck: `samples` extra generations of
    the same prompt, in USD at API prices (no prompt caching); the default prices are Claude
    Sonnet 5.5's list prices as of December 2026 (USD 2 in / 10 out per million tokens)."""
    nli_tokens = answer_claims * chunks_per_claim * (chunk_tokens + 30)
    nli_s = 2 * nli_params * nli_tokens / (peak_flops * mfu)
    one_gen = (prompt_tokens * usd_in_per_m + answer_tokens * usd_out_per_m) / 1e6
    return {"nli_gpu_s": nli_s, "answer_usd": one_gen, "selfcheck_usd": samples * one_gen}
# --8<-- [end:abstain]


if __name__ == "__main__":
    print("recall@2 of [a,b,c] with relevant {b,d}:", recall_at_k(["a", "b", "c"], {"b", "d"}, 2))
    for name, (rec, mrr) in report(k=1).items():
        print(f"{name:6s} recall@1 = {rec:.3f}  MRR = {mrr:.3f}")
    traces = ([FailureTrace(False, None, [], [], True)] * 3
              + [FailureTrace(True, "c7", ["c1", "c2"], ["c1"], True)] * 5
              + [FailureTrace(True, "c7", ["c1", "c7"], ["c1"], True)] * 2)
    for stage, share, half in stage_shares(traces):
        print(f"{stage:20s} {share:.0%} +/- {half:.0%}")
    judged = [[1, 1, 1, 1]] * 80 + [[1, 1, 0, 0]] * 15 + [[0, 0, 0]] * 5
    print("faithfulness on 100 answers:", {k: round(v, 3) for k, v in faithfulness_with_ci(judged).items()})
    scores = [0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.5, 0.4]
    correct = [1, 1, 1, 0, 1, 1, 0, 0]
    print("threshold for 80% precision (t, coverage):", abstain_threshold(scores, correct, 0.8))
    print("check costs per answer:", {k: round(v, 4) for k, v in
                                      verify_costs(5, 2, 300, 0.6e9, 3000, 300, 5).items()})
