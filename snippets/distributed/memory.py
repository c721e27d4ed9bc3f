"""GPU memory accounting for training and inference: weights, gradients, optimizer states,
ZeRO partitioning, and activation memory.

Pages: docs/distributed/memory.{zh,en}.md
"""
from __future__ import annotations


# --8<-- [start:model_states]
def model_state_bytes(n_params: float, n_gpus: int = 1, zero_stage: int = 0, weight_bytes: float = 2,
                      grad_bytes: float = 2, optim_bytes: float = 12) -> dict[str, float]:
    """Per-GPU bytes of model states for mixed-precision training with Adam/AdamW.

    Defaults: bf16/fp16 weights (2) + bf16/fp16 grads (2) + fp32 master weights, m and v (4+4+4 = 12)
    = 16 bytes per parameter. ZeRO-1 shards the optimizer states, ZeRO-2 also the gradients,
    ZeRO-3 (= FSDP full sharding) also the weights, each over n_gpus data-parallel ranks.
    """
    w, g, o = n_params * weight_bytes, n_params * grad_bytes, n_params * optim_bytes
    if zero_stage >= 1:
        o /= n_gpus
    if zero_stage >= 2:
        g /= n_gpus
    if zero_stage >= 3:
        w /= n_gpus
    return {"weights": w, "grads": g, "optimizer": o, "total": w + g + o}
# --8<-- [end:model_states]


# --8<-- [start:activations]
def activation_bytes_per_layer(seq: int, batch: int, hidden: int, heads: int, tp: int = 1,
                               sequence_parallel: bool = False, recompute: str = "none") -> float:
    """Activation memory of one transformer layer in 16-bit training (Korthikanti et al., 2022).

    No parallelism:  s*b*h*(34 + 5*a*s/h) bytes; the 5*a*s/h term is the attention scores,
    softmax and dropout mask (quadratic in s). recompute="selective" drops that term
    (FlashAttention has the same effect); "full" keeps only the layer input, 2*s*b*h bytes.
    """
    if recompute not in ("none", "selective", "full"):
        raise ValueError(f"recompute must be 'none', 'selective' or 'full', not {recompute!r}")
    s, b, h, a, t = seq, batch, hidden, heads, tp
    if recompute == "full":
        return 2 * s * b * h / (t if sequence_parallel else 1)
    attn = 0.0 if recompute == "selective" else 5 * a * s / h
    if sequence_parallel:
        return s * b * h * (34 + attn) / t
    return s * b * h * (10 + 24 / t + attn / t)
# --8<-- [end:activations]


# --8<-- [start:inference]
def inference_weight_bytes(n_params: float, bits: float = 16) -> float:
    """Weights only: params * bits / 8 (7B at 16 bit = 14 GB; at 4 bit about 3.5 GB plus scales)."""
    return n_params * bits / 8
# --8<-- [end:inference]


if __name__ == "__main__":
    gb = 1e9
    for stage in range(4):
        m = model_state_bytes(7e9, n_gpus=8, zero_stage=stage)
        print(f"7B, AdamW mixed precision, 8 GPUs, ZeRO-{stage}: {m['total'] / gb:6.1f} GB per GPU")
    # LLaMA-7B-like layer: s=4096, b=1, h=4096, a=32, 32 layers
    for rc in ("none", "selective", "full"):
        per_layer = activation_bytes_per_layer(4096, 1, 4096, 32, recompute=rc)
        print(f"activations, 32 layers, seq 4096, batch 1, recompute={rc:9}: {32 * per_layer / 2**30:6.1f} GiB")
    print(f"inference weights 7B: fp16 {inference_weight_bytes(7e9) / gb:.1f} GB, int4 {inference_weight_bytes(7e9, 4) / gb:.1f} GB")
