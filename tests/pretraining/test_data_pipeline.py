"""MinHash vs exact Jaccard, LSH vs its closed-form candidate probability, mixing weights by hand."""
import hashlib
import itertools

import numpy as np
import pytest

from checks import fail_after

from snippets import load

dp = load("pretraining/data_pipeline")


@pytest.fixture(autouse=True)
def no_endless_loop():
    """The suffix-array and keep-first loops advance an index by hand; a wrong step never returns.
    A 20 s alarm turns such a hang into a failure that names the test instead of a stuck run."""
    with fail_after(20, "pretraining/data_pipeline"):
        yield


def make_pair(rng, n_words, n_edits):
    vocab = [f"t{i}" for i in range(20000)]
    a = list(rng.choice(vocab, n_words))
    b = a.copy()
    for i in rng.choice(n_words, n_edits, replace=False):
        b[i] = "edited" + str(i)
    return " ".join(a), " ".join(b)


def test_shingles_and_exact_jaccard_by_hand():
    assert dp.shingles("a b c d", n=2) == {"a b", "b c", "c d"}
    # {ab, bc, cd} vs {ab, bc, cx}: intersection 2, union 4
    assert dp.jaccard(dp.shingles("a b c d", 2), dp.shingles("a b c x", 2)) == pytest.approx(0.5)
    # default n = 5 word shingles, case-folded: 6 words -> 2 shingles
    assert dp.shingles("The cat sat on THE mat") == {"the cat sat on the", "cat sat on the mat"}
    # a document shorter than n is one shingle of all its words, not an empty set (two different
    # short documents would otherwise both be empty and "identical")
    assert dp.shingles("hello world") == {"hello world"}
    assert dp.jaccard(dp.shingles("hello world"), dp.shingles("goodbye world")) == 0.0
    assert dp.jaccard(set(), set()) == 1.0                  # two empty documents are the same document


@pytest.mark.parametrize("n_edits", [0, 5, 20, 60, 300])
def test_minhash_estimate_close_to_exact_jaccard(n_edits):
    rng = np.random.default_rng(n_edits)
    a, b = make_pair(rng, 300, n_edits)
    sa, sb = dp.shingles(a), dp.shingles(b)
    exact = dp.jaccard(sa, sb)
    est = dp.estimate_jaccard(dp.minhash_signature(sa, 256, seed=1), dp.minhash_signature(sb, 256, seed=1))
    # std of the estimate is sqrt(J(1-J)/256) <= 0.031
    assert abs(est - exact) < 0.1
    if n_edits == 0:
        assert est == 1.0


def test_minhash_is_unbiased_over_hash_seeds():
    rng = np.random.default_rng(7)
    a, b = make_pair(rng, 200, 12)
    sa, sb = dp.shingles(a), dp.shingles(b)
    exact = dp.jaccard(sa, sb)
    ests = [dp.estimate_jaccard(dp.minhash_signature(sa, 64, seed=s), dp.minhash_signature(sb, 64, seed=s))
            for s in range(60)]
    # mean of 60 * 64 independent Bernoulli(J) draws: std < 0.01
    assert np.mean(ests) == pytest.approx(exact, abs=0.03)


def test_minhash_positions_are_independent_hash_functions():
    # Small sets make a shortcut visible: if the num_perm hash functions were not drawn independently
    # (one multiplier a shared by all, say), the positions would agree or disagree together and the
    # estimate would spread far more than the Binomial(k, J) / k of k independent min-wise hashes.
    A = {f"x{i}" for i in range(10)}
    B = {f"x{i}" for i in range(5, 15)}
    J, k = 5 / 15, 64
    est = np.array([dp.estimate_jaccard(dp.minhash_signature(A, k, seed=s), dp.minhash_signature(B, k, seed=s))
                    for s in range(100)])
    assert est.mean() == pytest.approx(J, abs=3 * np.sqrt(J * (1 - J) / k / 100))
    # sample variance over 100 seeds vs J(1-J)/k: its relative standard error is sqrt(2/99) ~ 0.14
    assert 0.6 < est.var(ddof=1) / (J * (1 - J) / k) < 1.6


def test_lsh_candidate_rate_matches_closed_form():
    rng = np.random.default_rng(3)
    a, b = make_pair(rng, 300, 22)
    sa, sb = dp.shingles(a), dp.shingles(b)
    s = dp.jaccard(sa, sb)
    bands, rows = 10, 6
    hits = 0
    trials = 150
    for seed in range(trials):
        sigs = [dp.minhash_signature(x, bands * rows, seed=seed) for x in (sa, sb)]
        hits += (0, 1) in dp.lsh_candidate_pairs(sigs, bands, rows)
    expected = 1 - (1 - s ** rows) ** bands                 # written out by hand
    assert 0.2 < expected < 0.95                            # the interesting middle of the S-curve
    assert hits / trials == pytest.approx(expected, abs=0.12)
    assert dp.lsh_candidate_probability(s, bands, rows) == pytest.approx(expected)


