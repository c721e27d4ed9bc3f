"""MoE layer vs a dense computation of every expert, hand-computed balance loss, capacity and bias."""
import math

import pytest
import torch

from snippets import load

moe = load("architectures/moe")


def dense_reference(layer, x):
    """Run EVERY expert on every token, then keep the top-k ones by hand (no capacity limit)."""
    x = x.reshape(-1, x.shape[-1])
    probs = torch.softmax(x @ layer.router.weight.T, dim=-1)          # (T, N)
    all_out = torch.stack([e(x) for e in layer.experts], dim=1)      # (T, N, d)
    y = torch.zeros_like(x)
    for t in range(x.shape[0]):
        order = sorted(range(layer.n_experts), key=lambda e: -probs[t, e].item())[: layer.k]
        z = sum(probs[t, e] for e in order)
        for e in order:
            y[t] += probs[t, e] / z * all_out[t, e]
    for e in layer.shared:
        y = y + e(x)
    return y


@pytest.mark.parametrize("k,n_shared", [(1, 0), (2, 0), (2, 1), (3, 2)])
def test_matches_dense_computation_of_selected_experts(k, n_shared):
    torch.manual_seed(k + 10 * n_shared)
    layer = moe.MoELayer(d_model=12, d_ff=20, n_experts=6, k=k, n_shared=n_shared).double()
    x = torch.randn(2, 9, 12, dtype=torch.float64)
    y, _, idx = layer(x)
    assert idx.shape == (18, k) and len(layer.shared) == n_shared
    # router d*N + (routed + shared experts) * 3 SwiGLU matrices of d*d_ff, no biases
    assert sum(p.numel() for p in layer.parameters()) == 12 * 6 + (6 + n_shared) * 3 * 12 * 20
    ref = dense_reference(layer, x)
    torch.testing.assert_close(y.reshape(-1, 12), ref)
    # the gate weights carry the router's gradient (nothing detached): same gradient as the dense version
    g = torch.randn_like(ref)
    grad, = torch.autograd.grad((y.reshape(-1, 12) * g).sum(), layer.router.weight)
    grad_ref, = torch.autograd.grad((ref * g).sum(), layer.router.weight)
    assert grad.abs().sum() > 0
    torch.testing.assert_close(grad, grad_ref)


def test_layer_balance_loss_uses_unbiased_probs_and_biased_choice():
    torch.manual_seed(3)
    layer = moe.MoELayer(d_model=8, d_ff=8, n_experts=4, k=2).double()
    with torch.no_grad():
        layer.bias.copy_(torch.tensor([0.0, 0.3, -0.2, 0.5], dtype=torch.float64))
    x = torch.randn(1, 10, 8, dtype=torch.float64)
    _, aux, idx = layer(x)
    probs = torch.softmax(x.reshape(10, 8) @ layer.router.weight.T, dim=-1)          # no bias
    chosen = (probs + layer.bias).topk(2, dim=-1).indices                            # bias only picks
    assert torch.equal(idx.sort(-1).values, chosen.sort(-1).values)
    f = torch.stack([(chosen == e).sum() for e in range(4)]).double() / 20           # 10 tokens x 2 slots
    torch.testing.assert_close(aux, 4 * (f * probs.mean(0)).sum())
    _, _, p = moe.top_k_route(torch.tensor([[1.0, 0.0, -1.0]]), 2, bias=torch.tensor([0.0, 2.0, 0.0]))
    torch.testing.assert_close(p, torch.softmax(torch.tensor([[1.0, 0.0, -1.0]]), -1))


def test_switch_loss_on_hand_built_routing():
    # 4 tokens, 2 experts. Top-1 choices: 0, 0, 0, 1 -> f = (3/4, 1/4).
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
    idx = probs.argmax(-1, keepdim=True)
    # P = (0.65, 0.35); loss = 2 * (0.75 * 0.65 + 0.25 * 0.35) = 1.15
    assert moe.switch_balance_loss(probs, idx, 2).item() == pytest.approx(1.15)
    # top-2 of 3 experts: 4 tokens x 2 slots = 8 assignments; expert counts (4, 3, 1) -> f = (4/8, 3/8, 1/8)
    probs3 = torch.tensor([[0.5, 0.3, 0.2], [0.4, 0.4, 0.2], [0.3, 0.2, 0.5], [0.6, 0.3, 0.1]])
    idx2 = torch.tensor([[0, 1], [0, 1], [2, 0], [0, 1]])
    # P = (0.45, 0.3, 0.25); loss = 3 * (0.5 * 0.45 + 0.375 * 0.3 + 0.125 * 0.25) = 1.10625
    assert moe.switch_balance_loss(probs3, idx2, 3).item() == pytest.approx(1.10625)
    # gradient flows through P only: d loss / d probs[t, i] = N * f_i / tokens
    p = probs3.clone().requires_grad_(True)
    moe.switch_balance_loss(p, idx2, 3).backward()
    torch.testing.assert_close(p.grad, (3 * torch.tensor([0.5, 0.375, 0.125]) / 4).expand(4, 3))


