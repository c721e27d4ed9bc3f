"""Memory accounting for full fine-tuning vs LoRA vs QLoRA (weights + grads + optimizer).

Pages: docs/peft/overview.{zh,en}.md
"""
from __future__ import annotations

# --8<-- [start:memory]
GB = 1e9


def finetune_memory(n_params: float, method: str, n_trainable: float = 0.0,
                    quant_const_bits: float = 0.127) -> dict[str, float]:
    """Static training memory in GB (no activations, no framework overhead).

    full:  mixed-precision AdamW, 16 bytes/param = bf16 weights 2 + bf16 grads 2
           + optimizer 12 (fp32 master weights 4 + fp32 Adam m, v 8).
    lora:  frozen bf16 base (2 bytes/param) + 16 bytes per trainable LoRA param.
    qlora: NF4 base (0.5 bytes/param + constants) + 16 bytes per trainable LoRA param.
    Every parameter of the base is counted at the base precision (in practice the
    embeddings / LM head often stay in bf16 under QLoRA).
    """
    if method == "full":
        parts = {"weights": 2 * n_params, "grads": 2 * n_params, "optimizer": 12 * n_params}
    elif method in ("lora", "qlora"):
        base = 2 * n_params if method == "lora" else n_params * (4 + quant_const_bits) / 8
        parts = {"weights": base + 2 * n_trainable,          # frozen base + bf16 adapter
                 "grads": 2 * n_trainable,                   # only the adapter has grads
                 "optimizer": 12 * n_trainable}              # fp32 master + Adam m, v
    else:
        raise ValueError(method)
    parts = {k: v / GB for k, v in parts.items()}
    parts["total"] = sum(parts.values())
    return parts


def memory_table(n_params: float, n_lora: float) -> dict[str, float]:
    """Total static GB for the three methods."""
    return {m: finetune_memory(n_params, m, n_lora)["total"] for m in ("full", "lora", "qlora")}
# --8<-- [end:memory]


if __name__ == "__main__":
    n, n_lora = 7e9, 40e6    # 7B model, ~40M LoRA params (r=16 on all linear layers)
    for method, total in memory_table(n, n_lora).items():
        parts = finetune_memory(n, method, n_lora)
        detail = ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if k != "total")
        print(f"{method:6s} {total:7.2f} GB  ({detail})")