def test_lsh_threshold_of_fineweb_settings():
    # 14 bands x 8 rows: the S-curve's midpoint is about (1/14)^(1/8) ~ 0.72
    assert (1 / 14) ** (1 / 8) == pytest.approx(0.719, abs=1e-3)
    assert dp.lsh_candidate_probability(0.8, 14, 8) == pytest.approx(1 - (1 - 0.8 ** 8) ** 14)
    assert dp.lsh_candidate_probability(0.3, 14, 8) < 1e-3


def test_temperature_mixture_by_hand():
    sizes = {"a": 900.0, "b": 100.0}
    assert dp.temperature_mixture(sizes, 1.0) == pytest.approx({"a": 0.9, "b": 0.1})
    assert dp.temperature_mixture(sizes, 0.0) == pytest.approx({"a": 0.5, "b": 0.5})
    # alpha = 0.5: sqrt(900) = 30, sqrt(100) = 10 -> 0.75 / 0.25
    assert dp.temperature_mixture(sizes, 0.5) == pytest.approx({"a": 0.75, "b": 0.25})


# --- exact, suffix-array substring and SimHash deduplication ---------------------------------

def test_exact_dedup_normalises_case_and_whitespace():
    docs = ["The cat sat.", "the  cat\nsat.", "The cat sat!", "THE CAT SAT."]
    assert dp.exact_dedup(docs) == [0, 2]        # "!" differs; the rest normalise to one string


@pytest.mark.parametrize("seed", range(6))
def test_suffix_array_matches_sorted_suffixes(seed):
    rng = np.random.default_rng(seed)
    seq = list(rng.integers(0, 3, 40))           # small alphabet: many long repeats and ties
    sa = dp.suffix_array(seq)
    assert sa == sorted(range(len(seq)), key=lambda i: seq[i:])
    lcp = dp.lcp_array(seq, sa)
    assert lcp[0] == 0                           # the smallest suffix has no predecessor
    for r in range(1, len(seq)):                 # LCP by direct comparison
        a, b = seq[sa[r - 1]:], seq[sa[r]:]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        assert lcp[r] == n


def test_lcp_array_by_hand():
    # all suffixes of "5 5 5" are prefixes of each other: sorted shortest first, LCPs 0, 1, 2
    assert dp.suffix_array([5, 5, 5]) == [2, 1, 0]
    assert dp.lcp_array([5, 5, 5], [2, 1, 0]) == [0, 1, 2]
    # distinct tokens: no two suffixes share a first token, every LCP is 0 (Kasai must restart at 0
    # after the smallest suffix, position 0 here)
    assert dp.lcp_array([0, 1, 2], [0, 1, 2]) == [0, 0, 0]
    # "2 1 0 1 0": sorted 0 | 0 1 0 | 1 0 | 1 0 1 0 | 2 1 0 1 0
    assert dp.suffix_array([2, 1, 0, 1, 0]) == [4, 2, 3, 1, 0]
    assert dp.lcp_array([2, 1, 0, 1, 0], [4, 2, 3, 1, 0]) == [0, 1, 0, 2, 0]


def brute_force_mask(docs, k):
    """Token i of doc d is duplicated iff some k-gram covering it occurs >= 2 times in the corpus."""
    from collections import Counter
    grams = Counter(tuple(doc[i:i + k]) for doc in docs for i in range(len(doc) - k + 1))
    mask = [[False] * len(doc) for doc in docs]
    for d, doc in enumerate(docs):
        for i in range(len(doc) - k + 1):
            if grams[tuple(doc[i:i + k])] >= 2:
                for j in range(i, i + k):
                    mask[d][j] = True
    return mask


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [2, 3, 5])
def test_duplicated_token_mask_matches_brute_force(seed, k):
    rng = np.random.default_rng(100 + seed)
    docs = [list(rng.integers(0, 4, rng.integers(3, 25))) for _ in range(4)]
    docs[1][2:2] = docs[0][:6]                   # plant a cross-document copy
    assert dp.duplicated_token_mask(docs, k) == brute_force_mask(docs, k)


