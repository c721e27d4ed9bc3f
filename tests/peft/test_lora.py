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


def _peft_pair(rslora: bool):
    torch.manual_seed(2)
    model = Tiny()
    ours = lora.LoRALinear(model.proj, r=4, alpha=8, rslora=rslora)
    nn.init.normal_(ours.B)
    ref_model = Tiny()
    ref_model.proj.load_state_dict(model.proj.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peft_model = get_peft_model(ref_model, LoraConfig(r=4, lora_alpha=8, target_modules=["proj"],
                                                          use_rslora=rslora, lora_dropout=0.0))
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
