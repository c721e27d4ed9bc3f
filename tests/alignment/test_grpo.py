"""Tests for snippets/alignment/grpo.py: numpy statistics, hand-computed gradients, labelled strings."""
import math

import numpy as np
import torch

from snippets import load

grpo = load("alignment/grpo")


def test_group_advantages_match_numpy():
    r = np.array([[1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.2, 0.9, 0.5, 0.1, 0.0, 0.3, 0.7, 0.4]])
    expected = (r - r.mean(1, keepdims=True)) / (r.std(1, ddof=1, keepdims=True) + 1e-4)
    out = grpo.group_advantages(torch.tensor(r))
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(out.sum(1).numpy(), 0.0, atol=1e-9)        # zero-sum within a group


def test_group_advantages_hand_example_and_degenerate_group():
    # rewards [1, 0, 0, 0]: mean 0.25, sample std sqrt(0.25) = 0.5
    a = grpo.group_advantages(torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64), eps=0.0)
    torch.testing.assert_close(a, torch.tensor([[1.5, -0.5, -0.5, -0.5]], dtype=torch.float64))
    assert torch.count_nonzero(grpo.group_advantages(torch.full((1, 6), 1.0))) == 0
    torch.testing.assert_close(grpo.group_advantages(torch.tensor([[1.0, 0.0]]), scale_by_std=False),
                               torch.tensor([[0.5, -0.5]]))


def test_grpo_loss_on_policy_gradient_by_hand():
    # on-policy, policy == reference: ratio = 1, KL = 0 and its gradient is 0,
    # so d loss / d logp_{i,t} = -A_i / (G * |o_i|)
    G, T = 3, 4
    torch.manual_seed(0)
    logp = torch.randn(G, T).requires_grad_(True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.float32)
    adv = torch.tensor([1.0, -2.0, 0.5])
    loss = grpo.grpo_loss(logp, logp.detach(), logp.detach(), adv, mask, beta=0.04)
    assert math.isclose(loss.item(), -adv.mean().item(), abs_tol=1e-6)
    loss.backward()
    lengths = mask.sum(-1, keepdim=True)
    torch.testing.assert_close(logp.grad, -adv.unsqueeze(-1) / (G * lengths) * mask)


def test_grpo_kl_term_hand_computed():
    # zero advantage isolates the KL: k3 with log(ref/pi) = -0.5 -> e^-0.5 + 0.5 - 1
    logp = torch.tensor([[-1.0]])
    loss = grpo.grpo_loss(logp, logp, torch.tensor([[-1.5]]), torch.tensor([0.0]), torch.ones(1, 1), beta=0.1)
    assert math.isclose(loss.item(), 0.1 * (math.exp(-0.5) + 0.5 - 1), rel_tol=1e-6)


def test_verifiable_rewards_labelled_cases():
    assert grpo.extract_answer("so \\boxed{3/4} is it") == "3/4"
    assert grpo.extract_answer("total is 1,234 apples") == "1234"
    assert grpo.extract_answer("no digits here") is None
    assert grpo.accuracy_reward("first 7 then \\boxed{14}", "14") == 1.0
    # a self-corrected answer: the LAST \\boxed{} is the final one (the docstring's rule), not the first
    assert grpo.extract_answer("\\boxed{12} wait, recheck: \\boxed{14}") == "14"
    assert grpo.accuracy_reward("\\boxed{12} wait, recheck: \\boxed{14}", "14") == 1.0
    assert grpo.accuracy_reward("The answer is 14.0", "14") == 1.0
    assert grpo.accuracy_reward("The answer is 13", "14") == 0.0
    assert grpo.accuracy_reward("\\boxed{x+1}", "x+1") == 1.0
    assert grpo.format_reward("<think>work</think> 42") == 1.0
    assert grpo.format_reward("42") == 0.0
    assert grpo.format_reward("<think>work</think>") == 0.0


def test_grpo_loss_sends_no_gradient_to_old_ref_or_advantages():
    torch.manual_seed(7)
    G, T = 3, 4
    logp_new = (-torch.rand(G, T)).requires_grad_(True)
    logp_old = (logp_new.detach() + 0.05 * torch.randn(G, T)).requires_grad_(True)
    logp_ref = (logp_new.detach() + 0.3 * torch.randn(G, T)).requires_grad_(True)
    adv = torch.tensor([1.0, -0.5, 0.2], requires_grad=True)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.float32)
    grpo.grpo_loss(logp_new, logp_old, logp_ref, adv, mask).backward()
    assert logp_old.grad is None and logp_ref.grad is None and adv.grad is None
    assert logp_new.grad.abs().sum() > 0
    assert (logp_new.grad[mask == 0] == 0).all()                    # padding tokens get no gradient