def brute_force_later_copies(docs, k):
    """keep_first oracle: a k-gram occurrence is struck iff the same k-gram already occurred
    earlier in corpus order (document by document, left to right)."""
    seen, mask = set(), [[False] * len(doc) for doc in docs]
    for d, doc in enumerate(docs):
        for i in range(len(doc) - k + 1):
            g = tuple(doc[i:i + k])
            if g in seen:
                for j in range(i, i + k):
                    mask[d][j] = True
            seen.add(g)
    return mask


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("k", [2, 3, 5])
def test_keep_first_matches_brute_force(seed, k):
    rng = np.random.default_rng(200 + seed)
    docs = [list(rng.integers(0, 4, rng.integers(3, 25))) for _ in range(4)]
    docs[2][1:1] = docs[0][:7]                   # plant a cross-document copy
    docs[0] += docs[0][:k]                       # and a copy inside one document
    assert dp.duplicated_token_mask(docs, k, keep_first=True) == brute_force_later_copies(docs, k)


def test_keep_first_hand_example():
    # "3 4 5 6" occurs in both documents: only the second (later) copy is struck.
    docs = [[1, 2, 3, 4, 5, 6, 7], [9, 3, 4, 5, 6, 8]]
    assert dp.duplicated_token_mask(docs, 4, keep_first=True) == \
        [[False] * 7, [False, True, True, True, True, False]]
    # Three copies of "7 7 7": the first survives, the two later ones go.
    assert dp.duplicated_token_mask([[7, 7, 7, 1], [7, 7, 7], [2, 7, 7, 7]], 3, keep_first=True) == \
        [[False] * 4, [True] * 3, [False, True, True, True]]


def test_duplicated_token_mask_hand_example():
    # "3 4 5 6" occurs in both documents; "1 2" and "7", "9", "8" are unique.
    mask = dp.duplicated_token_mask([[1, 2, 3, 4, 5, 6, 7], [9, 3, 4, 5, 6, 8]], 4)
    assert mask == [[False, False, True, True, True, True, False], [False, True, True, True, True, False]]
    # Threshold longer than the shared run: nothing is removed, and no match crosses documents.
    assert not any(any(m) for m in dp.duplicated_token_mask([[1, 2, 3, 4, 5, 6, 7], [9, 3, 4, 5, 6, 8]], 5))
    assert dp.duplicated_token_mask([[1, 2], [1, 2]], 3) == [[False, False], [False, False]]


@pytest.mark.parametrize("cos", [0.95, 0.7, 0.0, -0.5])
def test_hyperplane_bit_disagreement_is_theta_over_pi(cos):
    rng = np.random.default_rng(1)
    dim, n_bits = 32, 20000
    x = rng.standard_normal(dim)
    x /= np.linalg.norm(x)
    z = rng.standard_normal(dim)
    z -= (z @ x) * x
    z /= np.linalg.norm(z)
    y = cos * x + np.sqrt(1 - cos ** 2) * z      # exactly the requested cosine with x
    planes = rng.standard_normal((n_bits, dim))
    # bit b = [r_b . x > 0], strictly: the zero vector lies on no plane's positive side
    assert not dp.hyperplane_bits(np.zeros(dim), planes).any()
    rate = np.mean(dp.hyperplane_bits(x, planes) != dp.hyperplane_bits(y, planes))
    p = np.arccos(cos) / np.pi                   # Charikar: P[bit differs] = theta / pi
    se = np.sqrt(p * (1 - p) / n_bits)           # binomial standard error of the rate
    assert abs(rate - p) <= 4 * se + 1e-12


def test_simhash_equals_sign_of_pm1_projection():
    # SimHash with weights w is the hyperplane scheme with +-1 "planes" given by the feature hashes.
    feats = {f"f{i}": float(w) for i, w in enumerate(np.random.default_rng(2).uniform(0.1, 3, 50))}
    names = list(feats)
    R = np.array([[1.0 if (dp._hash64(f) >> b) & 1 else -1.0 for f in names] for b in range(64)])
    bits = R @ np.array([feats[f] for f in names]) > 0
    assert dp.simhash(feats) == sum(1 << b for b in range(64) if bits[b])
    # Any real weights, negative ones too (the hyperplane scheme works for every vector): with a
    # negative total weight a bit the hash never sets (bit 64 of a 64-bit hash) would get a positive
    # total, so the fingerprint must stop at `bits` bits.
    signed = {f: w * (-1) ** i - 1.0 for i, (f, w) in enumerate(feats.items())}
    bits = R @ np.array([signed[f] for f in names]) > 0
    assert sum(signed.values()) < 0
    assert dp.simhash(signed) == sum(1 << b for b in range(64) if bits[b]) < 1 << 64
    h = dp._hash64("x")
    assert dp.simhash({"x": -2.0}) == ~h & (1 << 64) - 1          # one feature, negative: its hash, inverted
    assert dp.simhash({"x": 2.0}) == h


