"""Tests for snippets/alignment/reasoning_rl.py: hand-computed ratios and losses, the piecewise closed
form, finite differences, and PyTorch's own KL implementations."""
import math

import pytest
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
    logits = torch.randn(2, 5, 11)                     # (batch, position, vocab): the vocab axis is the last
    torch.testing.assert_close(rrl.token_entropy(logits), torch.distributions.Categorical(logits=logits).entropy())


def test_entropy_change_first_order_matches_finite_difference():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 9, dtype=torch.float64)
    delta = torch.randn(2, 4, 9, dtype=torch.float64)
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


def _gspo_reference(lp_new, lp_old, adv, lengths, eps_low, eps_high):
    """Independent per-response reference: product of token probability ratios over the first |y|
    tokens, |y|-th root, then PPO's pessimistic min, mean over the group."""
    terms = []
    for i, n in enumerate(lengths):
        ratio = torch.prod(torch.exp(lp_new[i, :n]) / torch.exp(lp_old[i, :n])) ** (1.0 / n)
        clipped = torch.clamp(ratio, 1 - eps_low, 1 + eps_high)
        terms.append(torch.min(ratio * adv[i], clipped * adv[i]))
    return -torch.stack(terms).mean()


def test_gspo_matches_reference_with_garbage_in_padding_and_both_signs():
    # padding positions carry non-zero log-probs: a ratio that forgets the mask, divides by the padded
    # length T, or drops the 1/|y| exponent gives a different loss
    torch.manual_seed(3)
    lengths = [5, 2, 7, 3]
    G, T = len(lengths), 8
    lp_old = -torch.rand(G, T, dtype=torch.float64) * 3
    lp_new = lp_old + 0.002 * torch.randn(G, T, dtype=torch.float64)
    mask = torch.zeros(G, T, dtype=torch.float64)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    lp_new[:, 7] += 0.5                                  # garbage only in padding (no response has 8 tokens)
    adv = torch.tensor([1.0, -1.0, 0.5, -0.5], dtype=torch.float64)
    for eps in ((3e-4, 4e-4), (0.2, 0.2)):
        ours = rrl.gspo_loss(lp_new, lp_old, adv, mask, *eps)
        torch.testing.assert_close(ours, _gspo_reference(lp_new, lp_old, adv, lengths, *eps))
    # the tiny clip range really clips some of these responses and not others
    s = rrl.gspo_ratio(lp_new, lp_old, mask)
    outside = (s < 1 - 3e-4) | (s > 1 + 4e-4)
    assert 0 < int(outside.sum()) < G


def test_gspo_negative_advantage_above_upper_bound_keeps_gradient():
    # PPO pessimism: with A < 0 and s > 1 + eps_high, min(sA, clip(s)A) = sA, so the gradient flows
    # (an implementation that always uses the clipped value would return zero here)
    lp_new = LP_NEW.clone().requires_grad_(True)
    adv = torch.tensor([0.0, -1.0], dtype=torch.float64)
    loss = rrl.gspo_loss(lp_new, LP_OLD, adv, MASK)
    loss.backward()
    s2 = math.exp(0.05)
    assert math.isclose(loss.item(), s2 / 2, rel_tol=1e-12)               # -(1/G) * (s2 * -1)
    torch.testing.assert_close(lp_new.grad[1], torch.tensor([s2 / 4, s2 / 4, 0.0, 0.0], dtype=torch.float64))


def test_clip_higher_lower_side_uses_eps_low():
    # negative advantage: a token already pushed below 1 - eps_low gets no more push (lower bound 0.8);
    # swapping eps_low and eps_high would move the bound to 0.72 and keep the gradient
    r = torch.tensor([0.75], requires_grad=True)
    rrl.clipped_surrogate(r, torch.tensor([-1.0]), eps_low=0.2, eps_high=0.28).sum().backward()
    assert r.grad.item() == 0.0
    r = torch.tensor([0.85], requires_grad=True)
    rrl.clipped_surrogate(r, torch.tensor([-1.0]), eps_low=0.2, eps_high=0.28).sum().backward()
    assert r.grad.item() == -1.0
    # negative advantage above the upper bound: unclipped term is the minimum, gradient kept
    r = torch.tensor([1.5], requires_grad=True)
    rrl.clipped_surrogate(r, torch.tensor([-1.0]), eps_low=0.2, eps_high=0.28).sum().backward()
    assert r.grad.item() == -1.0