def test_switch_loss_is_one_when_uniform_and_grows_when_skewed():
    n = 4
    uniform = torch.full((8, n), 1 / n)
    idx = torch.arange(8).remainder(n).unsqueeze(-1)                  # each expert gets 2 tokens
    assert moe.switch_balance_loss(uniform, idx, n).item() == pytest.approx(1.0)
    collapsed = torch.tensor([[1.0, 0, 0, 0]]).repeat(8, 1)           # everything to expert 0
    assert moe.switch_balance_loss(collapsed, torch.zeros(8, 1, dtype=torch.long), n).item() == pytest.approx(n)


def test_capacity_drops_overflow_tokens():
    # slots = ceil(capacity_factor * tokens * k / experts): 1.25 * 10 * 2 / 8 = 3.125 -> 4; 1.0 * 10 / 4 = 2.5 -> 3
    assert moe.expert_capacity(10, 8, 2, 1.25) == 4 and moe.expert_capacity(10, 4, 1, 1.0) == 3
    assert moe.expert_capacity(16, 4, 2, 1.0) == 8
    torch.manual_seed(0)
    layer = moe.MoELayer(d_model=8, d_ff=8, n_experts=4, k=1, capacity_factor=1.0)
    with torch.no_grad():                      # force every token to expert 2
        layer.router.weight.zero_()
        layer.router.weight[2] = 0.0
        layer.bias[2] = 1.0                    # bias only changes the choice
    x = torch.randn(1, 12, 8)
    y, _, idx = layer(x)
    assert (idx == 2).all()
    cap = moe.expert_capacity(12, 4, 1, 1.0)
    assert cap == math.ceil(12 / 4) == 3
    nonzero = y.reshape(12, 8).abs().sum(-1) > 0
    assert nonzero.tolist() == [True] * cap + [False] * (12 - cap)   # the first `cap` tokens, in order
    # without a capacity factor no token is dropped, even when one expert gets more tokens than d_model
    layer.capacity_factor = None
    y, _, idx = layer(x)
    assert (idx == 2).all() and (y.reshape(12, 8).abs().sum(-1) > 0).all()


def test_default_is_top_2():
    layer = moe.MoELayer(d_model=4, d_ff=4, n_experts=5)
    _, _, idx = layer(torch.randn(1, 3, 4))
    assert idx.shape == (3, 2) and (idx[:, 0] != idx[:, 1]).all()


def test_bias_changes_choice_not_gate_weights():
    logits = torch.tensor([[2.0, 1.0, 0.0]])
    idx0, w0, _ = moe.top_k_route(logits, 1)
    idx1, w1, probs = moe.top_k_route(logits, 1, bias=torch.tensor([0.0, 0.0, 5.0]), renormalize=False)
    assert idx0.item() == 0 and idx1.item() == 2
    assert w1.item() == pytest.approx(torch.softmax(logits, -1)[0, 2].item())   # unbiased probability


def test_bias_update_direction():
    idx = torch.tensor([[0], [0], [0], [1]])                          # loads 3, 1, 0 (mean 4/3)
    new = moe.update_routing_bias(torch.zeros(3), idx, gamma=0.1)
    torch.testing.assert_close(new, torch.tensor([-0.1, 0.1, 0.1]))
    # an expert exactly at the mean load is neither over- nor underloaded: its bias stays
    idx = torch.tensor([[0, 3], [1, 3], [0, 2], [1, 3]])             # loads 2, 2, 1, 3 (mean 2)
    new = moe.update_routing_bias(torch.tensor([0.5, -0.5, 0.0, 0.0]), idx, gamma=0.25)
    torch.testing.assert_close(new, torch.tensor([0.5, -0.5, 0.25, -0.25]))