def test_simhash_near_duplicates_close_unrelated_far():
    rng = np.random.default_rng(3)
    a, b = make_pair(rng, 400, 4)
    c, _ = make_pair(rng, 400, 0)
    fp = [dp.simhash({s: 1.0 for s in dp.shingles(t, 3)}) for t in (a, b, c)]
    assert dp.hamming(fp[0], fp[1]) <= 10        # ~3% of shingles changed
    assert 20 <= dp.hamming(fp[0], fp[2]) <= 44  # unrelated: Binomial(64, 1/2), mean 32, sd 4


def test_simhash_candidates_find_every_close_pair():
    rng = np.random.default_rng(4)
    base = [int(v) for v in rng.integers(0, 2 ** 63, 30, dtype=np.int64)]
    fps = list(base)
    for v in base[:15]:                          # near copies with 0-4 flipped bits
        flip = rng.choice(64, rng.integers(0, 5), replace=False)
        fps.append(v ^ sum(1 << int(b) for b in flip))
    for max_dist in (2, 3, 4):
        brute = {(i, j) for i in range(len(fps)) for j in range(i + 1, len(fps))
                 if bin(fps[i] ^ fps[j]).count("1") <= max_dist}
        assert dp.simhash_candidates(fps, max_dist) == brute
        assert brute                              # the test is not vacuous


@pytest.mark.parametrize("max_dist", [1, 2, 3, 4, 5])
def test_simhash_candidates_flips_at_block_edges(max_dist):
    # Pigeonhole over max_dist + 1 blocks: flipped bits placed on the first and last bit of blocks are
    # where a block that is a bit too wide, too narrow or shifted would lose a pair.
    rng = np.random.default_rng(max_dist)
    blocks = max_dist + 1
    edges = [round(i * 64 / blocks) for i in range(blocks + 1)]       # the blocks the docstring describes
    edge_bits = sorted({e for e in edges[1:-1]} | {e - 1 for e in edges[1:]} | {0})
    v = int(rng.integers(0, 2 ** 63, dtype=np.int64)) | 1 << 63
    for flips in itertools.combinations(edge_bits, max_dist):
        w = v ^ sum(1 << b for b in flips)
        assert dp.simhash_candidates([v, w], max_dist) == {(0, 1)}, flips
    # one flip more than max_dist is not a candidate
    w = v ^ sum(1 << b for b in edge_bits[:max_dist + 1])
    assert dp.simhash_candidates([v, w], max_dist) == set()


def test_simhash_candidates_compare_few_pairs(monkeypatch):
    # The point of the blocks: unrelated fingerprints share no block, so few pairs are verified.
    # 300 random fingerprints, 4 blocks of 16 bits: expected pairs sharing a block
    # 4 * C(300, 2) / 2^16 ~ 2.7, against 44,850 pairs in all.
    rng = np.random.default_rng(5)
    fps = [int(v) for v in rng.integers(0, 2 ** 63, 300, dtype=np.int64)]
    fps = [v | (int(b) << 63) for v, b in zip(fps, rng.integers(0, 2, 300))]
    calls = []
    real = dp.hamming
    monkeypatch.setattr(dp, "hamming", lambda a, b: calls.append(1) or real(a, b))
    assert dp.simhash_candidates(fps, 3) == set()
    assert len(calls) < 30


def test_minhash_defaults_and_hash_family():
    sh = dp.shingles("one two three four five six seven eight")
    sig = dp.minhash_signature(sh)
    assert sig.dtype == np.uint64 and sig.shape == (128,)                   # default 128 permutations
    assert np.array_equal(sig, dp.minhash_signature(sh, 128, seed=0))       # default seed 0
    assert not np.array_equal(sig, dp.minhash_signature(sh, 128, seed=1))
    # entries are values of h_j(x) = (a_j x + b_j) mod p, so below p; the signature of a set is the
    # element-wise minimum of its members' signatures (min over a union)
    assert (sig < dp._PRIME).all()
    one = [dp.minhash_signature({x}, 128, seed=0) for x in sh]
    assert np.array_equal(sig, np.min(np.stack(one), axis=0))


def test_empty_inputs():
    assert dp.suffix_array([]) == []
    assert dp.suffix_array([5]) == [0]
    # no feature votes: every bit total is 0, not > 0, so every bit is 0
    assert dp.simhash({}) == 0
    # a feature with weight 0 votes nothing either
    assert dp.simhash({"x": 0.0}) == 0


