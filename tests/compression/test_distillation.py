"""Tests for snippets/compression/distillation.py against F.kl_div / F.cross_entropy and the
closed-form gradient of the temperature-scaled KD loss."""
import math

import pytest
import torch
import torch.nn.functional as F

from snippets import load

kd = load("compression/distillation")


def test_kd_loss_matches_torch_kl_div_and_cross_entropy():
    torch.manual_seed(0)
    s, t = torch.randn(6, 11), torch.randn(6, 11) * 2
    y = torch.randint(0, 11, (6,))
    for temp, alpha in ((1.0, 0.5), (2.0, 0.7), (5.0, 0.9)):
        soft = F.kl_div(F.log_softmax(s / temp, -1), F.log_softmax(t / temp, -1),
                        reduction="batchmean", log_target=True)
        ref = alpha * temp**2 * soft + (1 - alpha) * F.cross_entropy(s, y)
        torch.testing.assert_close(kd.kd_loss(s, t, y, temp, alpha), ref)


def test_soft_gradient_closed_form_and_t_squared_scaling():
    torch.manual_seed(1)
    b = 4
    s, t = torch.randn(b, 7, dtype=torch.float64, requires_grad=True), torch.randn(b, 7, dtype=torch.float64)
    y = torch.zeros(b, dtype=torch.long)
    for temp in (1.0, 3.0, 10.0):
        s.grad = None
        kd.kd_loss(s, t, y, temperature=temp, alpha=1.0).backward()
        # d/ds [T^2 KL(p_t^T || p_s^T)] / B = T (softmax(s/T) - softmax(t/T)) / B
        expected = temp * (torch.softmax(s.detach() / temp, -1) - torch.softmax(t / temp, -1)) / b
        torch.testing.assert_close(s.grad, expected)
    # high-T limit: T (softmax(s/T) - softmax(t/T)) -> (s - t - mean shift) / V, independent of T
    s0 = s.detach()
    big = 1000.0
    g = big * (torch.softmax(s0 / big, -1) - torch.softmax(t / big, -1))
    lim = ((s0 - s0.mean(-1, keepdim=True)) - (t - t.mean(-1, keepdim=True))) / 7
    torch.testing.assert_close(g, lim, atol=1e-3, rtol=1e-3)


def test_token_kd_forward_and_reverse_match_kl_div_with_mask():
    torch.manual_seed(2)
    s, t = torch.randn(2, 5, 9), torch.randn(2, 5, 9)
    mask = torch.tensor([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]])
    sel = mask.bool()
    ls, lt = F.log_softmax(s[sel], -1), F.log_softmax(t[sel], -1)          # (n_masked, vocab)
    fwd = F.kl_div(ls, lt, reduction="batchmean", log_target=True)         # KL(teacher || student)
    rev = F.kl_div(lt, ls, reduction="batchmean", log_target=True)         # KL(student || teacher)
    torch.testing.assert_close(kd.token_kd_loss(s, t, mask), fwd)
    torch.testing.assert_close(kd.token_kd_loss(s, t, mask, reverse=True), rev)


def test_token_kd_with_temperature_matches_kl_div_times_t_squared():
    torch.manual_seed(3)
    s, t = torch.randn(2, 4, 6), torch.randn(2, 4, 6) * 3
    mask = torch.tensor([[1, 1, 0, 1], [0, 1, 1, 1]])
    sel = mask.bool()
    for temp in (0.5, 2.0, 4.0):
        ls, lt = F.log_softmax(s[sel] / temp, -1), F.log_softmax(t[sel] / temp, -1)
        fwd = temp**2 * F.kl_div(ls, lt, reduction="batchmean", log_target=True)
        rev = temp**2 * F.kl_div(lt, ls, reduction="batchmean", log_target=True)
        torch.testing.assert_close(kd.token_kd_loss(s, t, mask, temperature=temp), fwd)
        torch.testing.assert_close(kd.token_kd_loss(s, t, mask, temperature=temp, reverse=True), rev)


