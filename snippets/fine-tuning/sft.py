"""SFT labels and the masked next-token loss: only response tokens count.

Pages: docs/fine-tuning/sft.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

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
