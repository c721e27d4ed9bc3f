"""Tests for snippets/alignment/reasoning_rl.py: hand-computed ratios and losses, the piecewise closed
form, finite differences, and PyTorch's own KL implementations."""
import math

import torch
import torch.nn.functional as F

from snippets import load

rrl = load("alignment/reasoning_rl")

LP_OLD = torch.tensor([[-1.0, -2.0, -0.5, 0.0], [-1.0, -1.0, 0.0, 0.0]], dtype=torch.float64)
LP_NEW = torch.tensor([[-0.8, -2.3, -0.4, 0.0], [-1.2, -0.7, 0.0, 0.0]], dtype=torch.float64)
MASK = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)


def test_gspo_ratio_is_length_normalised_product_of_token_ratios():
    # response 1 (3 tokens): log-ratios 0.2, -0.3, 0.1 -> mean 0; response 2 (2 tokens): -0.2, 0.3 -> mean 0.05
    s = rrl.gspo_ratio(LP_NEW, LP_OLD, MASK)
    torch.testing.assert_close(s, torch.tensor([1.0, math.exp(0.05)], dtype=torch.float64))
    # same thing as the |y|-th root of the product of GRPO's token ratios
    tok = torch.exp(LP_NEW - LP_OLD)
    prod1 = (tok[0, 0] * tok[0, 1] * tok[0, 2]) ** (1 / 3)
    prod2 = (tok[1, 0] * tok[1, 1]) ** (1 / 2)
    torch.testing.assert_close(s, torch.stack([prod1, prod2]))
    # GRPO's per-token ratios are far from 1 although the sequence ratio of response 1 is exactly 1
    assert abs(tok[0, 1].item() - 1) > 0.25


def test_gspo_loss_clipping_is_per_response():
    adv = torch.tensor([1.0, 1.0], dtype=torch.float64)
    # response 2 has s = e^0.05 > 1 + 4e-4, positive advantage -> clipped to 1 + 4e-4 (no gradient)
    lp_new = LP_NEW.clone().requires_grad_(True)
    loss = rrl.gspo_loss(lp_new, LP_OLD, adv, MASK)
    assert math.isclose(loss.item(), -(1.0 + (1 + 4e-4)) / 2, rel_tol=1e-12)
    loss.backward()
    assert torch.count_nonzero(lp_new.grad[1]) == 0
    # response 1: d(-s/2)/d logp_t = -s/(2*3) on each of its 3 tokens (s = 1)
    torch.testing.assert_close(lp_new.grad[0], torch.tensor([-1 / 6, -1 / 6, -1 / 6, 0.0], dtype=torch.float64))


def test_clip_higher_lets_a_rising_token_keep_its_gradient():
    ratio = torch.tensor([1.25], requires_grad=True)
    rrl.clipped_surrogate(ratio, torch.tensor([1.0]), eps_low=0.2, eps_high=0.2).sum().backward()
    assert ratio.grad.item() == 0.0                                 # symmetric clip: 1.25 > 1.2, gradient cut
    ratio.grad = None
    rrl.clipped_surrogate(ratio, torch.tensor([1.0]), eps_low=0.2, eps_high=0.28).sum().backward()
    assert ratio.grad.item() == 1.0                                 # clip-higher: 1.25 < 1.28, gradient kept


def test_token_mean_vs_sample_mean_by_hand():
    per_tok = torch.tensor([[1.0, 1.0, 1.0, 1.0], [4.0, 0.0, 0.0, 0.0]])
    m = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, 0.0, 0.0]])
    assert math.isclose(rrl.aggregate_loss(per_tok, m, "token-mean").item(), 8 / 5, rel_tol=1e-6)  # (4 + 4) / 5 tokens
    assert rrl.aggregate_loss(per_tok, m, "seq-mean-token-mean").item() == 2.5   # (1 + 4) / 2
    # equal lengths: the two reductions agree
    full = torch.ones(2, 4)
    x = torch.tensor([[1.0, 2.0, 3.0, 4.0], [0.0, 1.0, 0.0, 1.0]])
    assert math.isclose(rrl.aggregate_loss(x, full).item(), rrl.aggregate_loss(x, full, "seq-mean-token-mean").item())


