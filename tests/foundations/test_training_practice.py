"""Weighted / smoothed CE vs F.cross_entropy, temperature sampling closed forms, weight averaging."""
import pytest
import torch
import torch.nn.functional as F

from snippets import load

tp = load("foundations/training_practice")


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
def test_matches_f_cross_entropy(smoothing, weighted):
    torch.manual_seed(0)
    logits, y = torch.randn(20, 4, dtype=torch.float64), torch.randint(0, 4, (20,))
    w = torch.tensor([0.2, 1.0, 3.0, 0.5], dtype=torch.float64) if weighted else None
    ref = F.cross_entropy(logits, y, weight=w, label_smoothing=smoothing)
    torch.testing.assert_close(tp.weighted_label_smoothed_ce(logits, y, w, smoothing), ref)


def test_temperature_sampling_closed_forms():
    sizes = [900.0, 100.0]
    assert tp.temperature_sampling(sizes, 1.0) == pytest.approx([0.9, 0.1])
    assert tp.temperature_sampling(sizes, 0.0) == pytest.approx([0.5, 0.5])
    # alpha = 0.5: sqrt(0.9) : sqrt(0.1) = 3 : 1
    assert tp.temperature_sampling(sizes, 0.5) == pytest.approx([0.75, 0.25])


def test_average_state_dicts_equals_averaged_model_output():
    torch.manual_seed(1)
    a, b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    avg = torch.nn.Linear(3, 2)
    avg.load_state_dict(tp.average_state_dicts([a.state_dict(), b.state_dict()]))
    x = torch.randn(5, 3)
    # For a linear model, averaging weights == averaging outputs (not true for deep nets).
    torch.testing.assert_close(avg(x), (a(x) + b(x)) / 2)


def test_maml_meta_grad_matches_closed_form_on_a_quadratic():
    """L = 0.5 (t - c)^T A (t - c): t' = t - a A (t - c); MAML grad = (I - a A) A (t' - c),
    FOMAML grad = A (t' - c). They differ by the factor (I - a A)."""
    torch.manual_seed(0)
    m = torch.randn(3, 3, dtype=torch.float64)
    A = m @ m.T + torch.eye(3, dtype=torch.float64)             # symmetric positive definite
    c = torch.randn(3, dtype=torch.float64)
    t = torch.randn(3, dtype=torch.float64)
    a = 0.1
    loss = lambda x: 0.5 * (x - c) @ A @ (x - c)
    t_prime = t - a * A @ (t - c)
    second = (torch.eye(3, dtype=torch.float64) - a * A) @ A @ (t_prime - c)
    first = A @ (t_prime - c)
    torch.testing.assert_close(tp.maml_meta_grad(t, loss, a), second)
    torch.testing.assert_close(tp.maml_meta_grad(t, loss, a, first_order=True), first)
    # with a = 0 both reduce to the ordinary gradient
    torch.testing.assert_close(tp.maml_meta_grad(t, loss, 0.0), A @ (t - c))


def test_default_is_plain_cross_entropy():
    torch.manual_seed(2)
    logits, y = torch.randn(7, 5, dtype=torch.float64), torch.randint(0, 5, (7,))
    torch.testing.assert_close(tp.weighted_label_smoothed_ce(logits, y), F.cross_entropy(logits, y))


def test_weighted_average_of_state_dicts_by_hand():
    # unequal weights: 0.25 * a + 0.75 * b, and the given weights go with the states in order
    a = {"w": torch.tensor([1.0, 2.0]), "b": torch.tensor([4.0])}
    b = {"w": torch.tensor([3.0, 6.0]), "b": torch.tensor([0.0])}
    out = tp.average_state_dicts([a, b], [0.25, 0.75])
    torch.testing.assert_close(out["w"], torch.tensor([2.5, 5.0]))
    torch.testing.assert_close(out["b"], torch.tensor([1.0]))
    assert set(out) == {"w", "b"}
    # no weights: the plain mean of three states
    c = {"w": torch.tensor([2.0, 1.0]), "b": torch.tensor([2.0])}
    out = tp.average_state_dicts([a, b, c])
    torch.testing.assert_close(out["w"], torch.tensor([2.0, 3.0]))
    torch.testing.assert_close(out["b"], torch.tensor([2.0]))


def test_loss_keeps_the_logits_dtype_like_f_cross_entropy():
    # bf16 logits, no class weights: the loss is bf16 like F.cross_entropy's (the default weights
    # follow the logits' dtype rather than promoting the loss to float32)
    torch.manual_seed(3)
    logits, y = torch.randn(8, 4).to(torch.bfloat16), torch.randint(0, 4, (8,))
    for s in (0.0, 0.1):
        ref = F.cross_entropy(logits, y, label_smoothing=s)
        out = tp.weighted_label_smoothed_ce(logits, y, smoothing=s)
        assert out.dtype == ref.dtype == torch.bfloat16
        torch.testing.assert_close(out, ref, atol=2e-2, rtol=2e-2)


def test_temperature_sampling_depends_only_on_proportions():
    # mixing probabilities are scale-free: counts in tokens, bytes or 1e250-sized units give the same
    # mixture (the shares are formed before the power, so nothing overflows)
    sizes = [900.0, 100.0]
    for alpha in (1.0, 0.5, 0.3):
        ref = tp.temperature_sampling(sizes, alpha)
        assert tp.temperature_sampling([s * 1e250 for s in sizes], alpha) == pytest.approx(ref)
        assert tp.temperature_sampling([s * 1e-250 for s in sizes], alpha) == pytest.approx(ref)


def test_average_of_one_checkpoint_is_that_checkpoint():
    a = {"w": torch.tensor([1.0, -2.0]), "b": torch.tensor([0.5])}
    out = tp.average_state_dicts([a])
    assert set(out) == {"w", "b"}
    torch.testing.assert_close(out["w"], a["w"])
    torch.testing.assert_close(out["b"], a["b"])


def test_first_order_maml_builds_no_graph_of_the_inner_gradient():
    """FOMAML differentiates the inner gradient away, so its backward passes run without building a
    graph (create_graph=False: grad mode is off inside backward); second-order MAML must build one.
    Oracle: a loss written as an autograd.Function that records the grad mode of each backward."""
    modes = []

    class Quadratic(torch.autograd.Function):               # L(t) = 0.5 * |t|^2 * 3, grad 3 t
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return 1.5 * (t * t).sum()

        @staticmethod
        def backward(ctx, grad_out):
            (t,) = ctx.saved_tensors
            modes.append(torch.is_grad_enabled())
            return grad_out * 3 * t

    t = torch.tensor([1.0, -2.0], dtype=torch.float64)
    first = tp.maml_meta_grad(t, Quadratic.apply, 0.1, first_order=True)
    torch.testing.assert_close(first, 3 * (t - 0.1 * 3 * t))            # grad L(t') = 3 t', t' = 0.7 t
    assert modes == [False, False]
    modes.clear()
    second = tp.maml_meta_grad(t, Quadratic.apply, 0.1)
    torch.testing.assert_close(second, (1 - 0.3) * 3 * (0.7 * t))       # (I - a H) grad L(t'), H = 3 I
    assert modes[0] is True                                             # the inner gradient kept its graph
