"""Tests for snippets/alignment/dpo.py: hand-evaluated formulas, cross_entropy, gradient direction."""
import math

import torch
import torch.nn.functional as F

from snippets import load

dpo = load("alignment/dpo")


def sig(x):
    return 1 / (1 + math.exp(-x))


def test_sequence_logprob_matches_cross_entropy():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 11)
    labels = torch.randint(0, 11, (2, 5))
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 1, 0]], dtype=torch.float32)
    ce = F.cross_entropy(logits.reshape(-1, 11), labels.reshape(-1), reduction="none").reshape(2, 5)
    torch.testing.assert_close(dpo.sequence_logprob(logits, labels, mask), -(ce * mask).sum(-1))
    # bf16 logits (as a bf16 model returns them): the log-softmax runs in float32
    half = logits.bfloat16()
    ce = F.cross_entropy(half.float().reshape(-1, 11), labels.reshape(-1), reduction="none").reshape(2, 5)
    out = dpo.sequence_logprob(half, labels, mask)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, -(ce * mask).sum(-1), rtol=1e-6, atol=1e-6)


def test_dpo_loss_hand_computed():
    beta = 0.1
    # chosen: policy -12 vs ref -13 (+1); rejected: policy -15 vs ref -14 (-1); margin 0.1*(1-(-1)) = 0.2
    loss, rw, rl = dpo.dpo_loss(torch.tensor([-12.0]), torch.tensor([-15.0]),
                                torch.tensor([-13.0]), torch.tensor([-14.0]), beta=beta)
    assert math.isclose(loss.item(), -math.log(sig(0.2)), rel_tol=1e-6)
    assert math.isclose(rw.item(), 0.1, rel_tol=1e-5) and math.isclose(rl.item(), -0.1, rel_tol=1e-5)
    # policy == reference -> log 2
    loss0, _, _ = dpo.dpo_loss(torch.tensor([-3.0]), torch.tensor([-4.0]),
                               torch.tensor([-3.0]), torch.tensor([-4.0]))
    assert math.isclose(loss0.item(), math.log(2), rel_tol=1e-6)



def test_dpo_loss_batch_mean_default_beta_and_detached_rewards():
    # three pairs with log-ratio margins 2, -1, 0 (chosen minus rejected); default beta 0.1
    pi_w = torch.tensor([-12.0, -5.0, -8.0], requires_grad=True)
    pi_l = torch.tensor([-15.0, -6.0, -8.0], requires_grad=True)
    ref_w, ref_l = torch.tensor([-13.0, -5.5, -7.0]), torch.tensor([-14.0, -7.5, -7.0])
    loss, rw, rl = dpo.dpo_loss(pi_w, pi_l, ref_w, ref_l)
    want = [-math.log(sig(0.1 * m)) for m in (2.0, -1.0, 0.0)]
    assert math.isclose(loss.item(), sum(want) / 3, rel_tol=1e-6)
    torch.testing.assert_close(rw, torch.tensor([0.1, 0.05, -0.1]))
    torch.testing.assert_close(rl, torch.tensor([-0.1, 0.15, -0.1]))
    # the implicit rewards are for logging: no graph behind them, and the loss alone carries gradients
    assert not rw.requires_grad and not rl.requires_grad
    loss.backward()
    torch.testing.assert_close(pi_w.grad, torch.tensor([-0.1 * sig(-0.1 * m) / 3 for m in (2.0, -1.0, 0.0)]))


def test_dpo_gradient_weight_and_direction():
    beta = 0.5
    pi_w = torch.tensor([-10.0], requires_grad=True)
    pi_l = torch.tensor([-9.0], requires_grad=True)
    ref_w, ref_l = torch.tensor([-10.5]), torch.tensor([-9.5])
    loss, rw, rl = dpo.dpo_loss(pi_w, pi_l, ref_w, ref_l, beta=beta)
    loss.backward()
    # d loss / d log pi_w = -beta * sigmoid(r_l - r_w); opposite for the rejected
    weight = sig(rl.item() - rw.item())
    assert math.isclose(pi_w.grad.item(), -beta * weight, rel_tol=1e-6)
    assert math.isclose(pi_l.grad.item(), beta * weight, rel_tol=1e-6)
    # gradient descent raises log pi(y_w) and lowers log pi(y_l)
    assert pi_w.grad.item() < 0 < pi_l.grad.item()


def test_dpo_step_on_logits_increases_margin():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 7, requires_grad=True)       # row 0 = chosen, row 1 = rejected
    labels = torch.randint(0, 7, (2, 4))
    mask = torch.ones(2, 4)
    ref = dpo.sequence_logprob(logits.detach(), labels, mask)
    opt = torch.optim.SGD([logits], lr=1.0)
    margins = []
    for _ in range(3):
        lp = dpo.sequence_logprob(logits, labels, mask)
        loss, rw, rl = dpo.dpo_loss(lp[:1], lp[1:], ref[:1], ref[1:], beta=0.1)
        margins.append((rw - rl).item())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert margins[0] == 0.0 and margins[1] > 0 and margins[2] > margins[1]


