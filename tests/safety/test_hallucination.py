"""Tests for snippets/safety/hallucination.py: closed-form entropy and z-statistics, abstention
thresholds and AUROC (vs sklearn, brute force, hand cases, binormal closed form),
and statistical behaviour of the watermark detector."""
import math

import torch

from snippets import load

hl = load("safety/hallucination")


def test_answer_entropy_closed_form():
    assert hl.answer_entropy(["Paris", "paris.", " PARIS "]) == 0.0
    # two clusters 2:2 -> log 2 ; four distinct -> log 4
    assert math.isclose(hl.answer_entropy(["a", "a", "b", "b"]), math.log(2))
    assert math.isclose(hl.answer_entropy(["1", "2", "3", "4"]), math.log(4))
    # 3:1 -> -(3/4 log 3/4 + 1/4 log 1/4)
    assert math.isclose(hl.answer_entropy(["x", "x", "x", "y"]), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_green_list_size_and_determinism():
    m = hl.green_list(7, 1000, 0.25)
    assert int(m.sum()) == 250
    assert torch.equal(m, hl.green_list(7, 1000, 0.25))
    assert not torch.equal(m, hl.green_list(8, 1000, 0.25))


def test_green_list_depends_on_the_secret_key():
    assert torch.equal(hl.green_list(7, 1000, 0.25), hl.green_list(7, 1000, 0.25, key=15485863))
    assert int(hl.green_list(7, 1000, 0.5, key=104729).sum()) == 500
    # for every previous token, token 0 included (a seed of key * prev + c would ignore the key after 0),
    # and for keys that differ in one unit
    for prev in (0, 1, 7, 999):
        lists = [hl.green_list(prev, 1000, 0.25, key=k) for k in (15485863, 104729, 15485864)]
        assert not torch.equal(lists[0], lists[1]) and not torch.equal(lists[0], lists[2]), prev


def test_soft_watermark_green_rate_matches_closed_form():
    # uniform LM (all logits 0): adding delta to gamma V green logits makes a token green with probability
    # gamma e^delta / (gamma e^delta + 1 - gamma) (Kirchenbauer et al., 2023): 0.711 for gamma 0.25, delta 2
    V, T = 40, 3000
    table = torch.zeros(V, V)
    for gamma, delta in ((0.25, 2.0), (0.5, 1.0)):
        toks = hl.generate(table, T, gamma=gamma, delta=delta, seed=1)
        green = sum(bool(hl.green_list(p, V, gamma)[t]) for p, t in zip(toks[:-1], toks[1:])) / T
        p = gamma * math.exp(delta) / (gamma * math.exp(delta) + 1 - gamma)
        assert abs(green - p) < 4 * math.sqrt(p * (1 - p) / T)
    assert torch.equal(table, torch.zeros(V, V))                        # the LM itself is not modified


def test_generation_is_reproducible_from_its_seed():
    torch.manual_seed(0)
    table = torch.randn(30, 30)
    a = hl.generate(table, 40)
    torch.manual_seed(123)                                  # the global RNG must not matter
    assert hl.generate(table, 40) == a == hl.generate(table, 40, gamma=0.25, delta=2.0, seed=0)
    assert hl.generate(table, 40, seed=1) != a
    assert a[0] == 0 and len(a) == 41


def test_z_score_counts_the_last_step():
    V, gamma = 50, 0.25
    toks = [0]
    for step in range(8):                                   # red, then green on the last step only
        mask = hl.green_list(toks[-1], V, gamma)
        toks.append(int(torch.nonzero(mask if step == 7 else ~mask).flatten()[0]))
    expected = (1 - gamma * 8) / math.sqrt(8 * gamma * (1 - gamma))
    assert math.isclose(hl.watermark_z_score(toks, V, gamma), expected, rel_tol=1e-9)


def test_z_score_matches_formula_by_hand():
    V, gamma = 50, 0.25
    # build a sequence where we know the green count: pick green tokens for the first 6 steps,
    # red tokens for the next 10
    toks = [0]
    for step in range(16):
        mask = hl.green_list(toks[-1], V, gamma)
        idx = torch.nonzero(mask if step < 6 else ~mask).flatten()
        toks.append(int(idx[0]))
    T, green = 16, 6
    expected = (green - gamma * T) / math.sqrt(T * gamma * (1 - gamma))
    assert math.isclose(hl.watermark_z_score(toks, V, gamma), expected, rel_tol=1e-9)


def test_detector_separates_watermarked_from_plain_text():
    torch.manual_seed(0)
    V = 200
    table = torch.randn(V, V) * 2
    zs_wm = [hl.watermark_z_score(hl.generate(table, 150, watermark=True, seed=s), V) for s in range(3)]
    zs_plain = [hl.watermark_z_score(hl.generate(table, 150, watermark=False, seed=s), V) for s in range(3)]
    assert min(zs_wm) > 4.0
    assert max(abs(z) for z in zs_plain) < 4.0


# --- abstention. Oracles: sklearn's roc_auc_score, a brute-force numpy search over thresholds,
# hand-worked small cases, and the binormal closed form AUROC = Phi(d / sqrt(2)).
import numpy as np
import pytest
from scipy import optimize, stats
from sklearn.metrics import roc_auc_score


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    wrong = rng.random(300) < 0.3
    score = np.round(rng.normal(size=300) + 0.8 * wrong, 1)      # rounding creates ties
    assert abs(hl.auroc(score.tolist(), wrong.tolist()) - roc_auc_score(wrong, score)) < 1e-12


def test_auroc_binormal_closed_form():
    rng = np.random.default_rng(1)
    wrong = rng.random(4000) < 0.25
    score = rng.normal(size=4000) + 1.2 * wrong
    assert abs(hl.auroc(score.tolist(), wrong.tolist()) - stats.norm.cdf(1.2 / math.sqrt(2))) < 0.02


def test_threshold_by_hand():
    s, w = [0.1, 0.2, 0.3, 0.4, 0.5], [False, False, True, False, True]
    # answered-error at each cut: 0, 0, 1/3, 1/4, 2/5 -> best with risk <= 0.25 is tau = 0.4
    assert hl.pick_abstain_threshold(s, w, 0.25) == (0.4, 0.8, 0.25)
    assert hl.pick_abstain_threshold(s, w, 0.0) == (0.2, 0.4, 0.0)
    # tied scores cannot be split: cutting at 0.2 answers all three
    assert hl.pick_abstain_threshold([0.1, 0.2, 0.2], [False, False, True], 0.4) == pytest.approx((0.2, 1.0, 1 / 3))
    assert hl.pick_abstain_threshold([0.1, 0.2, 0.2], [False, False, True], 0.2) == pytest.approx((0.1, 1 / 3, 0.0))
    assert hl.pick_abstain_threshold([0.5], [True], 0.1) == (float("-inf"), 0.0, 0.0)   # answer nothing


def test_threshold_matches_brute_force():
    rng = np.random.default_rng(2)
    wrong = rng.random(500) < 0.25
    score = np.round(rng.normal(size=500) + 1.2 * wrong, 2)
    for target in (0.05, 0.10, 0.2):
        best_cov, best = 0.0, None
        for t in np.unique(score):
            ans = score <= t
            if wrong[ans].mean() <= target and ans.mean() > best_cov:
                best_cov, best = ans.mean(), (t, ans.mean(), wrong[ans].mean())
        tau, cov, risk = hl.pick_abstain_threshold(score.tolist(), wrong.tolist(), target)
        assert tau == pytest.approx(best[0]) and cov == pytest.approx(best[1]) and risk == pytest.approx(best[2])


def test_expected_coverage_closed_form_vs_scipy():
    for r in (0.10, 0.05):
        f = lambda t: 0.25 * stats.norm.cdf(t - 1.2) / (0.25 * stats.norm.cdf(t - 1.2) + 0.75 * stats.norm.cdf(t)) - r
        t = optimize.brentq(f, -10, 10)
        assert hl.expected_coverage(r) == pytest.approx(0.25 * stats.norm.cdf(t - 1.2) + 0.75 * stats.norm.cdf(t), abs=1e-9)
    assert hl.expected_coverage(0.10) == pytest.approx(0.558, abs=0.001)   # the page's "about 56%"
    assert hl.expected_coverage(0.05) == pytest.approx(0.270, abs=0.001)   # the page's "about 27%"


def test_median_coverage_over_many_dev_sets_matches_expected():
    """The page quotes the expected value, not one run: the median over 200 simulated
    1,000-question dev sets sits near the closed form (slightly above: the threshold is tuned
    on the same set it is scored on), while single runs spread widely."""
    rng = np.random.default_rng(3)
    covs = {0.10: [], 0.05: []}
    for _ in range(200):
        wrong = rng.random(1000) < 0.25
        score = rng.normal(size=1000) + 1.2 * wrong
        for r in covs:
            covs[r].append(hl.pick_abstain_threshold(score.tolist(), wrong.tolist(), r)[1])
    assert np.median(covs[0.10]) == pytest.approx(hl.expected_coverage(0.10), abs=0.02)
    assert np.median(covs[0.05]) == pytest.approx(hl.expected_coverage(0.05), abs=0.035)
    lo, hi = np.percentile(covs[0.10], [2.5, 97.5])
    assert lo < 0.48 and hi > 0.63                                  # one run can be far off


# --- issue 22: how much text a watermark test needs -----------------------------------------------

def test_tokens_for_z_by_hand_and_boundary():
    # gamma = 0.25, green fraction 0.5: 16 * 0.1875 / 0.0625 = 48 tokens
    assert hl.tokens_for_z(0.5) == 48
    # after paraphrasing to 35% green: 16 * 0.1875 / 0.01 = 300 tokens
    assert hl.tokens_for_z(0.35) == 300
    for g in (0.3, 0.42, 0.6):
        T = hl.tokens_for_z(g)
        z = lambda n: (g - 0.25) * math.sqrt(n) / math.sqrt(0.25 * 0.75)
        assert z(T) >= 4 - 1e-9 and z(T - 1) < 4


def _exact_detection_rate(T: int, g: float, gamma: float = 0.25, z: float = 4.0) -> float:
    from scipy.stats import binom
    k = math.ceil(gamma * T + z * math.sqrt(T * gamma * (1 - gamma)) - 1e-12)   # fewest green tokens with z >= 4
    return binom.sf(k - 1, T, g)


def test_tokens_for_detection_by_hand_and_exact_binomial():
    # (0.25 sqrt T) = 4 * 0.4330 + 1.6449 * 0.5 = 2.5545 -> T = 10.218^2 = 104.4 -> 105
    assert hl.tokens_for_detection(0.5) == 105
    # at the 48 tokens where the expected z equals 4, only about half the texts clear it
    assert 0.45 < _exact_detection_rate(48, 0.5) < 0.6
    # exact binomial: 105 tokens detect at least 95%; the first length that does is 102 (the discreteness
    # of the threshold makes the exact curve saw-toothed), far from 48
    assert _exact_detection_rate(105, 0.5) >= 0.95
    first = next(T for T in range(40, 200) if _exact_detection_rate(T, 0.5) >= 0.95)
    assert first == 102
    # power = 0.5 reduces to tokens_for_z
    assert hl.tokens_for_detection(0.5, power=0.5) == hl.tokens_for_z(0.5) == 48


def test_one_sided_fpr_against_scipy_and_simulation():
    from scipy.stats import norm, binom
    for z in (2.0, 4.0, 5.0):
        assert math.isclose(hl.one_sided_fpr(z), norm.sf(z), rel_tol=1e-9)
    # exact binomial tail for T = 200, gamma = 0.25: P(green >= 50 + 4 * 6.124) is close to the normal 3e-5
    T, gamma = 200, 0.25
    k = math.ceil(gamma * T + 4 * math.sqrt(T * gamma * (1 - gamma)))
    exact = binom.sf(k - 1, T, gamma)
    assert 1e-5 < exact < 1e-4 and hl.one_sided_fpr(4) < 1e-4


# --- session 10: case-folding, tail accuracy and boundaries of expected_coverage, input checks -------

def test_answer_entropy_clusters_case_folded_answers():
    # str.casefold is Unicode's caseless match: lower() keeps 'straße' apart from 'strasse' and the Greek
    # final sigma of 'ΟΔΟΣ'.lower() = 'οδος' apart from 'οδοσ'
    assert hl.answer_entropy(["Straße", "STRASSE", "strasse!"]) == 0.0
    assert hl.answer_entropy(["ΟΔΟΣ", "οδοσ", "Οδοσ"]) == 0.0
    assert math.isclose(hl.answer_entropy(["Straße", "STRASSE", "Berlin", "berlin"]), math.log(2))


def _coverage_log_space(r: float, p: float = 0.25, d: float = 1.2) -> float:
    """Independent oracle: root of log risk(t) = log r with SciPy's log_ndtr (exact far into the tails)."""
    from scipy import special
    log_risk = lambda t: math.log(p) + special.log_ndtr(t - d) - special.logsumexp(
        [math.log(p) + special.log_ndtr(t - d), math.log(1 - p) + special.log_ndtr(t)])
    t = optimize.brentq(lambda t: log_risk(t) - math.log(r), -80, 80 + d, xtol=1e-14, rtol=1e-15)
    return p * stats.norm.cdf(t - d) + (1 - p) * stats.norm.cdf(t)


def test_expected_coverage_in_the_tails_against_log_space_root():
    # thresholds from +1.8 down to -15.7: 0.5 (1 + erf) would be 2% off at -8 and 0 below -8.4,
    # and a search confined to [-10, 10] would stop at -10 (r = 3e-7 sits at -10.9)
    for r in (0.2, 1e-3, 1e-5, 3e-7, 1e-9):
        assert hl.expected_coverage(r) == pytest.approx(_coverage_log_space(r), rel=1e-9), r
    # other prevalence and separation: p = 0.5, d = 3
    for r in (0.3, 0.01, 1e-6):
        assert hl.expected_coverage(r, p_wrong=0.5, d=3.0) == pytest.approx(_coverage_log_space(r, 0.5, 3.0), rel=1e-9)


def test_expected_coverage_boundaries():
    # no tolerated error: answer nothing; tolerating the base error rate or more: answer everything
    assert hl.expected_coverage(0.0) == 0.0
    for r in (0.25, 0.3, 1.0):
        assert hl.expected_coverage(r) == 1.0, r
    # a threshold far above 10: d = 20, risk 0.2 = 0.25 x / (0.25 x + 0.75) at x = Phi(t - 20) = 0.75, t = 20.67,
    # so coverage = 0.25 * 0.75 + 0.75 * Phi(20.67) = 0.9375
    assert hl.expected_coverage(0.2, d=20.0) == pytest.approx(0.9375, abs=1e-12)
    # coverage rises with the risk allowed
    covs = [hl.expected_coverage(r) for r in (1e-6, 1e-4, 0.01, 0.05, 0.1, 0.2, 0.24)]
    assert covs == sorted(covs) and len(set(covs)) == len(covs)


def test_green_list_size_is_gamma_vocab_rounded():
    # 0.25 * 7 = 1.75 -> 2 ; 0.37 * 10 = 3.7 -> 4 ; 0.3 * 11 = 3.3 -> 3 (rounded, not truncated)
    for vocab, gamma, k in ((7, 0.25, 2), (10, 0.37, 4), (11, 0.3, 3)):
        m = hl.green_list(3, vocab, gamma)
        assert m.dtype == torch.bool and m.shape == (vocab,) and int(m.sum()) == k


def test_generate_rejects_a_non_square_table():
    for shape in ((5, 8), (8, 5), (4,)):
        with pytest.raises(ValueError, match=r"\(vocab, vocab\)"):
            hl.generate(torch.zeros(shape), 3)
