"""MinHash vs exact Jaccard, LSH vs its closed-form candidate probability, mixing weights by hand."""
import numpy as np
import pytest

from snippets import load

dp = load("pretraining/data_pipeline")


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