def test_aggregation_ignores_padding_and_matches_flat_mean():
    torch.manual_seed(4)
    lengths = [6, 1, 3]
    per_tok = torch.rand(3, 6)
    mask = torch.zeros(3, 6)
    for i, n in enumerate(lengths):
        mask[i, :n] = 1
    per_tok = per_tok + 100 * (1 - mask)                # garbage in padding must not leak
    valid = [per_tok[i, :n] for i, n in enumerate(lengths)]
    torch.testing.assert_close(rrl.aggregate_loss(per_tok, mask, "token-mean"), torch.cat(valid).mean())
    torch.testing.assert_close(rrl.aggregate_loss(per_tok, mask, "seq-mean-token-mean"),
                               torch.stack([v.mean() for v in valid]).mean())


def test_old_policy_teacher_and_advantages_get_no_gradient():
    # the contract: pi_old, the advantages and the teacher's/student's sampled log-probs are constants;
    # only logp_new carries gradient (a missing .detach() would send gradient into them)
    lp_new = LP_NEW.clone().requires_grad_(True)
    lp_old = LP_OLD.clone().requires_grad_(True)
    adv = torch.tensor([1.0, -1.0], dtype=torch.float64, requires_grad=True)
    rrl.gspo_loss(lp_new, lp_old, adv, MASK, 0.2, 0.2).backward()
    assert lp_old.grad is None and adv.grad is None
    assert lp_new.grad is not None and torch.count_nonzero(lp_new.grad) > 0
    s_tok = torch.tensor([-0.5, -1.0], requires_grad=True)
    t_tok = torch.tensor([-0.7, -0.2], requires_grad=True)
    a = rrl.sampled_token_advantage(s_tok, t_tok)
    assert not a.requires_grad
    torch.testing.assert_close(a, torch.tensor([-0.2, 0.8]))      # -(log q - log p), by hand


def test_aggregate_loss_rejects_unknown_mode():
    with pytest.raises(ValueError, match="unknown mode 'sum'"):
        rrl.aggregate_loss(torch.ones(2, 3), torch.ones(2, 3), "sum")


def test_default_clip_ranges():
    # DAPO's defaults for the token surrogate: [0.8, 1.28]; |A| = 2 so that ratio * A and ratio / A differ
    ratio = torch.tensor([0.5, 0.9, 1.1, 1.25, 1.5], dtype=torch.float64)
    for a in (2.0, -2.0):
        adv = torch.full_like(ratio, a)
        expected = torch.minimum(ratio * a, ratio.clamp(0.8, 1.28) * a)      # PPO's pessimistic bound
        torch.testing.assert_close(rrl.clipped_surrogate(ratio, adv), expected)
    torch.testing.assert_close(rrl.clipped_surrogate(ratio, torch.full_like(ratio, 2.0)),
                               torch.tensor([1.0, 1.8, 2.2, 2.5, 2.56], dtype=torch.float64))
    # GSPO's defaults [1 - 3e-4, 1 + 4e-4] on the sequence ratio: a response with s = e^-0.01 < 1 - 3e-4 and
    # a negative advantage is clipped at the lower bound (no gradient), one with a positive advantage is not
    lp_old = torch.zeros(2, 2, dtype=torch.float64)
    lp_new = torch.full((2, 2), -0.01, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(2, 2, dtype=torch.float64)
    adv = torch.tensor([-2.0, 2.0], dtype=torch.float64)
    loss = rrl.gspo_loss(lp_new, lp_old, adv, mask)
    s = math.exp(-0.01)
    assert math.isclose(loss.item(), -((1 - 3e-4) * -2.0 + s * 2.0) / 2, rel_tol=1e-12)
    loss.backward()
    assert torch.count_nonzero(lp_new.grad[0]) == 0
    torch.testing.assert_close(lp_new.grad[1], torch.full((2,), -s * 2.0 / 2 / 2, dtype=torch.float64))
