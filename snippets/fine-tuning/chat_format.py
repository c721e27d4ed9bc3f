"""Multi-turn chat formatting (ChatML-style), assistant-only labels and sequence packing.

Pages: docs/fine-tuning/chat_format.{zh,en}.md
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


# --8<-- [start:render_chat]
def render_chatml(messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """Render messages [{"role", "content"}, ...] in the ChatML layout used by Qwen.

    <|im_start|>{role}\n{content}<|im_end|>\n per turn; with add_generation_prompt
    the string ends with an open assistant header for inference.
    """
    out = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    if add_generation_prompt:
        out += "<|im_start|>assistant\n"
    return out


def tokenize_chat(messages: list[dict[str, str]],
                  encode: Callable[[str], list[int]]) -> tuple[list[int], list[int]]:
    """Token ids of the whole conversation and labels that train every assistant turn.

    Each turn is split into a header (never trained) and a body; for assistant
    turns the body is `content<|im_end|>` so the model also learns to stop.
    Training all assistant turns of one sample = one forward pass for n turns.
    """
    ids: list[int] = []
    labels: list[int] = []
    for m in messages:
        header = encode(f"<|im_start|>{m['role']}\n")
        body = encode(f"{m['content']}<|im_end|>")
        tail = encode("\n")
        ids += header + body + tail
        train = m["role"] == "assistant"
        labels += [IGNORE_INDEX] * len(header) + (body if train else [IGNORE_INDEX] * len(body)) \
            + [IGNORE_INDEX] * len(tail)
    return ids, labels
# --8<-- [end:render_chat]


# --8<-- [start:packing]
def pack_examples(examples: list[list[int]]) -> dict[str, torch.Tensor]:
    """Concatenate several tokenized examples into one row without cross-contamination.

    Returns input_ids, labels, position_ids and doc_ids, each (total_len,).
    Positions restart at 0 in every example; the first token of each example gets
    label -100 so no example is trained to predict the start of the next one.
    """
    ids, labels, pos, doc = [], [], [], []
    for d, ex in enumerate(examples):
        ids += ex
        labels += [IGNORE_INDEX] + ex[1:]
        pos += list(range(len(ex)))
        doc += [d] * len(ex)
    return {k: torch.tensor(v) for k, v in
            dict(input_ids=ids, labels=labels, position_ids=pos, doc_ids=doc).items()}


def packed_causal_mask(doc_ids: torch.Tensor) -> torch.Tensor:
    """Block-diagonal causal mask (seq, seq): True where query i may attend to key j."""
    same_doc = doc_ids[:, None] == doc_ids[None, :]
    causal = torch.ones_like(same_doc).tril()
    return same_doc & causal


def packed_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     doc_ids: torch.Tensor) -> torch.Tensor:
    """Attention over a packed row. q, k, v: (batch, heads, seq, head_dim)."""
    mask = packed_causal_mask(doc_ids)                   # (seq, seq), broadcast over batch/heads
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def first_fit_decreasing(lengths: list[int], max_len: int) -> list[list[int]]:
    """Greedy bin packing: indices of examples per packed row, each row <= max_len tokens."""
    bins: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if lengths[i] > max_len:
            raise ValueError(f"example {i} is longer than max_len; truncate it first")
        for b, free in enumerate(room):
            if lengths[i] <= free:
                bins[b].append(i)
                room[b] -= lengths[i]
                break
        else:
            bins.append([i])
            room.append(max_len - lengths[i])
    return bins
# --8<-- [end:packing]


if __name__ == "__main__":
    msgs = [{"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "1+1?"},
            {"role": "assistant", "content": "2"},
            {"role": "user", "content": "times 3?"},
            {"role": "assistant", "content": "6"}]
    print(render_chatml(msgs))
    vocab: dict[str, int] = {}
    enc = lambda s: [vocab.setdefault(ch, len(vocab)) for ch in s]   # toy char tokenizer
    ids, labels = tokenize_chat(msgs, enc)
    print(f"{len(ids)} tokens, {sum(l != IGNORE_INDEX for l in labels)} trained (assistant bodies)")
    packed = pack_examples([[11, 12, 13], [21, 22], [31, 32, 33, 34]])
    print("position_ids:", packed["position_ids"].tolist())
    print("labels:      ", packed["labels"].tolist())
    print(packed_causal_mask(packed["doc_ids"]).int())
    print("rows:", first_fit_decreasing([700, 300, 500, 200, 900, 400], max_len=1024))
