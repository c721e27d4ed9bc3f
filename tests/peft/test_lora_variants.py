"""Tests for snippets/peft/lora_variants.py.

Oracles: peft's DoRA (use_dora=True) with copied weights, the frozen layer at init,
invariants of the SVD form, and the cubic schedule evaluated by hand.
"""
import warnings

import torch
import torch.nn as nn
from peft import LoraConfig, get_peft_model

from snippets import load

lv = load("peft/lora_variants")


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(12, 10)

    def forward(self, x):
        return self.proj(x)


def test_dora_init_equals_frozen_layer():
    torch.manual_seed(0)
    base = nn.Linear(12, 10)
    x = torch.randn(4, 12)
    torch.testing.assert_close(lv.DoRALinear(base, r=2)(x), base(x))


def test_dora_matches_peft():
    torch.manual_seed(1)
    model = Tiny()
    ours = lv.DoRALinear(model.proj, r=4, alpha=8)
    nn.init.normal_(ours.B)
    with torch.no_grad():
        ours.m.mul_(torch.rand(10) + 0.5)            # a trained-looking magnitude
    ref = Tiny()
    ref.proj.load_state_dict(model.proj.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(ref, LoraConfig(r=4, lora_alpha=8, target_modules=["proj"], use_dora=True))
    layer = pm.base_model.model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(ours.A)
        layer.lora_B["default"].weight.copy_(ours.B)
        layer.lora_magnitude_vector["default"].weight.copy_(ours.m)
    x = torch.randn(3, 5, 12)
    torch.testing.assert_close(ours(x), pm(x), rtol=1e-5, atol=1e-5)
    # trainable: A, B and one magnitude per output feature
    assert pm.get_nb_trainable_parameters()[0] == 4 * (12 + 10) + 10


def test_dora_gradients_treat_the_norm_as_constant():
    """Autograd reference written out here: W' = m * V / c with c = ||V||_row a constant (detached).

    The un-detached variant (c differentiated too) gives different A, B gradients, so the test
    tells the two apart; the frozen base weight and bias get no gradient at all."""
    torch.manual_seed(5)
    base = nn.Linear(6, 4).double()
    d = lv.DoRALinear(base, r=2, alpha=4).double()
    with torch.no_grad():
        d.B.normal_()
        d.m.mul_(torch.tensor([0.5, 1.5, 1.0, 2.0], dtype=torch.float64))
    x = torch.randn(5, 6, dtype=torch.float64)
    w_out = torch.randn(5, 4, dtype=torch.float64)
    (d(x) * w_out).sum().backward()
    assert base.weight.grad is None and base.bias.grad is None

    def reference(detach: bool):
        A, B, m = (t.detach().clone().requires_grad_(True) for t in (d.A, d.B, d.m))
        V = base.weight.detach() + (4 / 2) * B @ A
        c = V.norm(dim=1, keepdim=True)
        W = m[:, None] * V / (c.detach() if detach else c)
        ((x @ W.T + base.bias.detach()) * w_out).sum().backward()
        return A.grad, B.grad, m.grad

    gA, gB, gm = reference(detach=True)
    torch.testing.assert_close(d.A.grad, gA)
    torch.testing.assert_close(d.B.grad, gB)
    torch.testing.assert_close(d.m.grad, gm)
    gA_full, gB_full, _ = reference(detach=False)
    assert not torch.allclose(gA, gA_full, atol=1e-6) and not torch.allclose(gB, gB_full, atol=1e-6)


def test_dora_row_norms_equal_magnitude():
    torch.manual_seed(2)
    d = lv.DoRALinear(nn.Linear(8, 6), r=2)
    nn.init.normal_(d.B)
    torch.testing.assert_close(d.weight().norm(dim=1), d.m)


def test_adalora_delta_and_orthogonality():
    torch.manual_seed(3)
    P, _ = torch.linalg.qr(torch.randn(10, 4, dtype=torch.float64))
    Qt, _ = torch.linalg.qr(torch.randn(12, 4, dtype=torch.float64))
    Q = Qt.T
    lam = torch.tensor([3.0, 2.0, 0.0, 0.0], dtype=torch.float64)
    delta = lv.adalora_delta(P, lam, Q)
    # With orthonormal P, Q the entries of lam are the singular values of Delta W.
    torch.testing.assert_close(torch.linalg.svdvals(delta)[:2], lam[:2])
    assert torch.linalg.matrix_rank(delta) == 2          # pruning lam entries lowers the rank
    assert lv.orthogonal_regularizer(P, Q).item() < 1e-20
    # Scaling P by 2: P^T P = 4 I -> ||3 I||_F^2 = 9 * 4 = 36
    assert abs(lv.orthogonal_regularizer(2 * P, Q).item() - 36.0) < 1e-9


def test_budget_schedule_by_hand():
    args = dict(total_steps=1000, b_init=96, b_target=48, t_init=100, t_final=200)
    assert lv.adalora_budget(0, **args) == 96
    assert lv.adalora_budget(100, **args) == 96
    # t = 450: frac = 350 / 700 = 0.5 -> 48 + 48 * 0.125 = 54
    assert lv.adalora_budget(450, **args) == 54
    assert lv.adalora_budget(800, **args) == 48
    values = [lv.adalora_budget(t, **args) for t in range(1000)]
    assert all(a >= b for a, b in zip(values, values[1:]))    # never increases


class TwoLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(12, 10)
        self.b = nn.Linear(10, 6)

    def forward(self, x):
        return self.b(self.a(x))


def _trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_adapter_params_match_peft_lora_and_adalora():
    from peft import AdaLoraConfig
    shapes = [(10, 12), (6, 10)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lora = get_peft_model(TwoLayer(), LoraConfig(r=4, target_modules=["a", "b"]))
        ada = get_peft_model(TwoLayer(), AdaLoraConfig(init_r=6, target_r=3, total_step=100,
                                                      target_modules=["a", "b"]))
    assert _trainable(lora) == lv.adapter_params(shapes, 4) == 4 * 22 + 4 * 16
    assert _trainable(ada) == lv.adapter_params(shapes, 6, adalora=True) == 6 * 23 + 6 * 17


def test_adapter_cost_llama7b_by_hand():
    layer = [(4096, 4096)] * 4 + [(11008, 4096)] * 2 + [(4096, 11008)]
    # per layer and rank: 4 * 8192 + 3 * 15104 = 78,080; x 8 x 32 layers = 19,988,480
    assert lv.adapter_params(layer * 32, 8) == 19_988_480
    assert lv.adapter_train_bytes(19_988_480) == 319_815_680               # 320 MB
    # the adapted weights themselves: 4 * 4096^2 + 3 * 4096 * 11008 = 202,375,168 per layer
    assert lv.dora_saved_direction_bytes(layer * 32) == 202_375_168 * 32 * 2  # 13.0 GB in bf16
