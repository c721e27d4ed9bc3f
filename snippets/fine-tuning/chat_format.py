"""Multi-turn chat formatting (ChatML-style), assistant-only labels and sequence packing.

Pages: docs/fine-tuning/chat_format.{zh,en}.md
"""
from __future__ import annotations

import json
import math
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


# --8<-- [start:multiturn_checks]
def split_vs_single_pass_tokens(turn_tokens: list[int]) -> tuple[int, int]:
    """Tokens processed for one n-turn dialogue (turn_tokens[k] = tokens of user k + reply k):
    one sequence with every reply trained, vs n examples 'history up to reply k'."""
    single = sum(turn_tokens)
    split = sum(sum(turn_tokens[:k + 1]) for k in range(len(turn_tokens)))
    return single, split


def sft_loss(logits: torch.Tensor, labels: torch.Tensor, group_ids: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Next-token cross-entropy on labelled positions. logits: (seq, vocab), labels: (seq,)
    already aligned with logits (label -100 = not trained).

    group_ids=None: mean over all trained tokens (long dialogues and long replies dominate).
    group_ids (seq,): mean within each group, then over groups; pass turn ids for per-turn or
    dialogue ids for per-dialogue weighting."""
    tok = F.cross_entropy(logits, labels.clamp(min=0), reduction="none")
    mask = labels != IGNORE_INDEX
    if group_ids is None:
        return tok[mask].sum() / mask.sum()
    groups = group_ids[mask].unique()
    return torch.stack([tok[mask & (group_ids == g)].mean() for g in groups]).mean()


def audit_chatml_labels(labels: list[int], decode: Callable[[list[int]], str],
                        ids: list[int]) -> list[str]:
    """Decode every trained span and report what a human would spot in a label dump: a span
    that does not start right after '<|im_start|>assistant\n' (off-by-one, or a user turn
    trained), that contains a role header (the model learns to write the next user turn), or
    that does not end with '<|im_end|>' (stop token not trained, or a reply cut by truncation)."""
    problems, i, n = [], 0, len(labels)
    while i < n:
        if labels[i] == IGNORE_INDEX:
            i += 1
            continue
        j = i
        while j < n and labels[j] != IGNORE_INDEX:
            j += 1
        span, before = decode(labels[i:j]), decode(ids[:i])
        if not before.endswith("<|im_start|>assistant\n"):
            problems.append(f"span at {i}: does not start right after an assistant header")
        if "<|im_start|>" in span:
            problems.append(f"span at {i}: contains a role header")
        if not span.endswith("<|im_end|>"):
            problems.append(f"span at {i}: does not end with <|im_end|>")
        i = j
    return problems
# --8<-- [end:multiturn_checks]


# --8<-- [start:format_checks]
def passages_that_fit(context_tokens: int, fixed_tokens: int, answer_tokens: int,
                      passage_tokens: int) -> int:
    """How many retrieved passages of passage_tokens fit next to the fixed part (system prompt,
    instruction, question) while reserving answer_tokens for the reply."""
    return max(0, (context_tokens - fixed_tokens - answer_tokens) // passage_tokens)


def output_format_report(outputs: list[str], eos: str = "<|im_end|>",
                         markers: tuple[str, ...] = ("<|im_start|>", "<|im_end|>",
                                                     "<|endoftext|>"),
                         expect_json: bool = True) -> dict[str, float]:
    """Rates over raw generations (decoded WITH special tokens): no end token emitted,
    role/special tags leaking into the reply, and JSON that does not parse."""
    n = len(outputs)
    no_stop = leak = bad_json = 0
    for text in outputs:
        stopped = text.endswith(eos)
        body = text[: -len(eos)] if stopped else text
        no_stop += not stopped
        leak += any(m in body for m in markers)
        if expect_json:
            try:
                json.loads(body)
            except json.JSONDecodeError:
                bad_json += 1
    return {"no_stop_rate": no_stop / n, "tag_leak_rate": leak / n, "json_fail_rate": bad_json / n}


def samples_for_zero_failure_claim(max_failure_rate: float, confidence: float = 0.95) -> int:
    """Failure-free generations needed before "failure rate <= max_failure_rate" holds at the
    given one-sided confidence: the smallest n with (1 - rate)^n <= 1 - confidence."""
    return math.ceil(math.log(1 - confidence) / math.log(1 - max_failure_rate))
# --8<-- [end:format_checks]


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
    print("10 turns x 400 tokens, (single pass, split):", split_vs_single_pass_tokens([400] * 10))
    dec = lambda toks: "".join({v: k for k, v in vocab.items()}[t] for t in toks)
    print("label audit, correct:", audit_chatml_labels(labels, dec, ids))
    shifted = [IGNORE_INDEX] + labels[:-1]          # an off-by-one mask
    print("label audit, shifted by one:", audit_chatml_labels(shifted, dec, ids)[:2])
    print("passages of 512 tokens in 8K:", passages_that_fit(8192, 600, 1024, 512))
    print(output_format_report(['{"a": 1}<|im_end|>', '{"a": 1', '<|im_start|>user<|im_end|>']))
    print("failure-free generations to show >= 99% validity at 95%:", samples_for_zero_failure_claim(0.01))
