"""Tests for snippets/peft/lora_variants.py.

Oracles: peft's DoRA (use_dora=True) with copied weights, the frozen layer at init,
invariants of the SVD form, Frobenius norms from torch.linalg, peft's AdaLoRA RankAllocator (budget
schedule and its state tensors), torch AdamW's state, and the cubic schedule evaluated by hand.
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


def _dora_pair(r: int | None, alpha: float | None, seed: int):
    """Our DoRALinear and peft's DoRA (use_dora=True) on the same frozen layer, with peft's random
    A, B and magnitude copied INTO ours (so a wrongly shaped parameter of ours fails the copy).
    r=None, alpha=None: our defaults, against LoraConfig(r=8, lora_alpha=16)."""
    torch.manual_seed(seed)
    model = Tiny()
    ours = lv.DoRALinear(model.proj) if r is None else lv.DoRALinear(model.proj, r=r, alpha=alpha)
    ref = Tiny()
    ref.proj.load_state_dict(model.proj.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = get_peft_model(ref, LoraConfig(r=r or 8, lora_alpha=alpha or 16, target_modules=["proj"],
                                            use_dora=True))
    layer = pm.base_model.model.proj
    with torch.no_grad():
        nn.init.normal_(layer.lora_B["default"].weight)
        layer.lora_magnitude_vector["default"].weight.mul_(torch.rand(10) + 0.5)   # trained-looking m
        ours.A.copy_(layer.lora_A["default"].weight)
        ours.B.copy_(layer.lora_B["default"].weight)
        ours.m.copy_(layer.lora_magnitude_vector["default"].weight)
    return ours, pm


def test_dora_matches_peft():
    # alpha / r = 1.5 here (alpha / sqrt(r) would be 3): the scaling is checked, not just the direction
    for r, alpha, n in ((4, 6.0, 4 * (12 + 10) + 10), (None, None, 8 * (12 + 10) + 10)):
        ours, pm = _dora_pair(r, alpha, seed=1)
        x = torch.randn(3, 5, 12)
        torch.testing.assert_close(ours(x), pm(x), rtol=1e-5, atol=1e-5)
        # trainable: A, B and one magnitude per output feature, the same count as peft's
        assert sum(p.numel() for p in ours.parameters() if p.requires_grad) == n
        assert pm.get_nb_trainable_parameters()[0] == n


def test_dora_a_has_nn_linear_kaiming_bound_and_default_rank():
    # A ~ U(-1/sqrt(in), 1/sqrt(in)): kaiming_uniform_(a=sqrt(5)), nn.Linear's and peft's init. With
    # 8 x 400 draws the largest |A| is within 5 % of the bound (probability of failing ~ 0.95^3200).
    torch.manual_seed(3)
    d = lv.DoRALinear(nn.Linear(400, 6))
    assert d.A.shape == (8, 400) and d.B.shape == (6, 8) and d.scaling == 2.0
    bound = 1 / 400 ** 0.5
    assert bound * 0.95 < d.A.abs().max() <= bound
    assert abs(d.A.std().item() / (bound / 3 ** 0.5) - 1) < 0.05          # uniform std = bound / sqrt(3)


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
    # Halving Q: Q Q^T = I / 4 -> ||-3/4 I||_F^2 = 4 * 9 / 16 = 2.25 (the Q term is squared and added)
    assert abs(lv.orthogonal_regularizer(P, Q / 2).item() - 2.25) < 1e-9


def test_orthogonal_regularizer_matches_frobenius_norms():
    # Oracle: torch.linalg.matrix_norm (Frobenius) on general, non-orthogonal P and Q.
    torch.manual_seed(4)
    P, Q = torch.randn(7, 3, dtype=torch.float64), torch.randn(3, 9, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    fro2 = lambda M: torch.linalg.matrix_norm(M, "fro") ** 2
    torch.testing.assert_close(lv.orthogonal_regularizer(P, Q), fro2(P.T @ P - eye) + fro2(Q @ Q.T - eye))
    # The identity follows P's dtype and device: bf16 in, bf16 out (close to the float64 value);
    # on another device (meta here, as for CUDA) a CPU identity would raise.
    ref = fro2(P.T @ P - eye) + fro2(Q @ Q.T - eye)
    half = lv.orthogonal_regularizer(P.bfloat16(), Q.bfloat16())
    assert half.dtype == torch.bfloat16 and abs(half.double() / ref - 1) < 0.05
    meta = lv.orthogonal_regularizer(P.float().to("meta"), Q.float().to("meta"))
    assert meta.device.type == "meta" and meta.shape == ()


def test_budget_schedule_by_hand():
    args = dict(total_steps=1000, b_init=96, b_target=48, t_init=100, t_final=200)
    assert lv.adalora_budget(0, **args) == 96
    assert lv.adalora_budget(100, **args) == 96
    # t = 450: frac = 350 / 700 = 0.5 -> 48 + 48 * 0.125 = 54
    assert lv.adalora_budget(450, **args) == 54
    assert lv.adalora_budget(800, **args) == 48
    values = [lv.adalora_budget(t, **args) for t in range(1000)]
    assert all(a >= b for a, b in zip(values, values[1:]))    # never increases
    # b_init for each of the first t_init steps, b_target for each of the last t_final steps
    assert set(values[:100]) == {96} and set(values[800:]) == {48} and values[101] < 96


def test_budget_schedule_matches_peft_rank_allocator():
    # Oracle: peft's AdaLoRA RankAllocator.budget_schedule (init budget = init_r x 2 matrices = 96).
    from peft import AdaLoraConfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ada = get_peft_model(TwoLayer(), AdaLoraConfig(init_r=48, target_r=24, tinit=100, tfinal=200,
                                                      total_step=1000, target_modules=["a", "b"]))
    ra = ada.base_model.rankallocator
    assert (ra.init_bgt, ra.target_bgt) == (96, 48)
    ours = [lv.adalora_budget(t, 1000, 96, 48, 100, 200) for t in range(1000)]
    assert ours == [ra.budget_schedule(t)[0] for t in range(1000)]


def test_budget_schedule_without_a_cubic_phase():
    # t_init + t_final = total_steps: b_init for the first 4 steps, b_target for the last 6, no 0 / 0
    assert [lv.adalora_budget(t, 10, 9, 3, 4, 6) for t in range(10)] == [9] * 4 + [3] * 6


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


def test_adapter_train_bytes_match_adamw_and_peft_rank_allocator_state():
    """Oracle: the bytes really held after one step: fp32 weights, gradients and torch AdamW's exp_avg
    and exp_avg_sq (16 B per parameter), plus for AdaLoRA peft's RankAllocator ipt, exp_avg_ipt and
    exp_avg_unc tensors after update_ipt (12 B more)."""
    from peft import AdaLoraConfig

    def measured(model):
        params = [p for p in model.parameters() if p.requires_grad]
        model(torch.randn(4, 12)).pow(2).sum().backward()
        opt = torch.optim.AdamW(params)
        opt.step()
        nbytes = lambda t: t.numel() * t.element_size()
        held = sum(nbytes(p) + nbytes(p.grad) + nbytes(opt.state[p]["exp_avg"]) + nbytes(opt.state[p]["exp_avg_sq"])
                   for p in params)
        return sum(p.numel() for p in params), held

    torch.manual_seed(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lora = get_peft_model(TwoLayer(), LoraConfig(r=4, target_modules=["a", "b"]))
        ada = get_peft_model(TwoLayer(), AdaLoraConfig(init_r=6, target_r=3, total_step=100,
                                                      target_modules=["a", "b"]))
    n, held = measured(lora)
    assert lv.adapter_train_bytes(n) == held
    n, held = measured(ada)
    ra = ada.base_model.rankallocator
    ra.update_ipt(ada)
    held += sum(t.numel() * t.element_size() for d in (ra.ipt, ra.exp_avg_ipt, ra.exp_avg_unc) for t in d.values())
    assert lv.adapter_train_bytes(n, adalora=True) == held
    # the page's worked number: AdaLoRA init_r=12 on the LLaMA-7B shapes, 30.0M params -> 840 MB
    layer = [(4096, 4096)] * 4 + [(11008, 4096)] * 2 + [(4096, 11008)]
    n12 = lv.adapter_params(layer * 32, 12, adalora=True)
    assert n12 == 12 * 19_988_480 // 8 + 12 * 7 * 32 and round(lv.adapter_train_bytes(n12, True) / 1e6) == 840
