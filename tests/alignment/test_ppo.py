"""Tests for snippets/alignment/ppo.py: hand-computed GAE and clipping, closed-form KL."""
import math

import torch

from snippets import load

ppo = load("alignment/ppo")


def test_gae_three_step_hand_computed():
    r = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    v = torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)
    g, lam = 0.9, 0.8
    # deltas by hand (V(s_3) = 0 at episode end)
    d2 = 1.0 - 0.7
    d1 = 0.0 + 0.9 * 0.7 - 0.6
    d0 = 0.0 + 0.9 * 0.6 - 0.5
    a2 = d2
    a1 = d1 + g * lam * a2
    a0 = d0 + g * lam * a1
    adv, ret = ppo.gae(r, v, gamma=g, lam=lam)
    torch.testing.assert_close(adv, torch.tensor([a0, a1, a2], dtype=torch.float64))
    torch.testing.assert_close(ret, torch.tensor([a0 + 0.5, a1 + 0.6, a2 + 0.7], dtype=torch.float64))


def test_gae_limits_lambda_zero_and_one():
    torch.manual_seed(0)
    r, v = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    g = 0.95
    v_next = torch.cat([v[1:], torch.zeros(1, dtype=torch.float64)])
    # lambda = 0: one-step TD error
    adv0, _ = ppo.gae(r, v, gamma=g, lam=0.0)
    torch.testing.assert_close(adv0, r + g * v_next - v)
    # lambda = 1: discounted Monte Carlo return minus the value
    mc = torch.tensor([sum(g ** (k - t) * r[k].item() for k in range(t, 6)) for t in range(6)],
                      dtype=torch.float64)
    adv1, ret1 = ppo.gae(r, v, gamma=g, lam=1.0)
    torch.testing.assert_close(adv1, mc - v)
    torch.testing.assert_close(ret1, mc)


def test_clip_loss_hand_values_and_zero_gradient_when_clipped():
    eps = 0.2
    ratios = torch.tensor([1.5, 0.5, 1.1, 0.5])
    adv = torch.tensor([1.0, -1.0, 2.0, 1.0])
    # by hand: min(1.5, 1.2)=1.2 ; min(-0.5, -0.8)=-0.8 ; min(2.2, 2.2)=2.2 ; min(0.5, 0.8)=0.5
    expected = -(1.2 - 0.8 + 2.2 + 0.5) / 4
    logp_new = torch.log(ratios).requires_grad_(True)
    loss = ppo.ppo_clip_loss(logp_new, torch.zeros(4), adv, clip_eps=eps)
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    loss.backward()
    g = logp_new.grad
    # clipped terms (token 0 and 1) give no gradient; unclipped: d/dlogp (-r A / N) = -r A / N
    assert g[0].item() == 0 and g[1].item() == 0
    assert math.isclose(g[2].item(), -1.1 * 2.0 / 4, rel_tol=1e-6)
    assert math.isclose(g[3].item(), -0.5 * 1.0 / 4, rel_tol=1e-6)


def test_clip_loss_at_ratio_one_is_policy_gradient():
    adv = torch.tensor([0.3, -1.2, 2.0])
    logp = torch.tensor([-1.0, -2.0, -0.5], requires_grad=True)
    ppo.ppo_clip_loss(logp, logp.detach(), adv).backward()
    torch.testing.assert_close(logp.grad, -adv / 3)


def test_kl_shaped_rewards_by_hand():
    r = ppo.kl_shaped_rewards(2.0, torch.tensor([-1.0, -3.0]), torch.tensor([-2.0, -1.0]), beta=0.5)
    torch.testing.assert_close(r, torch.tensor([-0.5 * 1.0, -0.5 * -2.0 + 2.0]))


def test_kl_estimators_unbiasedness_against_closed_form():
    torch.manual_seed(0)
    p = torch.distributions.Categorical(logits=torch.randn(20))
    q = torch.distributions.Categorical(logits=torch.randn(20))
    exact = torch.distributions.kl_divergence(p, q)
    # exact expectation over the support (no sampling noise): E_p[k] = sum_x p(x) k(x)
    x = torch.arange(20)
    est = ppo.kl_estimators(p.log_prob(x), q.log_prob(x))
    probs = p.probs
    torch.testing.assert_close((probs * est["k1"]).sum(), exact)
    torch.testing.assert_close((probs * est["k3"]).sum(), exact)
    assert (est["k3"] >= 0).all() and (est["k2"] >= 0).all()
    assert (est["k1"] < 0).any()          # k1 can be negative per sample


