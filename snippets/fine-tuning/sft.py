"""SFT labels and the masked next-token loss (only response tokens count), and the arithmetic of an
SFT run: optimizer steps, LoRA parameter count and the memory of full vs LoRA fine-tuning; adding a
chat vector (chat - base weights) back to a fine-tuned model.

Pages: docs/fine-tuning/sft.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

import math

IGNORE_INDEX = -100  # the label value PyTorch's cross_entropy and Hugging Face skip


# --8<-- [start:build_labels]
def build_sft_example(prompt_ids: list[int], response_ids: list[int],
                      eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate prompt and response; labels copy the ids but hide the prompt.

    Returns input_ids (seq,) and labels (seq,). The EOS after the response is
    trained, so the model learns when to stop.
    """
    ids = prompt_ids + response_ids + [eos_id]
    labels = [IGNORE_INDEX] * len(prompt_ids) + response_ids + [eos_id]
    return torch.tensor(ids), torch.tensor(labels)
# --8<-- [end:build_labels]


# --8<-- [start:masked_loss]
def masked_sft_loss(logits: torch.Tensor, labels: torch.Tensor,
                    ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """Mean next-token NLL over the positions whose label is not ignored.

    logits: (batch, seq, vocab), labels: (batch, seq) aligned with input_ids.
    Position t predicts token t+1, so logits drop the last step and labels the first.
    """
    shift_logits = logits[:, :-1, :]                     # (batch, seq-1, vocab)
    shift_labels = labels[:, 1:]                         # (batch, seq-1)
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.size(-1)),
                           shift_labels.reshape(-1),
                           ignore_index=ignore_index, reduction="mean")
# --8<-- [end:masked_loss]



# --8<-- [start:run_plan]
def schedule(n_examples: int, epochs: int, batch: int, warmup_frac: float = 0.03) -> tuple[int, int]:
    """(total optimizer steps, warm-up steps) for an effective batch of `batch` examples
    (per-device batch x devices x gradient-accumulation steps); the last partial batch counts."""
    total = math.ceil(n_examples / batch) * epochs
    return total, max(1, round(warmup_frac * total))


def lora_params(hidden: int, intermediate: int, layers: int, r: int,
                kv_dim: int | None = None) -> int:
    """Trainable LoRA parameters for a LLaMA-style block with adapters on all 7 linear layers
    (q, k, v, o, gate, up, down). An adapter on a (d_out x d_in) weight adds r * (d_in + d_out).
    kv_dim is the k/v output width (hidden unless grouped-query attention)."""
    kv = hidden if kv_dim is None else kv_dim
    attn = r * (2 * hidden) * 2 + r * (hidden + kv) * 2          # q, o and k, v
    mlp = r * (hidden + intermediate) * 3                        # gate, up, down
    return layers * (attn + mlp)


def train_memory_gb(n_params: float, n_trainable: float, shards: int = 1) -> float:
    """Model-state memory per GPU in GB (1e9 bytes), AdamW with bf16 mixed precision, no activations.

    Frozen weights: 2 bytes each (bf16). Trainable ones: 2 (bf16 weight) + 2 (grad)
    + 4 (fp32 master) + 8 (Adam m, v) = 16 bytes. ZeRO-3 / FSDP splits everything over `shards` GPUs.
    """
    frozen = n_params - n_trainable
    return (2 * frozen + 16 * n_trainable) / shards / 1e9
# --8<-- [end:run_plan]



# --8<-- [start:chat_vector]
def add_chat_vector(target: dict[str, torch.Tensor], base: dict[str, torch.Tensor],
                    chat: dict[str, torch.Tensor], scale: float = 1.0) -> dict[str, torch.Tensor]:
    """theta_new = theta_target + scale * (theta_chat - theta_base), parameter by parameter.

    target: a model fine-tuned or continually pre-trained from `base`; the "chat vector"
    chat - base carries the instruction following and alignment learned in post-training.
    Embeddings whose shapes changed (e.g. an extended vocabulary) must be handled separately.
    """
    if target.keys() != base.keys() or base.keys() != chat.keys():
        raise ValueError("the three state dicts must have the same parameters")
    return {k: target[k] + scale * (chat[k] - base[k]) for k in target}
# --8<-- [end:chat_vector]


if __name__ == "__main__":
    torch.manual_seed(0)
    ids, labels = build_sft_example([5, 6, 7, 8], [9, 10], eos_id=2)
    print("input_ids:", ids.tolist())
    print("labels:   ", labels.tolist())
    logits = torch.randn(1, len(ids), 12)
    full = F.cross_entropy(logits[0, :-1], ids[1:])
    print(f"loss over all tokens {full.item():.4f}, over response only "
          f"{masked_sft_loss(logits, labels[None]).item():.4f} "
          f"({int((labels[1:] != IGNORE_INDEX).sum())} of {len(ids) - 1} targets count)")
    steps, warm = schedule(20_000, 3, 64)
    print(f"20k examples, 3 epochs, batch 64: {steps} steps, {warm} warm-up")
    n7b, lora = 6.74e9, lora_params(4096, 11008, 32, r=16)
    print(f"LLaMA-7B LoRA r=16 on all linear layers: {lora / 1e6:.1f} M trainable parameters")
    print(f"full fine-tune: {train_memory_gb(n7b, n7b):.0f} GB of model states; "
          f"ZeRO-3 on 8 GPUs: {train_memory_gb(n7b, n7b, 8):.1f} GB each; "
          f"LoRA on 1 GPU: {train_memory_gb(n7b + lora, lora):.1f} GB")
    torch.manual_seed(0)
    base_sd = {"w": torch.randn(3, 3)}
    chat_sd = {"w": base_sd["w"] + 0.1}
    domain_sd = {"w": base_sd["w"] - 0.2}
    merged = add_chat_vector(domain_sd, base_sd, chat_sd)
    print("chat vector: merged - domain =", round(float((merged["w"] - domain_sd["w"]).mean()), 3))
