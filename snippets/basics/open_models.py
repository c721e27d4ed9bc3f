"""Counting parameters of dense and MoE decoder-only LLMs from their config, and weight memory.

Pages: docs/basics/open_models.{zh,en}.md
"""
from __future__ import annotations


# --8<-- [start:count_params]
def llama_style_params(vocab: int, d: int, n_layers: int, n_heads: int, n_kv_heads: int, d_ff: int,
                       n_experts: int = 1, top_k: int = 1, tied_embeddings: bool = False,
                       qkv_bias: bool = False) -> tuple[int, int]:
    """(total, active-per-token) parameters of a LLaMA-style decoder (RMSNorm, GQA, SwiGLU, optional MoE).

    attention: Wq (d x d), Wk and Wv (d x kv_dim), Wo (d x d), kv_dim = d * n_kv_heads / n_heads
    FFN (SwiGLU): 3 * d * d_ff per expert; an MoE layer also has a router (d x n_experts)
    norms: 2 RMSNorm gains per layer + 1 final; embeddings: vocab x d (x2 if untied)
    """
    kv_dim = d * n_kv_heads // n_heads
    attn = 2 * d * d + 2 * d * kv_dim + (d + 2 * kv_dim if qkv_bias else 0)
    expert = 3 * d * d_ff
    router = d * n_experts if n_experts > 1 else 0
    norms = 2 * d
    emb = vocab * d * (1 if tied_embeddings else 2)
    total = n_layers * (attn + n_experts * expert + router + norms) + d + emb
    active = n_layers * (attn + top_k * expert + router + norms) + d + emb
    return total, active


def weight_memory_gb(n_params: float, bytes_per_param: float) -> float:
    """Weights only (no KV cache, activations or optimizer state), in GB = 1e9 bytes."""
    return n_params * bytes_per_param / 1e9
# --8<-- [end:count_params]


if __name__ == "__main__":
    llama2_7b = llama_style_params(32000, 4096, 32, 32, 32, 11008)
    mixtral = llama_style_params(32000, 4096, 32, 32, 8, 14336, n_experts=8, top_k=2)
    print(f"Llama-2-7B: {llama2_7b[0]:,} params; bf16 weights {weight_memory_gb(llama2_7b[0], 2):.1f} GB, "
          f"int4 {weight_memory_gb(llama2_7b[0], 0.5):.1f} GB")
    print(f"Mixtral-8x7B: total {mixtral[0] / 1e9:.1f}B, active per token {mixtral[1] / 1e9:.1f}B")
