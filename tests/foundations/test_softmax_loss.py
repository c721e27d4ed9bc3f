"""Softmax / LSE / CE / PPL / KL vs torch built-ins, closed forms and invariants."""
import math

import pytest
import torch
import torch.nn.functional as F

from snippets import load

sl = load("foundations/softmax_loss")


@pytest.mark.parametrize("scale", [1.0, 100.0, 1e4])
def test_softmax_and_logsumexp_match_torch_on_huge_inputs(scale):
    torch.manual_seed(0)
    x = torch.randn(4, 7, 33) * scale
    x[0, 0, :3] = torch.tensor([1e4, -1e4, 1e4])
    torch.testing.assert_close(sl.softmax(x), torch.softmax(x, -1))
    torch.testing.assert_close(sl.logsumexp(x), torch.logsumexp(x, -1))
    torch.testing.assert_close(sl.log_softmax(x), torch.log_softmax(x, -1))
    assert torch.isfinite(sl.softmax(x)).all()


@pytest.mark.parametrize("dim", [0, 1, -2])
def test_softmax_family_along_other_dims(dim):
    torch.manual_seed(3)
    x = torch.randn(3, 4, 5) * 50
    torch.testing.assert_close(sl.softmax(x, dim), torch.softmax(x, dim))
    torch.testing.assert_close(sl.logsumexp(x, dim), torch.logsumexp(x, dim))
    torch.testing.assert_close(sl.log_softmax(x, dim), torch.log_softmax(x, dim))
    torch.testing.assert_close(sl.naive_softmax(x / 50, dim), torch.softmax(x / 50, dim))


def test_naive_softmax_overflows_where_stable_does_not():
    x = torch.tensor([1e4, 1e4 - 1.0])
    assert torch.isnan(sl.naive_softmax(x)).all()
    # exp(0) / (exp(0) + exp(-1)) computed by hand
    torch.testing.assert_close(sl.softmax(x), torch.tensor([1 / (1 + math.exp(-1)), 1 / (1 + math.e)]))


def test_logsumexp_all_minus_inf_row():
    x = torch.full((2, 3), float("-inf"))
    assert torch.equal(sl.logsumexp(x), torch.logsumexp(x, -1))


def test_cross_entropy_matches_f_cross_entropy_with_ignore_index():
    torch.manual_seed(1)
    b, s, V = 3, 5, 11
    logits, y = torch.randn(b, s, V) * 5, torch.randint(0, V, (b, s))
    y[0, :2] = -100                                                  # e.g. prompt tokens not trained on
    ref = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(sl.cross_entropy(logits, y), ref)


def test_cross_entropy_of_bf16_logits_is_computed_in_float32():
    # bf16 keeps 8 bits of mantissa: a log-softmax in bf16 is off by ~1e-2; the loss must come from float32
    torch.manual_seed(4)
    logits, y = (torch.randn(2, 6, 30) * 8).bfloat16(), torch.randint(0, 30, (2, 6))
    ref = F.cross_entropy(logits.float().reshape(-1, 30), y.reshape(-1))
    out = sl.cross_entropy(logits, y)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)


def test_perplexity_closed_forms():
    V = 50
    uniform = torch.zeros(1, 4, V)
    ce = sl.cross_entropy(uniform, torch.randint(0, V, (1, 4)))
    torch.testing.assert_close(ce, torch.tensor(math.log(V)))
    torch.testing.assert_close(sl.perplexity(ce), torch.tensor(float(V)))
    # probabilities 1/2 and 1/8 for the two targets -> PPL = (2 * 8) ** (1/2) = 4
    logits = torch.log(torch.tensor([[[0.5, 0.5, 1e-30], [0.125, 0.875, 1e-30]]]))
    torch.testing.assert_close(sl.perplexity(sl.cross_entropy(logits, torch.tensor([[0, 0]]))), torch.tensor(4.0))


def test_kl_matches_f_kl_div_both_directions_and_is_nonnegative():
    torch.manual_seed(2)
    logp = torch.log_softmax(torch.randn(6, 20), -1)
    logq = torch.log_softmax(torch.randn(6, 20), -1)
    # F.kl_div(input=log q, target=log p, log_target=True) = sum p (log p - log q) = KL(p || q)
    fwd = F.kl_div(logq, logp, reduction="none", log_target=True).sum(-1)
    rev = F.kl_div(logp, logq, reduction="none", log_target=True).sum(-1)
    torch.testing.assert_close(sl.kl_divergence(logp, logq), fwd)
    torch.testing.assert_close(sl.kl_divergence(logq, logp), rev)
    assert (sl.kl_divergence(logp, logq) >= 0).all()
    assert not torch.allclose(fwd, rev)                               # KL is not symmetric
    assert sl.kl_divergence(logp, logp).abs().max() < 1e-6
    # p with zero entries (log p = -inf): 0 log 0 = 0, so KL = sum over p's support, as scipy computes it
    p = torch.tensor([0.0, 0.25, 0.75, 0.0], dtype=torch.float64)
    q = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    kl = sl.kl_divergence(p.log(), q.log())
    assert float(kl) == pytest.approx(0.25 * math.log(0.25 / 0.2) + 0.75 * math.log(0.75 / 0.3), abs=1e-12)


