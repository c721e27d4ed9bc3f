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


def _by_component(model: torch.nn.Module) -> dict[str, int]:
    """Hugging Face parameter names grouped into the snippet's components (tied weights counted once)."""
    groups = {"embedding": 0, "attention": 0, "ffn": 0, "norms": 0, "lm_head": 0}
    for name, p in model.named_parameters():
        if "embed_tokens" in name or ".wte." in name or ".wpe." in name:
            groups["embedding"] += p.numel()
        elif "self_attn" in name or ".attn." in name:
            groups["attention"] += p.numel()
        elif ".mlp." in name:
            groups["ffn"] += p.numel()
        elif "norm" in name or ".ln_" in name:
            groups["norms"] += p.numel()
        else:
            assert name.startswith("lm_head"), name
            groups["lm_head"] += p.numel()
    return groups


def test_components_match_hugging_face_modules():
    llama = LlamaForCausalLM(LlamaConfig(vocab_size=101, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
                                         num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=False,
                                         attention_bias=True, mlp_bias=True))   # biases on q, k, v, o and all 3 MLP mats
    llama_cfg = pc.DecoderConfig(vocab_size=101, d_model=64, n_layers=3, n_heads=8, n_kv_heads=2, d_ff=96,
                                 attn_bias=True, mlp_bias=True)
    mixtral = MixtralForCausalLM(MixtralConfig(vocab_size=50, hidden_size=32, intermediate_size=40,
                                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                               num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False))
    mixtral_cfg = pc.DecoderConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=40,
                                   n_experts=4, top_k=2)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4))
    gpt2_cfg = pc.DecoderConfig(vocab_size=97, d_model=48, n_layers=2, n_heads=4, d_ff=4 * 48, gated_ffn=False,
                                norm="layernorm", attn_bias=True, mlp_bias=True, learned_pos=32, tie_embeddings=True)
    for model, cfg in ((llama, llama_cfg), (mixtral, mixtral_cfg), (gpt2, gpt2_cfg)):
        p, ref = pc.count_params(cfg), _by_component(model)
        assert {k: p[k] for k in ref} == ref
        assert p["total"] == sum(ref.values()) == n_params(model)
        assert p["non_embedding"] == ref["attention"] + ref["ffn"] + ref["norms"]


def test_shared_experts_count_in_total_and_active():
    # DeepSeekMoE-style: each always-on shared expert adds one SwiGLU expert (3 d d_ff) per layer to both
    base = pc.DecoderConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, d_ff=40, n_experts=8, top_k=2)
    shared = pc.DecoderConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, d_ff=40, n_experts=8, top_k=2,
                              n_shared_experts=2)
    p0, p2 = pc.count_params(base), pc.count_params(shared)
    assert p2["total"] - p0["total"] == p2["active"] - p0["active"] == 2 * 2 * 3 * 32 * 40
    assert p2["ffn"] - p0["ffn"] == 2 * 2 * 3 * 32 * 40
    # active: 2 routed + 2 shared experts of the 10 stored, plus the router (d x 8) in every layer
    assert p2["ffn"] - (p2["total"] - p2["active"]) == 2 * (4 * 3 * 32 * 40 + 32 * 8)
    f0, f2 = pc.forward_flops_per_token(base, 16), pc.forward_flops_per_token(shared, 16)
    assert f2 - f0 == 2 * (2 * 2 * 3 * 32 * 40)                    # 2 FLOPs per shared-expert weight


@pytest.mark.parametrize("arch", ["mixtral", "gpt2"])
def test_forward_flops_match_flop_counter_moe_and_tied_head(arch):
    # Mixtral: only the top-2 experts' weights and the router are used per token (eager experts loop, so
    # FlopCounterMode sees every expert matmul); GPT-2: the tied lm_head is still a matmul
    torch.manual_seed(0)
    if arch == "mixtral":
        model = MixtralForCausalLM(MixtralConfig(
            vocab_size=50, hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2, tie_word_embeddings=False,
            attn_implementation="eager", experts_implementation="eager")).eval()
        cfg = pc.DecoderConfig(vocab_size=50, d_model=32, n_layers=2, n_heads=4, n_kv_heads=2, d_ff=40,
                               n_experts=4, top_k=2)
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=97, n_positions=32, n_embd=48, n_layer=2, n_head=4,
                                           attn_implementation="eager")).eval()
        cfg = pc.DecoderConfig(vocab_size=97, d_model=48, n_layers=2, n_heads=4, d_ff=4 * 48, gated_ffn=False,
                               norm="layernorm", attn_bias=True, mlp_bias=True, learned_pos=32, tie_embeddings=True)
    seq = 20
    ids = torch.randint(0, cfg.vocab_size, (1, seq))
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(ids)
    assert fc.get_total_flops() == seq * pc.forward_flops_per_token(cfg, context=seq)


def test_two_expert_moe_has_a_router_and_counts_are_integers():
    # the smallest MoE: 2 experts, top-1 (a router is needed as soon as there are 2 experts to choose from)
    torch.manual_seed(0)
    model = MixtralForCausalLM(MixtralConfig(
        vocab_size=40, hidden_size=16, intermediate_size=24, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, num_local_experts=2, num_experts_per_tok=1, tie_word_embeddings=False,
        attn_implementation="eager", experts_implementation="eager")).eval()
    cfg = pc.DecoderConfig(vocab_size=40, d_model=16, n_layers=1, n_heads=2, n_kv_heads=1, d_ff=24,
                           n_experts=2, top_k=1)
    p = pc.count_params(cfg)
    assert p["total"] == n_params(model) and p["total"] - p["active"] == 3 * 16 * 24
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.randint(0, 40, (1, 10)))
    assert fc.get_total_flops() == 10 * pc.forward_flops_per_token(cfg, context=10)
    # parameter and FLOP counts are whole numbers (ints, as annotated), for every published config too
    for c in (cfg, pc.LLAMA3_8B, pc.GPT2_SMALL, pc.MIXTRAL_8X7B):
        assert all(type(v) is int for v in pc.count_params(c).values())
        assert type(pc.forward_flops_per_token(c, 4096)) is int
