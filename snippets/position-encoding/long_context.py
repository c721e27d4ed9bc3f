"""Long context in practice: KV-cache memory, a sliding-window + attention-sink mask (StreamingLLM),
and a needle-in-a-haystack probe.

Pages: docs/position-encoding/long_context.{zh,en}.md
"""
from __future__ import annotations

import torch


# --8<-- [start:kv_memory]
def kv_cache_gib(seq_len: int, n_layers: int, n_kv_heads: int, head_dim: int, bytes_per_elem: int = 2,
                 batch: int = 1) -> float:
    """KV-cache size in GiB: 2 (K and V) x layers x kv_heads x head_dim x bytes, per token."""
    return 2 * n_layers * n_kv_heads * head_dim * bytes_per_elem * seq_len * batch / 2 ** 30
# --8<-- [end:kv_memory]


# --8<-- [start:sink_mask]
def sink_window_mask(seq: int, window: int, n_sink: int = 4) -> torch.Tensor:
    """(seq, seq) bool mask, True = may attend: causal, last `window` tokens + the first n_sink tokens.

    StreamingLLM (Xiao et al., 2023) keeps the first tokens because models park a lot of
    attention there ("attention sinks"); a plain sliding window that evicts them degrades sharply.
    The KV cache then holds at most window + n_sink entries, whatever the stream length.
    """
    i = torch.arange(seq)[:, None]
    j = torch.arange(seq)[None, :]
    causal = j <= i
    recent = i - j < window
    sink = j < n_sink
    return causal & (recent | sink)
# --8<-- [end:sink_mask]


# --8<-- [start:needle]
def build_needle_prompt(filler: list[str], needle: str, depth: float) -> tuple[str, int]:
    """Insert `needle` after the sentence nearest to `depth` (0 = start, 1 = end) of the filler text.

    Returns (haystack text, index of the needle sentence). A needle test asks a question whose
    answer is only in the needle and sweeps depth x context length.
    """
    if not 0.0 <= depth <= 1.0:
        raise ValueError("depth must be in [0, 1]")
    k = round(depth * len(filler))
    sentences = filler[:k] + [needle] + filler[k:]
    return " ".join(sentences), k


def needle_recall(answers: list[str], expected: str) -> float:
    """Share of answers that contain the expected string (case-insensitive)."""
    return sum(expected.lower() in a.lower() for a in answers) / len(answers)
# --8<-- [end:needle]


if __name__ == "__main__":
    print(f"Llama-3.1-8B (32 layers, 8 KV heads x 128, bf16) KV cache at 128K tokens: "
          f"{kv_cache_gib(131072, 32, 8, 128):.1f} GiB; LLaMA-2-7B-style MHA would need "
          f"{kv_cache_gib(131072, 32, 32, 128):.1f} GiB")
    print(sink_window_mask(8, window=3, n_sink=1).int())
    text, k = build_needle_prompt([f"Filler sentence {i}." for i in range(10)], "The code is 4217.", 0.5)
    print(f"needle at sentence {k}:", text[:90], "...")
