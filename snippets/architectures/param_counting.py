"""Parameter and FLOP counting for decoder-only Transformers (GPT-2 / LLaMA / Mixtral style).

Pages: docs/architectures/param_counting.{zh,en}.md
"""
from __future__ import annotations

from dataclasses import dataclass


# --8<-- [start:config]
@dataclass(frozen=True)
class DecoderConfig:
    """The handful of numbers that fix the size of a decoder-only LM."""

    vocab_size: int
    d_model: int                 # hidden size d
    n_layers: int                # L
    n_heads: int                 # query heads
    d_ff: int                    # FFN inner width (per expert for MoE)
    n_kv_heads: int | None = None  # None -> MHA; < n_heads -> GQA; 1 -> MQA
    gated_ffn: bool = True       # SwiGLU: 3 matrices; classic MLP: 2
    norm: str = "rmsnorm"        # "rmsnorm" (gain only) or "layernorm" (gain + bias)
    attn_bias: bool = False      # GPT-2: biases on QKV and output projections
    mlp_bias: bool = False
    learned_pos: int = 0         # rows of a learned position table (GPT-2: 1024); 0 for RoPE
    tie_embeddings: bool = False # GPT-2: lm_head shares the token embedding
    n_experts: int = 1           # routed experts per layer (1 = dense FFN)
    top_k: int = 1               # experts each token uses
    n_shared_experts: int = 0    # always-on experts (DeepSeekMoE)
# --8<-- [end:config]


# --8<-- [start:count_params]
def count_params(c: DecoderConfig) -> dict[str, int]:
    """Parameter count by component; 'total' is stored, 'active' is used per token (MoE)."""
    d, h = c.d_model, c.n_heads
    head_dim = d // h
    kv = (c.n_kv_heads or h) * head_dim                 # width of K and V projections
    attn = d * d + 2 * d * kv + d * d                   # W_Q, W_K, W_V, W_O
    if c.attn_bias:
        attn += d + 2 * kv + d
    mats = 3 if c.gated_ffn else 2                      # SwiGLU: gate, up, down
    expert = mats * d * c.d_ff + ((2 * c.d_ff if c.gated_ffn else c.d_ff) + d if c.mlp_bias else 0)
    router = d * c.n_experts if c.n_experts > 1 else 0
    ffn_total = (c.n_experts + c.n_shared_experts) * expert + router
    ffn_active = (min(c.top_k, c.n_experts) + c.n_shared_experts) * expert + router
    norm_p = d if c.norm == "rmsnorm" else 2 * d         # one norm's parameters
    per_layer_norms = 2 * norm_p                        # before attention, before FFN
    embed = c.vocab_size * d + c.learned_pos * d
    lm_head = 0 if c.tie_embeddings else c.vocab_size * d
    final_norm = norm_p
    body = c.n_layers * (attn + per_layer_norms)
    total = embed + body + c.n_layers * ffn_total + final_norm + lm_head
    active = embed + body + c.n_layers * ffn_active + final_norm + lm_head
    return {
        "embedding": embed, "attention": c.n_layers * attn, "ffn": c.n_layers * ffn_total,
        "norms": c.n_layers * per_layer_norms + final_norm, "lm_head": lm_head,
        "total": total, "active": active,
        "non_embedding": total - embed - lm_head,
    }
# --8<-- [end:count_params]


# --8<-- [start:flops]
def forward_flops_per_token(c: DecoderConfig, context: int) -> int:
    """Matmul FLOPs of one forward pass per token (multiply-add = 2 FLOPs).

    2 FLOPs per weight used in a matmul (attention projections, the active FFN
    experts, router, lm_head; a tied lm_head still counts) plus the two
    attention matmuls QK^T and AV computed densely over `context` tokens:
    2 * 2 * context * d per layer. Embedding lookups, biases, norms, softmax
    and activations are element-wise and ignored.
    """
    d, h = c.d_model, c.n_heads
    kv = (c.n_kv_heads or h) * (d // h)
    attn_w = 2 * d * d + 2 * d * kv
    ffn_w = (min(c.top_k, c.n_experts) + c.n_shared_experts) * (3 if c.gated_ffn else 2) * d * c.d_ff
    router_w = d * c.n_experts if c.n_experts > 1 else 0
    matmul_weights = c.n_layers * (attn_w + ffn_w + router_w) + c.vocab_size * d   # + lm_head
    attention_scores = 2 * 2 * c.n_layers * context * d                            # QK^T and AV
    return 2 * matmul_weights + attention_scores
# --8<-- [end:flops]


# --8<-- [start:published]
LLAMA2_7B = DecoderConfig(vocab_size=32000, d_model=4096, n_layers=32, n_heads=32, d_ff=11008)
LLAMA2_13B = DecoderConfig(vocab_size=32000, d_model=5120, n_layers=40, n_heads=40, d_ff=13824)
LLAMA3_8B = DecoderConfig(vocab_size=128256, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8, d_ff=14336)
GPT2_SMALL = DecoderConfig(vocab_size=50257, d_model=768, n_layers=12, n_heads=12, d_ff=3072,
                           gated_ffn=False, norm="layernorm", attn_bias=True, mlp_bias=True,
                           learned_pos=1024, tie_embeddings=True)
MIXTRAL_8X7B = DecoderConfig(vocab_size=32000, d_model=4096, n_layers=32, n_heads=32, n_kv_heads=8,
                             d_ff=14336, n_experts=8, top_k=2)
# --8<-- [end:published]


if __name__ == "__main__":
    for name, cfg in [("GPT-2 small", GPT2_SMALL), ("LLaMA-2-7B", LLAMA2_7B), ("LLaMA-2-13B", LLAMA2_13B),
                      ("LLaMA-3-8B", LLAMA3_8B), ("Mixtral-8x7B", MIXTRAL_8X7B)]:
        p = count_params(cfg)
        print(f"{name:13s} total {p['total'] / 1e9:7.3f} B   active {p['active'] / 1e9:7.3f} B   "
              f"embedding+lm_head share {(p['embedding'] + p['lm_head']) / p['total']:.1%}")
    cfg = LLAMA2_7B
    for ctx in (2048, 32768):
        f = forward_flops_per_token(cfg, ctx)
        weights_only = forward_flops_per_token(cfg, 0)            # context 0: the 2 * N_matmul part
        print(f"LLaMA-2-7B forward FLOPs/token at context {ctx}: {f / 1e9:.1f} GFLOPs "
              f"(weights {weights_only / 1e9:.1f}, attention scores {(f - weights_only) / 1e9:.1f})")
