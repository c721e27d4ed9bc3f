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