def test_dynamic_sampling_filter():
    r = torch.tensor([[1.0, 1, 1, 1], [0.0, 1, 0, 0], [0.0, 0, 0, 0], [-1.0, -1, 1, -1]])
    assert rrl.keep_informative_groups(r).tolist() == [False, True, False, True]


def test_overlong_penalty_piecewise_closed_form_and_boundaries():
    L, C = 20480, 4096
    assert rrl.overlong_penalty(100, L, C) == 0.0
    assert rrl.overlong_penalty(L - C, L, C) == 0.0            # last length without penalty
    assert rrl.overlong_penalty(L - C + 1, L, C) == -1 / C      # first penalised token
    assert rrl.overlong_penalty(L - C // 2, L, C) == -0.5       # middle of the interval
    assert rrl.overlong_penalty(L, L, C) == -1.0
    assert rrl.overlong_penalty(L + 1, L, C) == -1.0
    # verl's form min(-(len - (L - C)) / C, 0) agrees on [0, L]
    for n in range(0, L + 1, 97):
        assert math.isclose(rrl.overlong_penalty(n, L, C), min(-(n - (L - C)) / C, 0.0), abs_tol=1e-15)


def test_entropy_matches_torch_categorical():
    torch.manual_seed(0)
    logits = torch.randn(5, 11)
    torch.testing.assert_close(rrl.token_entropy(logits), torch.distributions.Categorical(logits=logits).entropy())


def test_entropy_change_first_order_matches_finite_difference():
    torch.manual_seed(1)
    logits = torch.randn(4, 9, dtype=torch.float64)
    delta = torch.randn(4, 9, dtype=torch.float64)
    for h in (1e-3, 1e-4):
        actual = rrl.token_entropy(logits + h * delta) - rrl.token_entropy(logits)
        predicted = rrl.entropy_change_first_order(logits, h * delta)
        torch.testing.assert_close(actual, predicted, rtol=0, atol=20 * h * h)
    # raising the logit of the most likely token lowers entropy; raising a rare one raises it
    z = torch.tensor([3.0, 1.0, 0.0, -1.0], dtype=torch.float64)
    assert rrl.entropy_change_first_order(z, torch.tensor([0.1, 0, 0, 0], dtype=torch.float64)) < 0
    assert rrl.entropy_change_first_order(z, torch.tensor([0, 0, 0, 0.1], dtype=torch.float64)) > 0


def test_reverse_kl_matches_torch_kl_div_and_distributions():
    torch.manual_seed(2)
    s, t = torch.randn(3, 6, 10), torch.randn(3, 6, 10)
    ours = rrl.reverse_kl_per_token(s, t)
    # F.kl_div(input, target) = sum target * (log target - input) = KL(target || exp(input))
    ref = F.kl_div(F.log_softmax(t, -1), F.log_softmax(s, -1), reduction="none", log_target=True).sum(-1)
    torch.testing.assert_close(ours, ref)
    ref2 = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=s),
                                             torch.distributions.Categorical(logits=t))
    torch.testing.assert_close(ours, ref2)


def test_sampled_advantage_is_unbiased_for_minus_reverse_kl():
    q = torch.tensor([0.7, 0.2, 0.1], dtype=torch.float64)
    p = torch.tensor([0.4, 0.4, 0.2], dtype=torch.float64)
    exact = -(q * (q.log() - p.log())).sum()
    # expectation over x ~ q by enumeration
    adv_each = rrl.sampled_token_advantage(q.log(), p.log())
    torch.testing.assert_close((q * adv_each).sum(), exact)
    # and by sampling (seeded): the mean converges to the same value
    g = torch.Generator().manual_seed(0)
    x = torch.multinomial(q, 200_000, replacement=True, generator=g)
    assert abs(adv_each[x].mean().item() - exact.item()) < 0.01
