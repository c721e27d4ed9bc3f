"""Pieces of a pre-training data pipeline: MinHash + LSH near-duplicate detection and
temperature-based data mixing.

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
