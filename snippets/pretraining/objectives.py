"""Pre-training objectives: next-token (causal LM) loss and BERT's masked-LM corruption.

Pages: docs/pretraining/objectives.{zh,en}.md
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100   # label value skipped by the loss (PyTorch / Hugging Face convention)


# --8<-- [start:causal_lm]
def causal_lm_loss(logits: torch.Tensor, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
    """Next-token prediction: position t predicts token t+1.

    logits: (batch, seq, vocab); input_ids / labels: (batch, seq). Labels default to the
    inputs; positions labelled IGNORE (padding, prompt tokens in SFT) do not count.
    Returns the mean negative log-likelihood over the counted positions.
    """
    labels = input_ids if labels is None else labels
    shift_logits = logits[:, :-1, :]            # predictions for positions 1..seq-1
    shift_labels = labels[:, 1:]                # the tokens that actually came next
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]).float(),
                           shift_labels.reshape(-1), ignore_index=IGNORE)
# --8<-- [end:causal_lm]


# --8<-- [start:mlm_mask]
def mlm_mask(input_ids: torch.Tensor, mask_token_id: int, vocab_size: int, special: torch.Tensor,
             p: float = 0.15, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: choose p of the non-special tokens as targets; of those,
    80% become [MASK], 10% a random token, 10% stay unchanged.

    input_ids, special (bool, True for [CLS]/[SEP]/[PAD]): (batch, seq).
    Returns (corrupted inputs, labels) with labels = IGNORE except at the chosen positions.
    """
    chosen = (torch.rand(input_ids.shape, generator=generator) < p) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    r = torch.rand(input_ids.shape, generator=generator)
    to_mask = chosen & (r < 0.8)
    to_random = chosen & (r >= 0.8) & (r < 0.9)
    corrupted = input_ids.clone()
    corrupted[to_mask] = mask_token_id
    corrupted[to_random] = torch.randint(vocab_size, (int(to_random.sum()),), generator=generator)
    return corrupted, labels
# --8<-- [end:mlm_mask]


if __name__ == "__main__":
    g = torch.Generator().manual_seed(0)
    vocab = 1000
    logits = torch.zeros(2, 16, vocab)                      # a model that knows nothing
    ids = torch.randint(vocab, (2, 16), generator=g)
    print(f"uniform-model causal LM loss {causal_lm_loss(logits, ids).item():.4f} = ln(vocab) "
          f"{torch.log(torch.tensor(float(vocab))).item():.4f}")
    ids = torch.randint(5, vocab, (64, 128), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True                   # [CLS] ... [SEP]
    x, y = mlm_mask(ids, mask_token_id=4, vocab_size=vocab, special=special, generator=g)
    chosen = y != IGNORE
    print(f"chosen {chosen.float().mean().item():.3f} of tokens; of those "
          f"[MASK] {(x[chosen] == 4).float().mean().item():.2f}, "
          f"unchanged {(x[chosen] == ids[chosen]).float().mean().item():.2f}")
