"""Tests for snippets/peft/overview.py: memory table checked against hand arithmetic.

Oracles: bytes per parameter by hand (bf16 = 2 B, fp32 = 4 B, NF4 = 4 bits), part by part, and the QLoRA
paper's 0.127 bits/weight for double-quantized constants (8/64 + 32/(64*256)).
"""
import pytest

from snippets import load

ov = load("peft/overview")


def close(parts, expected):
    assert set(parts) == set(expected)
    for k, v in expected.items():
        assert parts[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k


def test_full_finetuning_7b_is_16_bytes_per_param():
    # bf16 weights 2 B + bf16 grads 2 B + fp32 master 4 B + Adam m, v 8 B; trainable count is ignored
    for n_trainable in (0.0, 40e6):
        close(ov.finetune_memory(7e9, "full", n_trainable),
              {"weights": 14.0, "grads": 14.0, "optimizer": 84.0, "total": 112.0})


def test_lora_and_qlora_7b_by_hand():
    n_lora = 40e6
    # 14 GB bf16 base + 40M bf16 adapter (0.08 GB); grads only for the adapter (0.08); 12 B/param Adam (0.48)
    close(ov.finetune_memory(7e9, "lora", n_lora),
          {"weights": 14.08, "grads": 0.08, "optimizer": 0.48, "total": 14.64})
    # NF4: 4 bits + 0.127 bits of constants per weight -> 7e9 * 4.127 / 8 = 3.611125 GB
    close(ov.finetune_memory(7e9, "qlora", n_lora),
          {"weights": 3.611125 + 0.08, "grads": 0.08, "optimizer": 0.48, "total": 3.611125 + 0.64})
    # the constants' bits are a parameter: without double quantization, 32 / 64 = 0.5 bit per weight
    close(ov.finetune_memory(8e9, "qlora", 0.0, quant_const_bits=0.5),
          {"weights": 4.5, "grads": 0.0, "optimizer": 0.0, "total": 4.5})
    # the default is the paper's double-quantized 8/64 + 32/(64*256) = 0.12695 -> 0.127
    assert ov.finetune_memory(8e9, "qlora")["weights"] == pytest.approx(8 * (4 + 0.127) / 8)
    # no trainable parameters by default: the frozen base alone (1e9 * 2 B), not one byte more
    close(ov.finetune_memory(1e9, "lora"), {"weights": 2.0, "grads": 0.0, "optimizer": 0.0, "total": 2.0})


def test_memory_table_counts_the_adapter():
    assert ov.memory_table(7e9, 40e6) == pytest.approx(
        {"full": 112.0, "lora": 14.64, "qlora": 3.611125 + 0.64}, rel=1e-12)
    assert ov.memory_table(1e9, 0.0) == pytest.approx({"full": 16.0, "lora": 2.0, "qlora": 4.127 / 8})


def test_unknown_method_is_an_error():
    for method in ("dora", "LoRA", ""):
        with pytest.raises(ValueError, match=method or "^$"):
            ov.finetune_memory(7e9, method, 1e6)