def test_terminal_reward_weight_equals_autograd_derivative_of_gae():
    T = 12
    rewards = torch.zeros(T, dtype=torch.float64, requires_grad=True)
    values = torch.linspace(0.1, 0.9, T, dtype=torch.float64)
    for gamma, lam in ((1.0, 0.95), (0.99, 0.9), (1.0, 1.0)):
        adv, _ = ppo.gae(rewards, values, gamma=gamma, lam=lam)
        for t in (0, 5, T - 1):
            (g,) = torch.autograd.grad(adv[t], rewards, retain_graph=True)
            assert abs(float(g[T - 1]) - ppo.terminal_reward_weight(T, t, gamma, lam)) < 1e-12
    # 500 tokens, lambda 0.95: 0.95^499 = exp(499 ln 0.95) = exp(-25.6) ~ 7.7e-12
    assert 7e-12 < ppo.terminal_reward_weight(500, 0) < 8e-12


def test_explained_variance_matches_sklearn():
    from sklearn.metrics import explained_variance_score
    torch.manual_seed(9)
    ret = torch.randn(200, dtype=torch.float64)
    for v in (ret + 0.3 * torch.randn(200, dtype=torch.float64), torch.zeros(200, dtype=torch.float64),
              -ret):
        assert abs(ppo.explained_variance(v, ret) - explained_variance_score(ret.numpy(), v.numpy())) < 1e-12
    assert ppo.explained_variance(ret, ret) == 1.0


def test_critic_memory_by_hand():
    assert ppo.critic_training_gb(7e9) == 112.0                      # 7e9 * 16 bytes


def test_clip_loss_treats_old_logp_and_advantages_as_constants():
    """Contract: no gradient reaches logp_old (the behaviour policy) or the advantages (the critic)."""
    logp_new = torch.tensor([-1.0, -0.7, -2.0], requires_grad=True)
    logp_old = torch.tensor([-1.1, -0.7, -1.9], requires_grad=True)
    adv = torch.tensor([0.5, -1.5, 2.0], requires_grad=True)
    ppo.ppo_clip_loss(logp_new, logp_old, adv).backward()
    assert logp_old.grad is None and adv.grad is None
    # the new policy still gets the policy-gradient term: ratios exp(0.1), 1, exp(-0.1) are all inside
    # [0.8, 1.2], so d loss / d logp_new_i = -ratio_i * A_i / 3
    ratio = torch.exp(logp_new.detach() - logp_old.detach())
    torch.testing.assert_close(logp_new.grad, -ratio * adv.detach() / 3)


def test_kl_estimators_by_hand():
    # lr = logp_ref - logp = -1 - (-2) = 1 and -2 - (-1.5) = -0.5
    est = ppo.kl_estimators(torch.tensor([-2.0, -1.5]), torch.tensor([-1.0, -2.0]))
    torch.testing.assert_close(est["k1"], torch.tensor([-1.0, 0.5]))
    torch.testing.assert_close(est["k2"], torch.tensor([0.5, 0.125]))
    torch.testing.assert_close(est["k3"], torch.tensor([math.e - 2.0, math.exp(-0.5) - 0.5]))


def test_kl_shaped_rewards_score_only_on_the_last_of_several_tokens():
    # T = 4: the k1 penalty -beta * (logp - logp_ref) on every token, the RM score only on token 3
    logp = torch.tensor([-1.0, -2.0, -0.5, -1.0], dtype=torch.float64)
    logp_ref = torch.tensor([-1.5, -2.0, -1.0, -0.5], dtype=torch.float64)
    r = ppo.kl_shaped_rewards(3.0, logp, logp_ref, beta=0.2)
    torch.testing.assert_close(r, torch.tensor([-0.1, 0.0, -0.1, 0.1 + 3.0], dtype=torch.float64))


def test_gae_defaults_gamma_1_lambda_0_95_hand_computed():
    r = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    v = torch.tensor([0.5, 0.6, 0.7], dtype=torch.float64)
    # gamma = 1: deltas 0.6 - 0.5, 0.7 - 0.6, 1 - 0.7; lambda = 0.95 back from the end
    a2 = 0.3
    a1 = 0.1 + 0.95 * a2
    a0 = 0.1 + 0.95 * a1
    adv, ret = ppo.gae(r, v)
    torch.testing.assert_close(adv, torch.tensor([a0, a1, a2], dtype=torch.float64))
    torch.testing.assert_close(ret, torch.tensor([a0 + 0.5, a1 + 0.6, a2 + 0.7], dtype=torch.float64))


def test_clip_loss_default_eps_is_0_2():
    # ratio 1.5 with A = +1 is clipped to 1.2, ratio 0.5 with A = -1 to 0.8 (-> -0.8): loss -(1.2 - 0.8) / 2
    loss = ppo.ppo_clip_loss(torch.log(torch.tensor([1.5, 0.5])), torch.zeros(2), torch.tensor([1.0, -1.0]))
    assert math.isclose(loss.item(), -0.2, rel_tol=1e-6)