def test_forward_kl_is_mode_covering_reverse_is_mode_seeking():
    grid = torch.linspace(-12, 12, 1201, dtype=torch.float64)
    mu_f, s_f = sl.fit_gaussian_to_mixture("forward", grid)
    mu_r, s_r = sl.fit_gaussian_to_mixture("reverse", grid)
    # Forward KL to a Gaussian = moment matching: mean 0, variance 1 + 3^2 = 10.
    assert abs(mu_f) < 0.05 and abs(s_f - math.sqrt(10)) < 0.06
    # Reverse KL locks onto one mode N(+-3, 1).
    assert abs(abs(mu_r) - 3) < 0.15 and abs(s_r - 1) < 0.1


# --- maximum likelihood view: chain rule, MLE from counts, NLL = H + KL, bits per byte ----------
import itertools

import numpy as np
from scipy.optimize import minimize
from scipy.stats import entropy as scipy_entropy


def test_chain_rule_sequence_probabilities_sum_to_one():
    torch.manual_seed(0)
    V, T = 3, 3
    table = {}                                   # an arbitrary autoregressive model: a table per prefix

    def model(prefix):
        if prefix not in table:
            table[prefix] = torch.log_softmax(torch.randn(V, dtype=torch.float64), -1)
        return table[prefix]

    seqs = list(itertools.product(range(V), repeat=T))
    total = sum(sl.sequence_log_prob(model, list(s)).exp() for s in seqs)
    assert float(total) == pytest.approx(1.0, abs=1e-12)
    s = [2, 0, 1]                                # log p(x) = log p(x1) + log p(x2|x1) + log p(x3|x1,x2)
    by_hand = model(())[2] + model((2,))[0] + model((2, 0))[1]
    assert float(sl.sequence_log_prob(model, s)) == pytest.approx(float(by_hand))


def test_mle_from_counts_minimises_nll_vs_scipy():
    counts = torch.tensor([6.0, 3.0, 1.0, 0.0, 2.0], dtype=torch.float64)
    c = counts.numpy()

    def nll(logits):                             # softmax-parameterised model, optimised by scipy
        logq = logits - np.logaddexp.reduce(logits)
        return -(c * logq).sum() / c.sum()

    res = minimize(nll, np.zeros(5), method="BFGS", options={"gtol": 1e-10})
    q_opt = np.exp(res.x - np.logaddexp.reduce(res.x))
    np.testing.assert_allclose(sl.mle_categorical(counts).numpy(), q_opt, atol=1e-4)
    # the minimum value is the empirical entropy (closed form); scipy's optimum cannot beat it, and gets within
    # 1e-7 of it (the zero-count logit only heads towards -inf, so BFGS stops a few 1e-8 above the minimum)
    ours = float(sl.empirical_nll(sl.mle_categorical(counts[counts > 0]), counts[counts > 0]))
    assert ours == pytest.approx(scipy_entropy(c[c > 0] / c.sum()), abs=1e-12)
    assert ours - 1e-12 <= res.fun < ours + 1e-7


def test_nll_minus_entropy_is_kl_vs_scipy():
    counts = torch.tensor([6.0, 3.0, 1.0], dtype=torch.float64)
    p_hat = sl.mle_categorical(counts)
    for q in ([0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3], [0.6, 0.3, 0.1], [0.05, 0.05, 0.9]):
        q = torch.tensor(q, dtype=torch.float64)
        kl = float(sl.empirical_nll(q, counts) - sl.entropy(p_hat))
        assert kl == pytest.approx(scipy_entropy(p_hat.numpy(), q.numpy()), abs=1e-12)
        assert kl >= -1e-15                      # the data's own frequencies are never beaten
    assert float(sl.entropy(p_hat)) == pytest.approx(scipy_entropy(p_hat.numpy()))
    with_zero = torch.tensor([0.0, 0.6, 0.4], dtype=torch.float64)             # 0 log 0 = 0
    assert float(sl.entropy(with_zero)) == pytest.approx(scipy_entropy(with_zero.numpy()), abs=1e-15)


