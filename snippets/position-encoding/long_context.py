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


# --8<-- [start:long_stage_cost]
def train_flops_per_token(n_params: float, n_layers: int, hidden: int, seq_len: int) -> tuple[float, float]:
    """Training FLOPs per token and the share spent in attention (PaLM's convention):
    6N for the weight matmuls (forward + backward) plus 12 * L * h * T for QK^T and PV over a
    context of T tokens (no credit for the causal mask; real kernels skip about half of it)."""
    attn = 12 * n_layers * hidden * seq_len
    total = 6 * n_params + attn
    return total, attn / total


def long_stage_gpu_hours(n_params: float, n_layers: int, hidden: int, seq_len: int, tokens: float,
                         mfu: float = 0.40, peak_flops: float = 989e12) -> float:
    """GPU-hours of a long-context continued-pre-training stage at a given MFU
    (default: 40 % of an H100's 989 TFLOP/s dense BF16 peak)."""
    per_token, _ = train_flops_per_token(n_params, n_layers, hidden, seq_len)
    return tokens * per_token / (mfu * peak_flops) / 3600
# --8<-- [end:long_stage_cost]


if __name__ == "__main__":
    print(f"Llama-3.1-8B (32 layers, 8 KV heads x 128, bf16) KV cache at 128K tokens: "
          f"{kv_cache_gib(131072, 32, 8, 128):.1f} GiB; LLaMA-2-7B-style MHA would need "
          f"{kv_cache_gib(131072, 32, 32, 128):.1f} GiB")
    print(sink_window_mask(8, window=3, n_sink=1).int())
    text, k = build_needle_prompt([f"Filler sentence {i}." for i in range(10)], "The code is 4217.", 0.5)
    print(f"needle at sentence {k}:", text[:90], "...")
    # a 7B model (6.74B params, 32 layers, h 4096): attention share and the cost of a 128K stage
    for t in (4096, 32768, 131072):
        f, share = train_flops_per_token(6.74e9, 32, 4096, t)
        print(f"7B at {t:6d} tokens: {f:.3e} FLOPs/token, attention {share:.0%}")
    for tokens in (0.5e9, 1e9, 5e9):
        print(f"{tokens / 1e9:.1f}B tokens at 128K: {long_stage_gpu_hours(6.74e9, 32, 4096, 131072, tokens):.0f} H100-hours at 40% MFU")