def test_normalize_text_by_hand():
    assert dp.normalize_text("  The  Cat\n\tSAT ") == "the cat sat"
    assert dp.normalize_text("") == ""


# --- the exact hash functions ---------------------------------------------------------------------
# Signatures and fingerprints are stored (LSH buckets, SimHash tables) and compared with ones computed
# later, so a signature must depend only on (items, num_perm, seed), never on the run or the version:
# any change of the hash family (another draw of a_j or b_j, another shingle hash, a - b for + b) makes
# old and new signatures of the same document disagree. The tests below derive the values from the
# definition shown on the page, with Python integers and hashlib, independently of the snippet's numpy code.
P61 = (1 << 61) - 1                                         # the Mersenne prime 2^61 - 1


def blake2b64(s: str) -> int:
    """x(s): the 8-byte BLAKE2b digest of the UTF-8 text, read as a little-endian integer."""
    return int.from_bytes(hashlib.blake2b(s.encode("utf-8"), digest_size=8).digest(), "little")


def test_minhash_entries_are_per_position_affine_maps_of_the_blake2b_hash():
    # h_j(x) = (a_j x + b_j) mod p with x = blake2b64(shingle). From the signatures of two one-shingle
    # sets, solve for (a_j, b_j) mod p; a third shingle must then land exactly on a_j x + b_j. This holds
    # for any draw of a and b, but not if x is another hash of the shingle (other byte order or digest
    # size). Each position has its own offset b_j: K independent draws from [0, p) are distinct.
    assert dp._PRIME == P61
    k = 16
    s1, s2, s3 = "the quick brown fox jumps", "over the lazy dog today", "a third shingle here"
    x1, x2, x3 = blake2b64(s1), blake2b64(s2), blake2b64(s3)
    h1, h2, h3 = ([int(v) for v in dp.minhash_signature({s}, k, seed=7)] for s in (s1, s2, s3))
    inv = pow((x1 - x2) % P61, -1, P61)
    a = [(u - v) * inv % P61 for u, v in zip(h1, h2)]
    b = [(u - aj * x1) % P61 for u, aj in zip(h1, a)]
    assert all(0 < aj < P61 for aj in a)
    assert h3 == [(aj * x3 + bj) % P61 for aj, bj in zip(a, b)]
    assert len(set(b)) == k and len(set(a)) == k
    # a set keeps the minimum over its members of each h_j
    assert [int(v) for v in dp.minhash_signature({s1, s2, s3}, k, seed=7)] == [min(t) for t in zip(h1, h2, h3)]


def test_minhash_signature_equals_the_definition_and_is_reproducible():
    # The definition shown on the page: for seed s, a = the first K draws of
    # numpy.random.default_rng(s).integers(1, p, K, dtype=uint64), then b = integers(0, p, K, dtype=uint64)
    # from the same generator; x = blake2b64(shingle); entry j = min over shingles of (a_j x + b_j) mod p.
    items = {"the quick brown", "brown fox jumps", "jumps over the", "over the lazy"}
    for k, seed in ((4, 0), (8, 3)):
        rng = np.random.default_rng(seed)
        a = [int(v) for v in rng.integers(1, P61, k, dtype=np.uint64)]
        b = [int(v) for v in rng.integers(0, P61, k, dtype=np.uint64)]
        expected = [min((a[j] * blake2b64(s) + b[j]) % P61 for s in items) for j in range(k)]
        sig = dp.minhash_signature(items, k, seed=seed)
        assert sig.dtype == np.uint64 and [int(v) for v in sig] == expected
        # the same seed gives the same signature on every call (and process); another seed another one
        assert np.array_equal(dp.minhash_signature(set(items), k, seed=seed), sig)
        assert not np.array_equal(dp.minhash_signature(items, k, seed=seed + 1), sig)


def test_simhash_equals_the_definition_with_blake2b_feature_hashes():
    # h(f) = blake2b64(f); bit i of the fingerprint is 1 iff sum_f w_f * (+1 if bit i of h(f) else -1) > 0
    feats = {"alpha": 1.0, "beta": 2.0, "gamma": 0.5, "delta": 1.25}
    totals = [sum(w if (blake2b64(f) >> i) & 1 else -w for f, w in feats.items()) for i in range(64)]
    assert dp.simhash(feats) == sum(1 << i for i in range(64) if totals[i] > 0)
    assert dp.simhash({"alpha": 1.0}) == blake2b64("alpha")            # one feature: its own hash
    assert dp.simhash(dict(feats)) == dp.simhash(feats)                # no state between calls
