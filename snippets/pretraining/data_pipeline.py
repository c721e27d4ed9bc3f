"""Pieces of a pre-training data pipeline: MinHash + LSH near-duplicate detection,
exact and suffix-array substring deduplication, SimHash, and temperature-based data mixing.

Pages: docs/pretraining/data_pipeline.{zh,en}.md
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from itertools import combinations

import numpy as np

_PRIME = (1 << 61) - 1          # Mersenne prime for the universal hash family a*x + b mod p


# --8<-- [start:minhash]
def shingles(text: str, n: int = 5) -> set[str]:
    """Word n-grams ("shingles") of a document; the document is treated as this set."""
    words = text.lower().split()
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity |A ∩ B| / |A ∪ B|."""
    return len(a & b) / len(a | b) if a | b else 1.0


def minhash_signature(items: set[str], num_perm: int = 128, seed: int = 0) -> np.ndarray:
    """MinHash: for each of num_perm random hash functions h_j, keep min_{x in items} h_j(x).

    P[min h_j(A) == min h_j(B)] = Jaccard(A, B), so the fraction of equal entries of
    two signatures is an unbiased estimate of the Jaccard similarity.
    """
    rng = np.random.default_rng(seed)
    a = rng.integers(1, _PRIME, num_perm, dtype=np.uint64).astype(object)
    b = rng.integers(0, _PRIME, num_perm, dtype=np.uint64).astype(object)
    base = [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") for s in items]
    sig = np.full(num_perm, _PRIME, dtype=object)
    for x in base:                                   # h_j(x) = (a_j * x + b_j) mod p
        sig = np.minimum(sig, (a * x + b) % _PRIME)
    return sig.astype(np.uint64)


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of positions where the two signatures agree."""
    return float(np.mean(sig_a == sig_b))
# --8<-- [end:minhash]


# --8<-- [start:lsh]
def lsh_candidate_probability(s: float, bands: int, rows: int) -> float:
    """Probability that two documents with Jaccard s share at least one LSH bucket
    when the signature (bands * rows hashes) is cut into `bands` bands of `rows` rows."""
    return 1.0 - (1.0 - s ** rows) ** bands


def lsh_candidate_pairs(signatures: list[np.ndarray], bands: int, rows: int) -> set[tuple[int, int]]:
    """Bucket every document by each band of its signature; documents that share a
    bucket in any band become candidate pairs (then verified or clustered)."""
    buckets: dict[tuple, list[int]] = defaultdict(list)
    for doc, sig in enumerate(signatures):
        for band in range(bands):
            buckets[(band, sig[band * rows:(band + 1) * rows].tobytes())].append(doc)
    return {pair for docs in buckets.values() for pair in combinations(sorted(docs), 2)}
# --8<-- [end:lsh]


# --8<-- [start:mixing]
def temperature_mixture(sizes: dict[str, float], alpha: float) -> dict[str, float]:
    """Sampling weights p_i ∝ n_i^alpha over data sources of sizes n_i.

    alpha = 1: proportional to size; alpha = 0: uniform; alpha in between
    (e.g. 0.3 in mT5) up-samples small sources such as low-resource languages.
    """
    w = {k: v ** alpha for k, v in sizes.items()}
    z = sum(w.values())
    return {k: v / z for k, v in w.items()}
# --8<-- [end:mixing]


# --8<-- [start:exact_dedup]
def normalize_text(text: str) -> str:
    """Normalisation applied before exact hashing: lower-case, collapse whitespace, strip.
    (Production pipelines often also strip punctuation/digits or apply Unicode NFKC.)"""
    return " ".join(text.lower().split())


def exact_dedup(docs: list[str]) -> list[int]:
    """Indices of the documents kept by exact deduplication: hash each normalised document
    and keep the first occurrence of every hash. Line-level dedup is the same with lines."""
    seen: set[bytes] = set()
    keep = []
    for i, doc in enumerate(docs):
        digest = hashlib.sha1(normalize_text(doc).encode()).digest()
        if digest not in seen:
            seen.add(digest)
            keep.append(i)
    return keep
# --8<-- [end:exact_dedup]


# --8<-- [start:suffix_array]
def suffix_array(seq: list[int]) -> list[int]:
    """Suffix array by prefix doubling, O(n log^2 n): start positions of all suffixes in
    lexicographic order. (Lee et al.'s code builds suffix arrays of corpus chunks in parallel
    with a linear-time algorithm and merges them; this short version is for illustration.)"""
    n = len(seq)
    if n == 0:
        return []
    sa, rank, k = list(range(n)), list(seq), 1
    while True:
        key = lambda i: (rank[i], rank[i + k] if i + k < n else -(1 << 62))
        sa.sort(key=key)
        new = [0] * n
        for a, b in zip(sa, sa[1:]):
            new[b] = new[a] + (key(a) != key(b))
        rank = new
        if rank[sa[-1]] == n - 1 or k >= n:
            return sa
        k *= 2


def lcp_array(seq: list[int], sa: list[int]) -> list[int]:
    """Kasai: lcp[i] = length of the longest common prefix of suffixes sa[i-1] and sa[i]."""
    n = len(seq)
    rank = [0] * n
    for i, s in enumerate(sa):
        rank[s] = i
    lcp, h = [0] * n, 0
    for i in range(n):
        if rank[i] > 0:
            j = sa[rank[i] - 1]
            while i + h < n and j + h < n and seq[i + h] == seq[j + h]:
                h += 1
            lcp[rank[i]] = h
            h = max(h - 1, 0)
        else:
            h = 0
    return lcp


def duplicated_token_mask(docs: list[list[int]], min_len: int,
                          keep_first: bool = False) -> list[list[bool]]:
    """ExactSubstr-style substring dedup: mark every token covered by a substring of at least
    min_len tokens that occurs twice or more anywhere in the corpus (within or across docs).
    keep_first=False strikes every copy, as Lee et al. do; keep_first=True leaves the first
    occurrence (in corpus order) and marks only the later copies.

    Documents are joined with unique negative separators so no match crosses a boundary.
    Adjacent suffixes in the suffix array with LCP >= min_len share that prefix, so both
    occurrences are marked; every repeated min_len-gram has such a neighbour.
    """
    seq, owner = [], []
    for d, doc in enumerate(docs):
        seq += list(doc) + [-(d + 1)]
        owner += [(d, i) for i in range(len(doc))] + [None]
    sa = suffix_array(seq)
    lcp = lcp_array(seq, sa)
    mask = [[False] * len(doc) for doc in docs]

    def mark(start: int, length: int) -> None:
        for pos in range(start, start + length):
            d, i = owner[pos]
            mask[d][i] = True

    if not keep_first:
        for r in range(1, len(seq)):
            if lcp[r] >= min_len:
                mark(sa[r - 1], lcp[r])
                mark(sa[r], lcp[r])
        return mask
    # keep_first: a maximal run of LCP >= min_len in the suffix array is one block of
    # suffixes sharing the same min_len-gram; keep the earliest occurrence, mark the others.
    r = 1
    while r < len(seq):
        if lcp[r] < min_len:
            r += 1
            continue
        block = [sa[r - 1]]
        while r < len(seq) and lcp[r] >= min_len:
            block.append(sa[r])
            r += 1
        first = min(block)
        for start in block:
            if start != first:
                mark(start, min_len)
    return mask
# --8<-- [end:suffix_array]


# --8<-- [start:simhash]
def _hash64(feature: str) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


def simhash(features: dict[str, float], bits: int = 64) -> int:
    """Charikar's SimHash: every feature votes +w on the bits set in its hash and -w on the
    others; the fingerprint keeps the sign of each bit's total. Similar weighted feature
    vectors get fingerprints that differ in few bits."""
    totals = [0.0] * bits
    for f, w in features.items():
        h = _hash64(f)
        for b in range(bits):
            totals[b] += w if (h >> b) & 1 else -w
    return sum(1 << b for b in range(bits) if totals[b] > 0)


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two fingerprints."""
    return bin(a ^ b).count("1")


def hyperplane_bits(x: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Random-hyperplane LSH, the idea behind SimHash: bit b = [r_b . x > 0] for Gaussian r_b.
    For two vectors at angle theta, P[bit differs] = theta / pi. planes: (bits, dim)."""
    return planes @ x > 0


def simhash_candidates(fps: list[int], max_dist: int, bits: int = 64) -> set[tuple[int, int]]:
    """Pairs within Hamming distance max_dist without comparing all pairs: cut each
    fingerprint into max_dist + 1 blocks; by pigeonhole, two fingerprints that differ in at
    most max_dist bits agree exactly on at least one block. Bucket by block, verify pairs."""
    blocks = max_dist + 1
    edges = [round(i * bits / blocks) for i in range(blocks + 1)]
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, fp in enumerate(fps):
        for j in range(blocks):
            lo, hi = edges[j], edges[j + 1]
            buckets[(j, (fp >> lo) & ((1 << (hi - lo)) - 1))].append(i)
    return {(a, b) for ids in buckets.values() for a, b in combinations(sorted(set(ids)), 2)
            if hamming(fps[a], fps[b]) <= max_dist}
# --8<-- [end:simhash]


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(5000)]
    doc = list(rng.choice(vocab, 400))
    near = doc.copy()
    for i in rng.choice(400, 8, replace=False):      # edit 2% of the words
        near[i] = str(rng.choice(vocab))
    other = list(rng.choice(vocab, 400))
    docs = [" ".join(d) for d in (doc, near, other)]
    sets = [shingles(d) for d in docs]
    sigs = [minhash_signature(s, num_perm=112) for s in sets]
    print(f"doc vs near-copy: exact J {jaccard(sets[0], sets[1]):.3f}, MinHash {estimate_jaccard(sigs[0], sigs[1]):.3f}")
    print(f"doc vs unrelated: exact J {jaccard(sets[0], sets[2]):.3f}, MinHash {estimate_jaccard(sigs[0], sigs[2]):.3f}")
    print("LSH candidates (14 bands x 8 rows):", lsh_candidate_pairs(sigs, 14, 8))
    for s in (0.5, 0.7, 0.8, 0.9):
        print(f"  P(candidate | J={s}) = {lsh_candidate_probability(s, 14, 8):.3f}")
    print("mixture alpha=0.3:", {k: round(v, 3) for k, v in
                                  temperature_mixture({"en": 1000, "zh": 100, "sw": 1}, 0.3).items()})

    # Exact, substring and SimHash deduplication.
    corpus = ["Hello  World.", "hello world.", "Another page."]
    print("exact dedup keeps", exact_dedup(corpus))
    toks = [[1, 2, 3, 4, 5, 6, 7], [9, 3, 4, 5, 6, 8], [10, 11]]
    print("tokens in repeated 4-token substrings:", duplicated_token_mask(toks, 4))
    print("same, keeping the first copy:         ", duplicated_token_mask(toks, 4, keep_first=True))
    words_a = [f"w{i}" for i in rng.choice(5000, 300)]
    words_b = words_a.copy()
    words_b[10:16] = ["edit"] * 6
    fa, fb = (simhash({w: 1.0 for w in shingles(" ".join(d), 3)}) for d in (words_a, words_b))
    fc = simhash({w: 1.0 for w in shingles(" ".join(vocab[:300]), 3)})
    print(f"SimHash Hamming distance: near-copy {hamming(fa, fb)}, unrelated {hamming(fa, fc)} (of 64)")
