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