def test_bits_per_byte_by_hand():
    # 1000 tokens with mean NLL 2.3 nats over a 4200-byte text: 2300 / (ln 2 * 4200) = 0.790047 bits/byte
    assert sl.bits_per_byte(1000 * 2.3, "x" * 4200) == pytest.approx(0.790047, abs=1e-6)
    # Same 12-byte text, same total NLL 6 nats, split into 3 or 6 tokens: token PPL e^2 = 7.389 vs
    # e^1 = 2.718, but bits per byte 6 / (ln 2 * 12) = 0.721348 for both.
    assert math.exp(6.0 / 3) == pytest.approx(7.389056, abs=1e-6)
    assert math.exp(6.0 / 6) == pytest.approx(2.718282, abs=1e-6)
    assert sl.bits_per_byte(6.0, "hello world!") == pytest.approx(0.721348, abs=1e-6)


def test_bits_per_byte_counts_utf8_bytes_not_characters():
    # 8 Chinese characters = 24 UTF-8 bytes (3 each): 6 / (ln 2 * 24) = 0.360674 bits per byte,
    # three times less than dividing by the 8 characters (1.082021 bits per character).
    zh = "语言模型就是压缩"
    assert len(zh) == 8
    assert sl.bits_per_byte(6.0, zh) == pytest.approx(0.360674, abs=1e-6)
    assert sl.bits_per_byte(6.0, zh) * 3 == pytest.approx(6.0 / (math.log(2) * 8))
    # Mixed text: "GPU 显存" is 4 ASCII bytes + 2 * 3 bytes = 10 bytes.
    assert sl.bits_per_byte(1.0, "GPU 显存") == pytest.approx(1 / (math.log(2) * 10))


def test_adaptive_softmax_tail_width_floors_like_torch():
    # 1.1 is stored as slightly more than 1.1, so 11 / 1.1 is just under 10: torch's
    # AdaptiveLogSoftmaxWithLoss floors it (in_features // div_value) to a 9-wide tail, and so must we
    asm = torch.nn.AdaptiveLogSoftmaxWithLoss(11, 20, [5], div_value=1.1)
    h = asm.tail[0][0].out_features
    assert h == 9
    assert sl.adaptive_softmax_flops(11, 20, [5], div_value=1.1)[2] == 2 * 11 * (5 + 1) + 2 * 11 * h + 2 * h * 15


def test_adaptive_softmax_flops_match_torch_module():
    """Count the matmul FLOPs of nn.AdaptiveLogSoftmaxWithLoss for targets in each cluster."""
    from torch.utils.flop_counter import FlopCounterMode
    torch.manual_seed(0)
    d, vocab, cutoffs = 64, 1000, [100, 400]
    asm = torch.nn.AdaptiveLogSoftmaxWithLoss(d, vocab, cutoffs, div_value=4.0)
    full, _, everything = sl.adaptive_softmax_flops(d, vocab, cutoffs)
    per_cluster = []
    for lo, hi in ((0, 100), (100, 400), (400, 1000)):
        x, y = torch.randn(8, d), torch.randint(lo, hi, (8,))
        with FlopCounterMode(display=False) as counter:
            asm(x, y)
        per_cluster.append(counter.get_total_flops() / 8)
    mass = [1.0, 0.0, 0.0]
    assert sl.adaptive_softmax_flops(d, vocab, cutoffs, mass=mass)[1] == per_cluster[0] == 2 * d * 102
    for k in (1, 2):
        mass = [0.0] * 3
        mass[k] = 1.0
        assert sl.adaptive_softmax_flops(d, vocab, cutoffs, mass=mass)[1] == per_cluster[k]
    # the full distribution needs every cluster: head + both tails
    assert everything == per_cluster[1] + per_cluster[2] - per_cluster[0]
    assert full == 2 * d * vocab


def test_zipf_mass_small_vocab_by_hand():
    # ranks 1..4, weights 1, 1/2, 1/3, 1/4 (sum 25/12); clusters [0,1), [1,2), [2,4)
    mass = sl.zipf_cluster_mass(4, [1, 2])
    assert mass == pytest.approx([12 / 25, 6 / 25, 7 / 25], rel=1e-14, abs=0)


def test_zipf_mass_and_152k_example_by_hand():
    # Zipf s = 1: mass of ranks [a, b) ~ (H_b - H_a) / H_V; top 20K of 152,064 ~ 0.838
    mass = sl.zipf_cluster_mass(152_064, [20_000, 60_000])
    h = lambda n: math.log(n) + 0.5772156649 + 1 / (2 * n)
    assert mass[0] == pytest.approx(h(20_000) / h(152_064), abs=1e-4)
    assert sum(mass) == pytest.approx(1.0)
    full, expected, everything = sl.adaptive_softmax_flops(1024, 152_064, [20_000, 60_000])
    assert full == 2 * 1024 * 152_064                                   # 311 MFLOP
    assert round(full / expected, 1) == 7.1 and round(full / everything, 1) == 4.2


