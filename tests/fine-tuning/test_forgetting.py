"""Tests for snippets/fine-tuning/forgetting.py.

Oracles: per-sample gradients from torch.func (vmap + grad), the EWC formula by hand,
and exact replay counts.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from snippets import load

fg = load("fine-tuning/forgetting")


def test_replay_ratio_is_exact():
    mixed = fg.mix_with_replay(list(range(300)), [f"g{i}" for i in range(50)], replay_ratio=0.25)
    n_old = sum(isinstance(s, str) for s in mixed)
    assert n_old == 100 and len(mixed) == 400          # 100 / 400 = 0.25
    assert sorted(s for s in mixed if isinstance(s, int)) == list(range(300))


def test_fisher_matches_vmap_per_sample_gradients():
    torch.manual_seed(0)
    model = nn.Linear(5, 3).double()
    x, y = torch.randn(16, 5, dtype=torch.float64), torch.randint(0, 3, (16,))
    ours = fg.fisher_diagonal(model, x, y)
    params = {n: p.detach() for n, p in model.named_parameters()}

    def loss(p, xi, yi):
        return F.cross_entropy(functional_call(model, p, (xi[None],)), yi[None])

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)
    for n in params:
        torch.testing.assert_close(ours[n], per_sample[n].pow(2).mean(0))


def test_ewc_penalty_by_hand():
    model = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 3.0]]))
    old = {"weight": torch.tensor([[0.0, 1.0]])}
    fisher = {"weight": torch.tensor([[2.0, 0.5]])}
    # 0.5 * 10 * (2 * 1^2 + 0.5 * 2^2) = 0.5 * 10 * 4 = 20
    assert abs(fg.ewc_penalty(model, old, fisher, lam=10.0).item() - 20.0) < 1e-6


def test_ewc_penalty_zero_at_old_params_and_gradient_points_back():
    torch.manual_seed(1)
    model = nn.Linear(3, 2)
    old = {n: p.detach().clone() for n, p in model.named_parameters()}
    fisher = {n: torch.rand_like(p) + 0.1 for n, p in model.named_parameters()}
    assert fg.ewc_penalty(model, old, fisher, lam=1.0).item() == 0.0
    with torch.no_grad():
        model.weight.add_(0.5)
    fg.ewc_penalty(model, old, fisher, lam=1.0).backward()
    # d/dθ = lam * F * (θ - θ_old): positive where θ moved up, so gradient descent moves it back.
    torch.testing.assert_close(model.weight.grad, fisher["weight"] * 0.5)