def test_ipo_simpo_orpo_kto_hand_computed():
    t = torch.tensor
    # IPO: h = (−1 − −2) − (−3 − −2) = 2, tau = 0.25 -> target 2 -> loss 0
    assert dpo.ipo_loss(t([-1.0]), t([-3.0]), t([-2.0]), t([-2.0]), tau=0.25).item() == 0.0
    assert math.isclose(dpo.ipo_loss(t([-1.0]), t([-3.0]), t([-2.0]), t([-2.0]), tau=0.5).item(), 1.0)
    # SimPO: beta=2, avg logp -0.5 vs -1.0, gamma=0.5 -> margin 2*(-0.5) - 2*(-1) - 0.5 = 0.5
    s = dpo.simpo_loss(t([-5.0]), t([-20.0]), t([10.0]), t([20.0]), beta=2.0, gamma=0.5)
    assert math.isclose(s.item(), -math.log(sig(0.5)), rel_tol=1e-6)
    # ORPO: p_w = 0.5, p_l = 0.2 -> odds 1 and 0.25 -> log odds ratio log 4
    o = dpo.orpo_loss(t(0.7), t([math.log(0.5)]), t([math.log(0.2)]), lam=0.1)
    assert math.isclose(o.item(), 0.7 + 0.1 * -math.log(sig(math.log(4.0))), rel_tol=1e-6)
    # KTO: desirable with r = 2, z0 = 0.5, beta = 1 -> 1 - sigmoid(1.5); undesirable r = 2 -> 1 - sigmoid(-1.5)
    k = dpo.kto_loss(t([-1.0, -1.0]), t([-3.0, -3.0]), t([True, False]), z0=0.5, beta=1.0)
    assert math.isclose(k.item(), ((1 - sig(1.5)) + (1 - sig(-1.5))) / 2, rel_tol=1e-6)
    # KTO with unequal weights: lam_d = 2 on the desirable one, lam_u = 0.5 on the undesirable one
    k = dpo.kto_loss(t([-1.0, -1.0]), t([-3.0, -3.0]), t([True, False]), z0=0.5, beta=1.0, lam_d=2.0, lam_u=0.5)
    assert math.isclose(k.item(), (2 * (1 - sig(1.5)) + 0.5 * (1 - sig(-1.5))) / 2, rel_tol=1e-6)
    # KTO's default beta 0.1: desirable r = 2, z0 = 0 -> 1 - sigmoid(0.2)
    assert math.isclose(dpo.kto_loss(t([-1.0]), t([-3.0]), t([True]), z0=0.0).item(), 1 - sig(0.2), rel_tol=1e-6)


def test_variants_defaults_and_batch_mean():
    t = torch.tensor
    # IPO, default tau 0.1 -> target 5; h = 2 and 4 -> ((2 - 5)^2 + (4 - 5)^2) / 2 = 5
    assert math.isclose(dpo.ipo_loss(t([-1.0, 0.0]), t([-3.0, -3.0]), t([-2.0, -2.0]), t([-2.0, -1.0])).item(), 5.0,
                        rel_tol=1e-6)
    # SimPO defaults beta 2, gamma 1: margins 2*(-0.5) - 2*(-1) - 1 = 0 and 2*(-1) - 2*(-0.5) - 1 = -2
    s = dpo.simpo_loss(t([-5.0, -10.0]), t([-20.0, -5.0]), t([10.0, 10.0]), t([20.0, 10.0]))
    assert math.isclose(s.item(), (-math.log(sig(0.0)) - math.log(sig(-2.0))) / 2, rel_tol=1e-6)
    # ORPO default lambda 0.1, batch of two: log odds ratios log 4 and -log 4
    o = dpo.orpo_loss(t(0.7), t([math.log(0.5), math.log(0.2)]), t([math.log(0.2), math.log(0.5)]))
    assert math.isclose(o.item(), 0.7 + 0.1 * (-math.log(sig(math.log(4.0))) - math.log(sig(-math.log(4.0)))) / 2,
                        rel_tol=1e-6)


def test_closed_form_optimum_beats_perturbations_and_recovers_reward():
    torch.manual_seed(2)
    ref = torch.softmax(torch.randn(6, dtype=torch.float64), -1)
    r = torch.randn(6, dtype=torch.float64)
    beta = 0.7

    def objective(p):
        return (p * r).sum() - beta * (p * (p / ref).log()).sum()

    best = dpo.kl_regularised_optimum(ref, r, beta)
    for _ in range(200):
        other = torch.softmax(best.log() + 0.3 * torch.randn(6, dtype=torch.float64), -1)
        assert objective(other) <= objective(best) + 1e-12
    # the DPO reparameterisation: beta * log(pi*/ref) = r - beta log Z (same for every y)
    implied = beta * (best / ref).log()
    diff = implied - r
    torch.testing.assert_close(diff, diff.mean().expand(6))