def test_kd_loss_defaults_are_t2_alpha_half():
    torch.manual_seed(4)
    s, t, y = torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 4, 2])
    soft = F.kl_div(F.log_softmax(s / 2, -1), F.log_softmax(t / 2, -1), reduction="batchmean", log_target=True)
    torch.testing.assert_close(kd.kd_loss(s, t, y), 0.5 * 4 * soft + 0.5 * F.cross_entropy(s, y))


def test_kl_hand_example():
    # teacher [0.5, 0.5], student [0.25, 0.75]: KL = 0.5 ln 2 + 0.5 ln(2/3)
    t = torch.log(torch.tensor([[[0.5, 0.5]]]))
    s = torch.log(torch.tensor([[[0.25, 0.75]]]))
    expected = 0.5 * math.log(2) + 0.5 * math.log(2 / 3)
    assert math.isclose(kd.token_kd_loss(s, t, torch.ones(1, 1)).item(), expected, rel_tol=1e-6)
    assert kd.token_kd_loss(t, t, torch.ones(1, 1)).abs().item() < 1e-7


def test_bimodal_toy_numbers_by_plain_math():
    # teacher logits [5, 5, -5, -5]; student A [2, 2, 1, 1] covers both modes; student B [5, -5, -5, -5]
    def sm(z):
        e = [math.exp(x) for x in z]
        return [x / sum(e) for x in e]

    def kl(a, b):
        return sum(x * math.log(x / y) for x, y in zip(a, b))

    p, a, b = sm([5, 5, -5, -5]), sm([2, 2, 1, 1]), sm([5, -5, -5, -5])
    one = torch.ones(1, 1)
    lt = lambda z: torch.tensor([[z]], dtype=torch.float64)              # noqa: E731
    for q_logits, q in (([2, 2, 1, 1], a), ([5, -5, -5, -5], b)):
        fwd = kd.token_kd_loss(lt(q_logits), lt([5, 5, -5, -5]), one).item()
        rev = kd.token_kd_loss(lt(q_logits), lt([5, 5, -5, -5]), one, reverse=True).item()
        assert math.isclose(fwd, kl(p, q), rel_tol=1e-9) and math.isclose(rev, kl(q, p), rel_tol=1e-9)
    assert round(kl(p, a), 2) == 0.31 and round(kl(p, b), 1) == 4.3      # forward KL punishes B
    assert round(kl(a, p), 1) == 2.1 and round(kl(b, p), 2) == 0.69      # reverse KL punishes A


def test_distill_cost_by_hand():
    assert kd.distill_flops_per_token(70e9, 8e9, False) == 48e9          # 6 * 8e9
    assert kd.distill_flops_per_token(70e9, 8e9, True) == 204e9          # 48 + 16 + 140
    # same-size teacher: (6 + 2 + 2) / 6
    assert math.isclose(kd.distill_flops_per_token(8e9, 8e9, True) / kd.distill_flops_per_token(8e9, 8e9, False), 10 / 6)


def test_bf16_logits_give_the_float32_loss_of_the_same_values():
    # 301 response tokens in bf16: the KL and the token count are computed in float32, so the loss equals
    # the float64 loss of the same (bf16-representable) logits to float32 precision, in both directions
    torch.manual_seed(0)
    s, t = torch.randn(1, 301, 7).bfloat16(), torch.randn(1, 301, 7).bfloat16()
    mask = torch.ones(1, 301, dtype=torch.long)
    for reverse in (False, True):
        got = kd.token_kd_loss(s, t, mask, temperature=2.0, reverse=reverse)
        ref = kd.token_kd_loss(s.double(), t.double(), mask, temperature=2.0, reverse=reverse)
        assert got.dtype == torch.float32 and ref.dtype == torch.float64
        assert got.item() == pytest.approx(ref.item(), rel=1e-5)
