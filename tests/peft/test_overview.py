"""Tests for snippets/peft/overview.py: memory table checked against hand arithmetic."""
from snippets import load

ov = load("peft/overview")


def test_full_finetuning_7b_is_16_bytes_per_param():
    parts = ov.finetune_memory(7e9, "full")
    assert abs(parts["total"] - 112.0) < 1e-9            # 7e9 * 16 B
    assert abs(parts["optimizer"] - 84.0) < 1e-9         # 7e9 * 12 B


def test_lora_and_qlora_7b_by_hand():
    n_lora = 40e6
    lora = ov.finetune_memory(7e9, "lora", n_lora)
    # 14 GB bf16 base + 40M * 16 B = 0.64 GB
    assert abs(lora["total"] - (14.0 + 0.64)) < 1e-9
    qlora = ov.finetune_memory(7e9, "qlora", n_lora)
    # NF4: 4 bits + 0.127 bits of constants per weight -> 7e9 * 4.127 / 8 = 3.611 GB
    assert abs(qlora["total"] - (7e9 * 4.127 / 8 / 1e9 + 0.64)) < 1e-9
    table = ov.memory_table(7e9, n_lora)
    assert table["full"] > 7 * table["lora"] and table["lora"] > 3 * table["qlora"]