def test_group_advantages_normalise_over_the_last_axis_for_any_batch_shape():
    # one prompt as a 1-D (G,) tensor: same hand values as the (1, G) case above
    a = grpo.group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64), eps=0.0)
    torch.testing.assert_close(a, torch.tensor([1.5, -0.5, -0.5, -0.5], dtype=torch.float64))
    # (batch, num_prompts, G): every group of G is normalised on its own (numpy, ddof=1)
    rng = np.random.default_rng(3)
    r = rng.random((2, 3, 5))
    expected = (r - r.mean(-1, keepdims=True)) / (r.std(-1, ddof=1, keepdims=True) + 1e-4)
    np.testing.assert_allclose(grpo.group_advantages(torch.tensor(r)).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(grpo.group_advantages(torch.tensor(r), scale_by_std=False).numpy(),
                               r - r.mean(-1, keepdims=True), rtol=1e-12)


def _clipped_surrogate_piecewise(r: float, a: float, eps: float) -> tuple[float, float]:
    """PPO/GRPO clipped objective per token in its piecewise form and its derivative w.r.t. log r:
    A >= 0: min(r, 1 + eps) * A; A < 0: max(r, 1 - eps) * A (the clip only ever removes an improvement)."""
    if a >= 0:
        return (min(r, 1 + eps) * a, r * a if r < 1 + eps else 0.0)
    return (max(r, 1 - eps) * a, r * a if r > 1 - eps else 0.0)


def test_grpo_loss_off_policy_matches_piecewise_clip_with_default_and_explicit_eps():
    # ratios inside and outside [1 - eps, 1 + eps] with both signs of advantage; policy == reference so
    # the KL term and its gradient are 0 and only the clipped surrogate remains
    ratios = torch.tensor([[1.5, 0.5, 1.1], [0.5, 1.5, 0.9], [1.3, 0.7, 2.5], [1.0, 1.0, 1.0]], dtype=torch.float64)
    adv = torch.tensor([2.0, -0.5, 3.0, -4.0], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.float64)
    G = 4
    for kwargs, eps in (({}, 0.2), ({"clip_eps": 0.4}, 0.4)):       # {} checks the default clip_eps = 0.2
        logp_new = torch.log(ratios).requires_grad_(True)
        loss = grpo.grpo_loss(logp_new, torch.zeros_like(ratios), logp_new.detach(), adv, mask, **kwargs)
        expected_loss, expected_grad = 0.0, torch.zeros_like(ratios)
        for i in range(G):
            n = int(mask[i].sum())
            for t in range(n):
                s, ds = _clipped_surrogate_piecewise(ratios[i, t].item(), adv[i].item(), eps)
                expected_loss -= s / (n * G)
                expected_grad[i, t] = -ds / (n * G)
        assert math.isclose(loss.item(), expected_loss, rel_tol=1e-12), kwargs
        loss.backward()
        torch.testing.assert_close(logp_new.grad, expected_grad)


def test_grpo_loss_default_beta_is_0_04():
    # zero advantage isolates the KL term: k3 with log(ref/pi) = -0.5, weighted by the default beta 0.04
    logp = torch.tensor([[-1.0]])
    loss = grpo.grpo_loss(logp, logp, torch.tensor([[-1.5]]), torch.tensor([0.0]), torch.ones(1, 1))
    assert math.isclose(loss.item(), 0.04 * (math.exp(-0.5) + 0.5 - 1), rel_tol=1e-6)


def test_verifiable_rewards_edge_cases():
    assert grpo.accuracy_reward("no digits here", "1") == 0.0       # nothing extracted: no reward
    assert grpo.accuracy_reward("I give up", "x+1") == 0.0
    # numeric match means |pred - gold| < 1e-6, strictly: 1e-6 off is wrong, 5e-7 off is right
    assert grpo.accuracy_reward("\\boxed{0.000001}", "0") == 0.0
    assert grpo.accuracy_reward("\\boxed{0.0000005}", "0") == 1.0
    # real reasoning spans several lines, inside <think> and in the answer
    assert grpo.format_reward("<think>step 1\nstep 2</think>\n\\boxed{3}") == 1.0
    assert grpo.format_reward("<think>ok</think> 42\nbecause 6 * 7") == 1.0
    assert grpo.format_reward("<think>\n</think>") == 0.0
