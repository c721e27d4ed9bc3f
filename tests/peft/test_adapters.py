"""Tests for snippets/peft/adapters.py.

Oracles: identity at init, hand parameter formulas, and peft's (IA)^3 on a tiny module.
"""
import warnings

import torch
import torch.nn as nn
from peft import IA3Config, get_peft_model

from snippets import load

ad = load("peft/adapters")


def test_adapter_starts_as_identity_and_counts():
    torch.manual_seed(0)
    a = ad.BottleneckAdapter(32, 8)
    h = torch.randn(2, 5, 32)
    assert torch.equal(a(h), h)
    assert sum(p.numel() for p in a.parameters()) == 2 * 32 * 8 + 32 + 8
    # BERT-base, m = 64, two adapters in each of 12 layers, by hand
    assert ad.houlsby_params(768, 64, 12) == 12 * 2 * (2 * 768 * 64 + 768 + 64) == 2_379_264


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.v_proj = nn.Linear(8, 8)
        self.down_proj = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.v_proj(x) + self.down_proj(z)


def test_ia3_matches_peft():
    torch.manual_seed(1)
    model = Block()
    ours_v = ad.IA3Linear(model.v_proj, feedforward=False)
    ours_ff = ad.IA3Linear(model.down_proj, feedforward=True)
    with torch.no_grad():
        ours_v.l.copy_(torch.rand(8) + 0.5)
        ours_ff.l.copy_(torch.rand(16) + 0.5)
    ref = Block()
    ref.load_state_dict(model.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(ref, IA3Config(target_modules=["v_proj", "down_proj"],
                                           feedforward_modules=["down_proj"]))
    assert pm.get_nb_trainable_parameters()[0] == 8 + 16
    with torch.no_grad():
        pm.base_model.model.v_proj.ia3_l["default"].copy_(ours_v.l.view(-1, 1))
        pm.base_model.model.down_proj.ia3_l["default"].copy_(ours_ff.l.view(1, -1))
    x, z = torch.randn(3, 8), torch.randn(3, 16)
    torch.testing.assert_close(ours_v(x) + ours_ff(z), pm(x, z))


def test_ia3_starts_as_identity_and_merges():
    torch.manual_seed(2)
    base = nn.Linear(6, 4)
    for ff in (False, True):
        layer = ad.IA3Linear(base, feedforward=ff)
        x = torch.randn(5, 6)
        torch.testing.assert_close(layer(x), base(x))
        with torch.no_grad():
            layer.l.copy_(torch.rand_like(layer.l) + 0.5)
        w, b = layer.merged()
        torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, w, b))


def test_adapter_trained_values_by_hand_and_gradients_at_init():
    import math
    torch.manual_seed(3)
    a = ad.BottleneckAdapter(6, 3).double()
    h = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    # at init W_up = 0: only the up projection learns on step 0 (dL/dW_down = W_up^T ... = 0)
    a(h).pow(2).sum().backward()
    assert a.up.weight.grad.abs().sum() > 0 and a.up.bias.grad.abs().sum() > 0
    assert a.down.weight.grad.abs().sum() == 0
    torch.testing.assert_close(h.grad, 2 * h.detach())             # identity: d/dh sum(h^2) = 2h
    with torch.no_grad():
        a.up.weight.normal_(), a.up.bias.normal_()
    hd = h.detach()
    z = hd @ a.down.weight.T + a.down.bias
    z = 0.5 * z * (1 + torch.erf(z / math.sqrt(2)))                # exact GELU
    expected = hd + z @ a.up.weight.T + a.up.bias                  # residual + up(act(down(h)))
    torch.testing.assert_close(a(hd), expected)


def test_ia3_defaults_to_the_output_side_and_freezes_the_base():
    torch.manual_seed(4)
    base = nn.Linear(6, 4)
    w0, b0 = base.weight.detach().clone(), base.bias.detach().clone()
    layer = ad.IA3Linear(base)                                   # default: keys/values, scale the output
    assert layer.l.shape == (4,)
    with torch.no_grad():
        layer.l.copy_(torch.tensor([0.5, 2.0, -1.0, 3.0]))
    x = torch.randn(5, 6)
    torch.testing.assert_close(layer(x), (x @ w0.T + b0) * torch.tensor([0.5, 2.0, -1.0, 3.0]))
    # only l trains: the base's weight and bias are frozen and get no gradient
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["l"]
    layer(x).sum().backward()
    assert base.weight.grad is None and base.bias.grad is None
    torch.testing.assert_close(layer.l.grad, (x @ w0.T + b0).sum(0))   # d/dl sum(l * y) = sum_batch y


def test_ia3_trainable_parameters_and_gradients_match_peft():
    torch.manual_seed(5)
    model = Block()
    ref = Block()
    ref.load_state_dict(model.state_dict())
    ours = [ad.IA3Linear(model.v_proj, feedforward=False), ad.IA3Linear(model.down_proj, feedforward=True)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(ref, IA3Config(target_modules=["v_proj", "down_proj"],
                                           feedforward_modules=["down_proj"]))
    trainable = sum(p.numel() for m in ours for p in m.parameters() if p.requires_grad)
    assert trainable == pm.get_nb_trainable_parameters()[0] == 8 + 16
    x, z = torch.randn(3, 8), torch.randn(3, 16)
    (ours[0](x) + ours[1](z)).pow(2).sum().backward()
    pm(x, z).pow(2).sum().backward()
    torch.testing.assert_close(ours[0].l.grad, pm.base_model.model.v_proj.ia3_l["default"].grad.view(-1))
    torch.testing.assert_close(ours[1].l.grad, pm.base_model.model.down_proj.ia3_l["default"].grad.view(-1))
    assert all(p.grad is None for p in model.parameters())
