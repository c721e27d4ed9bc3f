"""Parameter counts from config vs transformers models instantiated on the meta device (no weights)."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, MixtralConfig, MixtralForCausalLM, Qwen2Config, Qwen2ForCausalLM

from snippets import load

om = load("basics/open_models")


def _count(model_cls, config):
    with torch.device("meta"):
        model = model_cls(config)
    return sum(p.numel() for p in model.parameters())


def test_llama2_7b_count_matches_transformers():
    cfg = LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                      num_attention_heads=32, num_key_value_heads=32, tie_word_embeddings=False)
    total, active = om.llama_style_params(32000, 4096, 32, 32, 32, 11008)
    assert total == active == _count(LlamaForCausalLM, cfg) == 6_738_415_616
    assert type(total) is int and type(active) is int          # counts, as the signature says (not 6.7e9 floats)


def test_gqa_tied_qwen2_style_count_matches_transformers():
    # A small Qwen2-style config: GQA, QKV bias, tied embeddings.
    cfg = Qwen2Config(vocab_size=1000, hidden_size=256, intermediate_size=688, num_hidden_layers=3,
                      num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=True)
    total, _ = om.llama_style_params(1000, 256, 3, 8, 2, 688, tied_embeddings=True, qkv_bias=True)
    assert total == _count(Qwen2ForCausalLM, cfg)


def test_mixtral_total_and_active_match_transformers():
    cfg = MixtralConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                        num_attention_heads=32, num_key_value_heads=8, num_local_experts=8,
                        num_experts_per_tok=2, tie_word_embeddings=False)
    total, active = om.llama_style_params(32000, 4096, 32, 32, 8, 14336, n_experts=8, top_k=2)
    assert total == _count(MixtralForCausalLM, cfg)
    assert total / 1e9 == pytest.approx(46.7, abs=0.05) and active / 1e9 == pytest.approx(12.9, abs=0.05)


def test_weight_memory_by_hand():
    assert om.weight_memory_gb(7e9, 2) == pytest.approx(14.0)      # 7B in fp16/bf16
    assert om.weight_memory_gb(70e9, 0.5) == pytest.approx(35.0)   # 70B in int4
    # GB = 10^9 bytes exactly (not GiB, not "about"): LLaMA-2-7B in bf16 is 13,476,831,232 bytes
    assert om.weight_memory_gb(6_738_415_616, 2) == pytest.approx(13.476831232, rel=1e-12)
    assert om.weight_memory_gb(1e9, 1) == pytest.approx(1.0, rel=1e-12)



@pytest.mark.parametrize("n_experts, top_k, tied", [(6, 2, False), (6, 1, True), (2, 1, False)])
def test_moe_active_count_matches_transformers_minus_unused_experts(n_experts, top_k, tied):
    # Active per token = every parameter except the (n_experts - top_k) experts a token is not routed to;
    # the router (all n_experts logits are computed for every token) and attention count in full.
    # Small, mutually distinct sizes so that each term of the count moves the result differently;
    # 2 experts is the smallest MoE (it still has a router).
    E, k, L = n_experts, top_k, 3
    cfg = MixtralConfig(vocab_size=97, hidden_size=40, intermediate_size=56, num_hidden_layers=L,
                        num_attention_heads=8, num_key_value_heads=2, num_local_experts=E,
                        num_experts_per_tok=k, tie_word_embeddings=tied)
    with torch.device("meta"):
        model = MixtralForCausalLM(cfg)
    params = dict(model.named_parameters())
    expert_params = sum(p.numel() for n, p in params.items() if ".mlp.experts." in n)
    assert params["model.layers.0.mlp.gate.weight"].shape == (E, 40)           # the router: d x n_experts
    total, active = om.llama_style_params(97, 40, L, 8, 2, 56, n_experts=E, top_k=k, tied_embeddings=tied)
    assert total == sum(p.numel() for p in params.values())
    assert active == total - expert_params * (E - k) // E