def test_cross_entropy_ignored_positions_with_minus_inf_logits_and_one_token_vocab():
    # Ignored positions (padding) whose logits are -inf for some tokens, e.g. a masked vocabulary:
    # they must not turn the loss into nan (inf * 0), as F.cross_entropy shows.
    torch.manual_seed(5)
    logits, y = torch.randn(2, 4, 6), torch.randint(0, 6, (2, 4))
    y[0, 1] = y[1, 3] = -100
    logits[0, 1, :2] = float("-inf")
    logits[1, 3, 0] = float("-inf")
    ref = F.cross_entropy(logits.reshape(-1, 6), y.reshape(-1), ignore_index=-100)
    torch.testing.assert_close(sl.cross_entropy(logits, y), ref)
    # a custom ignore_index, and a 1-token vocabulary: every kept position has p = 1, loss 0
    y2 = y.masked_fill(y == -100, 7)
    torch.testing.assert_close(sl.cross_entropy(logits, y2, ignore_index=7), ref)
    one = torch.randn(1, 3, 1)
    assert float(sl.cross_entropy(one, torch.tensor([[0, -100, 0]]))) == 0.0


def _reference_fit(direction, grid):
    """Brute force over the documented search lattice (mu in -4..4 step 0.1, sigma in 0.5..4.5 step 0.05)
    with scipy's normal log-density and a Riemann sum over the grid."""
    from scipy.stats import norm

    x = grid.numpy()
    logp = np.logaddexp(norm.logpdf(x, -3, 1), norm.logpdf(x, 3, 1)) + math.log(0.5)
    mus = np.round(np.arange(-40, 41) * 0.1, 10)
    sig = np.round(0.5 + np.arange(81) * 0.05, 10)
    logq = norm.logpdf(x[None, None, :], mus[:, None, None], sig[None, :, None])
    a, b = (logp, logq) if direction == "forward" else (logq, logp)
    kl = (np.exp(a) * (a - b)).sum(-1)
    i, j = np.unravel_index(np.argmin(kl), kl.shape)
    return mus[i], sig[j], kl


@pytest.mark.parametrize("lo,hi,n", [(-12.0, 4.0, 801), (-4.0, 12.0, 641), (-2.0, 12.0, 561), (-12.0, -3.5, 171),
                                     (1.0, 12.0, 111), (3.5, 12.0, 86)])
def test_fit_gaussian_matches_scipy_brute_force_on_asymmetric_grids(lo, hi, n):
    # A grid cut on one side makes the fitted mean move off 0 and the two reverse-KL modes unequal, so a
    # sign error in the Gaussian, a wrong search range/step or a wrong mixture weight changes the answer.
    grid = torch.linspace(lo, hi, n, dtype=torch.float64)
    for direction in ("forward", "reverse"):
        mu, s = sl.fit_gaussian_to_mixture(direction, grid)
        mu_ref, s_ref, kl = _reference_fit(direction, grid)
        assert np.sort(kl, axis=None)[1] - kl.min() > 1e-9            # unique minimum: no tie to break
        assert (mu, s) == pytest.approx((mu_ref, s_ref), abs=1e-12), direction
        # float64 grid -> float64 search lattice: the answer is a lattice point to ~1e-15, not float32's 1e-7
        assert abs(mu - round(mu, 1)) < 1e-12 and abs(s - round(s, 2)) < 1e-12


def test_forward_fit_is_moment_matching_on_a_cut_grid():
    # Forward KL to a Gaussian is moment matching of p on the grid (closed form), up to the search lattice.
    grid = torch.linspace(-12.0, 4.0, 801, dtype=torch.float64)
    x = grid.numpy()
    p = 0.5 * (np.exp(-0.5 * (x + 3) ** 2) + np.exp(-0.5 * (x - 3) ** 2))
    m = (p * x).sum() / p.sum()
    sd = math.sqrt((p * (x - m) ** 2).sum() / p.sum())
    mu, s = sl.fit_gaussian_to_mixture("forward", grid)
    assert m < -0.2 and abs(mu - m) <= 0.05 + 1e-9 and abs(s - sd) <= 0.025 + 1e-9


def test_forward_fit_clips_to_the_search_box_on_a_two_point_grid():
    # Two far points with almost equal p: moment matching wants sd ~ 12, mean = weighted mean of the two;
    # the documented search stops at sigma = 4.5, so the fit sits on that edge.
    x = np.array([-12.0, 12.01])
    p = np.exp(-0.5 * (x + 3) ** 2) + np.exp(-0.5 * (x - 3) ** 2)
    m = (p * x).sum() / p.sum()
    mu, s = sl.fit_gaussian_to_mixture("forward", torch.tensor(x, dtype=torch.float64))
    assert abs(mu - m) <= 0.05 + 1e-9 and s == pytest.approx(4.5, abs=1e-12)
