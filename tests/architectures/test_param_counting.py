"""Parameter / FLOP counter vs real Hugging Face models, published totals and FlopCounterMode."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import (GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, MixtralConfig,
                          MixtralForCausalLM)

from snippets import load

pc = load("architectures/param_counting")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())   # tied weights are counted once


def test_published_totals():
    # LLaMA-2 paper / model cards: 7B -> 6.74 B, 13B -> 13.0 B; GPT-2 small: 124 M; Mixtral: 46.7 B / 12.9 B active.
    assert pc.count_params(pc.LLAMA2_7B)["total"] / 1e9 == pytest.approx(6.74, abs=0.005)
    assert pc.count_params(pc.LLAMA2_13B)["total"] / 1e9 == pytest.approx(13.02, abs=0.01)
    assert pc.count_params(pc.GPT2_SMALL)["total"] / 1e6 == pytest.approx(124.4, abs=0.1)
    mix = pc.count_params(pc.MIXTRAL_8X7B)
    assert mix["total"] / 1e9 == pytest.approx(46.7, abs=0.05)
    assert mix["active"] / 1e9 == pytest.approx(12.9, abs=0.05)


def test_llama2_7b_by_hand():
    d, L, V, f = 4096, 32, 32000, 11008
    per_layer = 4 * d * d + 3 * d * f + 2 * d   # 4 attention mats, 3 SwiGLU mats, 2 RMSNorm gains
    assert pc.count_params(pc.LLAMA2_7B)["total"] == L * per_layer + 2 * V * d + d == 6_738_415_616


@pytest.mark.parametrize("name,hf", [
    ("LLAMA2_7B", dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=32)),
    ("LLAMA3_8B", dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8)),
])
def test_full_size_llama_on_meta_device(name, hf):
    with torch.device("meta"):          # builds the module tree without allocating memory
        model = LlamaForCausalLM(LlamaConfig(**hf))
    assert pc.count_params(getattr(pc, name))["total"] == n_params(model)


def test_tiny_random_llama_gqa_untied():
    torch.manual_seed(0)
    hf = LlamaConfig(vocab_size=101, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                     num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=False)
    cfg = pc.DecoderConfig(vocab_size=101, d_model=64, n_layers=3, n_heads=8, n_kv_heads=2, d_ff=96)
    assert pc.count_params(cfg)["total"] == n_params(LlamaForCausalLM(hf))


def test_tiny_and_full_gpt2():
    hf = GPT2Config(vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4)
    cfg = pc.DecoderConfig(vocab_size=97, d_model=48, n_layers=2, n_heads=4, d_ff=4 * 48, gated_ffn=False,
                           norm="layernorm", attn_bias=True, mlp_bias=True, learned_pos=32,
                           tie_embeddings=True)
    assert pc.count_params(cfg)["total"] == n_params(GPT2LMHeadModel(hf))
    with torch.device("meta"):
        assert pc.count_params(pc.GPT2_SMALL)["total"] == n_params(GPT2LMHeadModel(GPT2Config()))


def test_tiny_mixtral_total_and_active():
    hf = MixtralConfig(vocab_size=50, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, num_local_experts=4,
                       num_experts_per_tok=2, tie_word_embeddings=False)
    model = MixtralForCausalLM(hf)
    cfg = pc.DecoderConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=40,
                           n_experts=4, top_k=2)
    p = pc.count_params(cfg)
    assert p["total"] == n_params(model)
    # active = total minus the (n_experts - top_k) unused experts in every layer
    assert p["active"] == p["total"] - 2 * (4 - 2) * 3 * 32 * 40


def test_forward_flops_match_flop_counter():
    torch.manual_seed(0)
    hf = LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, attn_implementation="eager")
    model = LlamaForCausalLM(hf).eval()
    cfg = pc.DecoderConfig(vocab_size=128, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=160)
    seq = 24
    ids = torch.randint(0, 128, (1, seq))
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(ids)
    # eager attention computes the full seq x seq score matrix, so context = seq for every token
    assert fc.get_total_flops() == seq * pc.forward_flops_per_token(cfg, context=seq)
