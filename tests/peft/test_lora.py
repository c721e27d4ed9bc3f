"""Tests for snippets/peft/lora.py.

Oracles: the frozen nn.Linear itself (zero-init B), the merged/unmerged invariant,
hand parameter formulas, and the peft library's LoRA on the same layer with copied weights.
"""
import warnings

import torch
import torch.nn as nn
from peft import LoraConfig, get_peft_model

from snippets import load

lora = load("peft/lora")


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def test_zero_b_gives_frozen_output_and_only_lora_trains():
    torch.manual_seed(0)
    base = nn.Linear(12, 10)
    layer = lora.LoRALinear(base, r=4, alpha=8)
    x = torch.randn(3, 5, 12)
    assert torch.equal(layer(x), base(x))
    trainable = [n for n, p in layer.named_parameters() if p.requires_grad]
    assert sorted(trainable) == ["A", "B"]


def test_merged_equals_unmerged():
    torch.manual_seed(1)
    layer = lora.LoRALinear(nn.Linear(12, 10), r=3, alpha=6)
    nn.init.normal_(layer.B)
    x = torch.randn(4, 12)
    torch.testing.assert_close(layer.merged()(x), layer(x), rtol=1e-5, atol=1e-5)


def test_trainable_count_formula():
    layer = lora.LoRALinear(nn.Linear(300, 200), r=8)
    n = sum(p.numel() for p in layer.parameters() if p.requires_grad)
    assert n == 8 * (300 + 200) == lora.lora_params([(300, 200)], 8)


def test_chatglm_and_llama_numbers_by_hand():
    n, mb = lora.chatglm6b_lora(r=8)
    assert n == 28 * 8 * (4096 + 12288) == 3_670_016
    assert abs(mb - 7.340032) < 1e-9                     # fp16, 2 bytes each
    assert lora.llama7b_lora(8) == 32 * 2 * 8 * 8192 == 4_194_304
    # all linear layers, r=16: 4*(4096+4096) + 2*(4096+11008) + (11008+4096) = 78080 per rank
    assert lora.llama7b_lora(16, ("q", "k", "v", "o", "gate", "up", "down")) == 32 * 16 * 78080


def test_defaults_are_the_pages_common_configurations():
    # The page: ChatGLM-6B's "common configuration, r=8 on that layer only" = 3,670,016 parameters,
    # 7.3 MB in fp16 (14.7 MB in fp32); LLaMA-7B "r=8 on q and v" = 32 x 2 x 8 x 8192 (about 4.19M).
    n, mb = lora.chatglm6b_lora()
    assert n == 28 * 8 * (4096 + 3 * 4096) == 3_670_016 and round(mb, 1) == 7.3
    assert round(lora.chatglm6b_lora(bytes_per_param=4)[1], 1) == 14.7
    assert lora.llama7b_lora() == 32 * 2 * 8 * (4096 + 4096) == 4_194_304


def _peft_pair(rslora: bool = False, dropout: float = 0.0, seed: int = 2):
    """Our LoRALinear and peft's LoRA on the same Tiny model, with the same weights (B non-zero)."""
    torch.manual_seed(seed)
    model = Tiny()
    ours = lora.LoRALinear(model.proj, r=4, alpha=8, rslora=rslora, dropout=dropout)
    nn.init.normal_(ours.B)
    ref_model = Tiny()
    ref_model.proj.load_state_dict(model.proj.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(ref_model, LoraConfig(r=4, lora_alpha=8, target_modules=["proj"],
                                                          use_rslora=rslora, lora_dropout=dropout))
    layer = peft_model.base_model.model.proj
    with torch.no_grad():
        layer.lora_A["default"].weight.copy_(ours.A)
        layer.lora_B["default"].weight.copy_(ours.B)
    return ours, peft_model


def test_same_output_as_peft_lora():
    for rslora in (False, True):
        ours, peft_model = _peft_pair(rslora)
        x = torch.randn(2, 7, 12)
        torch.testing.assert_close(ours(x), peft_model(x))
        assert peft_model.get_nb_trainable_parameters()[0] == 4 * (12 + 10)


def test_merge_matches_peft_merge_and_unload():
    ours, peft_model = _peft_pair(False)
    merged_ref = peft_model.merge_and_unload().proj
    torch.testing.assert_close(ours.merged().weight, merged_ref.weight)
    torch.testing.assert_close(ours.merged().bias, merged_ref.bias)


def test_defaults_rank_8_alpha_16_and_kaiming_bound_for_a():
    # Defaults r=8, alpha=16: scaling 2 (hand value). Output = base + 2 * B A x, checked by hand with
    # F.linear on a non-zero B. A ~ U(-1/sqrt(in), 1/sqrt(in)): nn.Linear's own init (kaiming a=sqrt(5)).
    torch.manual_seed(3)
    d_in, d_out = 400, 6
    base = nn.Linear(d_in, d_out)
    layer = lora.LoRALinear(base)
    assert layer.A.shape == (8, d_in) and layer.B.shape == (d_out, 8)
    bound = 1 / d_in ** 0.5
    assert layer.A.abs().max() <= bound and layer.A.abs().max() > 0.95 * bound
    assert abs(layer.A.std().item() / (bound / 3 ** 0.5) - 1) < 0.05          # uniform std = bound / sqrt(3)
    nn.init.normal_(layer.B)
    x = torch.randn(2, 3, d_in)
    F = torch.nn.functional
    expected = base(x) + 2.0 * F.linear(F.linear(x, layer.A), layer.B)
    torch.testing.assert_close(layer(x), expected)
    # rank-stabilised: alpha / sqrt(r) = 16 / sqrt(8)
    rs = lora.LoRALinear(nn.Linear(4, 4), r=8, rslora=True)
    assert rs.scaling == 16 / 8 ** 0.5


def test_dropout_acts_on_the_lora_branch_only_like_peft():
    # Oracle: peft's LoRA with lora_dropout=0.5, same weights, same RNG state -> same dropout mask.
    ours, peft_model = _peft_pair(dropout=0.5, seed=4)
    x = torch.randn(3, 12)
    ours.train(), peft_model.train()
    torch.manual_seed(5)
    y_ours = ours(x)
    torch.manual_seed(5)
    torch.testing.assert_close(y_ours, peft_model(x))
    assert not torch.allclose(y_ours, ours.merged()(x))             # dropout really changed the branch
    ours.eval()
    torch.testing.assert_close(ours(x), ours.merged()(x), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        ours.B.zero_()
    ours.train()
    torch.testing.assert_close(ours(x), ours.base(x))               # the frozen path is never dropped


def test_gradients_reach_a_and_b_only_and_merge_without_bias():
    torch.manual_seed(6)
    base = nn.Linear(5, 3, bias=False)
    layer = lora.LoRALinear(base, r=2, alpha=4)
    layer(torch.randn(4, 5)).pow(2).sum().backward()
    assert base.weight.grad is None
    assert layer.B.grad.abs().sum() > 0                             # dL/dB = scaling * g (A x)^T != 0
    assert torch.count_nonzero(layer.A.grad) == 0                   # dL/dA = scaling * B^T g ... = 0 at B = 0
    nn.init.normal_(layer.B)
    merged = layer.merged()
    assert merged.bias is None
    torch.testing.assert_close(merged.weight, base.weight + 2.0 * layer.B @ layer.A)
    assert not merged.weight.requires_grad or merged.weight.grad is None
