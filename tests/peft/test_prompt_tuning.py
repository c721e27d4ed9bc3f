"""Tests for snippets/peft/prompt_tuning.py.

Oracles: peft's trainable-parameter counts on a tiny random Llama built from a config,
and F.scaled_dot_product_attention with an explicit prefix-aware mask.
"""
import warnings

import torch
import torch.nn.functional as F
from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, TaskType, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from snippets import load

pt = load("peft/prompt_tuning")

CFG = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=3,
           num_attention_heads=4, num_key_value_heads=4)


def _peft_llama(peft_config):
    """peft's model around a tiny random Llama (seeded; peft's config warnings silenced)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return get_peft_model(LlamaForCausalLM(LlamaConfig(**CFG)), peft_config)


def _peft_trainable(peft_config) -> int:
    return _peft_llama(peft_config).get_nb_trainable_parameters()[0]


def test_prompt_tuning_count_matches_peft():
    n = _peft_trainable(PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=7))
    assert n == pt.prompt_tuning_params(7, 16) == 7 * 16


def test_prefix_tuning_counts_match_peft():
    n = _peft_trainable(PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5))
    assert n == pt.prefix_tuning_params(5, 3, 16) == 5 * 3 * 2 * 16
    n = _peft_trainable(PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5,
                                           prefix_projection=True, encoder_hidden_size=12))
    assert n == pt.prefix_tuning_params(5, 3, 16, projection_hidden=12)


def test_p_tuning_mlp_count_matches_peft():
    n = _peft_trainable(PromptEncoderConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=6,
                                            encoder_hidden_size=10))
    assert n == pt.p_tuning_params(6, 16, 10)


def test_soft_prompt_shape():
    out = pt.prepend_soft_prompt(torch.randn(3, 9, 16), torch.randn(5, 16))
    assert out.shape == (3, 14, 16)


def test_soft_prompt_is_prepended_to_every_row_and_only_prompt_gets_gradient():
    torch.manual_seed(2)
    embeds = torch.randn(3, 4, 6, requires_grad=True)
    prompt = torch.randn(2, 6, requires_grad=True)
    out = pt.prepend_soft_prompt(embeds, prompt)
    for row in range(3):
        torch.testing.assert_close(out[row, :2], prompt)     # virtual tokens first, same for every row
        torch.testing.assert_close(out[row, 2:], embeds[row])  # then the real tokens, in order
    w = torch.arange(out.numel(), dtype=torch.float32).view_as(out)
    (out * w).sum().backward()
    # d/dprompt sums the three rows' weights at positions 0..1; d/dembeds is the weight at positions 2..5
    torch.testing.assert_close(prompt.grad, w[:, :2].sum(0))
    torch.testing.assert_close(embeds.grad, w[:, 2:])


def test_soft_prompt_matches_peft_inputs_embeds():
    """Oracle: the inputs_embeds peft's prompt-tuning model hands to the base Llama."""
    model = _peft_llama(PromptTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=3))
    seen = {}

    def grab(module, args, kwargs):
        seen["emb"] = kwargs["inputs_embeds"].detach().clone()

    model.base_model.register_forward_pre_hook(grab, with_kwargs=True)
    ids = torch.tensor([[5, 9, 2, 7], [1, 1, 3, 8]])
    with torch.no_grad():
        model(input_ids=ids)
        prompt = model.get_prompt(batch_size=1)[0]
        ours = pt.prepend_soft_prompt(model.get_input_embeddings()(ids), prompt)
    torch.testing.assert_close(ours, seen["emb"])


def test_prefix_attention_matches_sdpa_with_explicit_mask():
    torch.manual_seed(0)
    b, s, d, h, p = 2, 6, 16, 4, 3
    x = torch.randn(b, s, d)
    wq, wk, wv = (torch.randn(d, d) / 4 for _ in range(3))
    pk, pv = torch.randn(p, d), torch.randn(p, d)
    out = pt.prefix_attention(x, wq, wk, wv, pk, pv, n_heads=h)
    assert out.shape == (b, h, s, d // h)                # length unchanged by the prefix

    heads = lambda t: t.reshape(b, -1, h, d // h).transpose(1, 2)
    q = heads(x @ wq)
    k = heads(torch.cat([pk.expand(b, -1, -1), x @ wk], dim=1))
    v = heads(torch.cat([pv.expand(b, -1, -1), x @ wv], dim=1))
    allowed = torch.zeros(s, p + s, dtype=torch.bool)
    for i in range(s):
        allowed[i, : p + i + 1] = True                   # all prefix slots + real tokens <= i
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
    torch.testing.assert_close(out, ref)


def test_prefix_attention_is_causal_over_real_tokens():
    torch.manual_seed(1)
    b, s, d, h = 1, 5, 8, 2
    x = torch.randn(b, s, d)
    wq, wk, wv = (torch.randn(d, d) / 3 for _ in range(3))
    pk, pv = torch.randn(2, d), torch.randn(2, d)
    out = pt.prefix_attention(x, wq, wk, wv, pk, pv, n_heads=h)
    x2 = x.clone()
    x2[:, -1] += 10.0                                     # change only the last token
    out2 = pt.prefix_attention(x2, wq, wk, wv, pk, pv, n_heads=h)
    torch.testing.assert_close(out[:, :, :-1], out2[:, :, :-1])
    assert not torch.allclose(out[:, :, -1], out2[:, :, -1])


def test_prefix_attention_builds_its_mask_on_the_inputs_device():
    # On another device (meta here, as for CUDA) a CPU mask would raise in masked_fill.
    b, s, d, h, p = 2, 5, 8, 2, 3
    x = torch.randn(b, s, d, device="meta")
    wq, wk, wv = (torch.randn(d, d, device="meta") for _ in range(3))
    out = pt.prefix_attention(x, wq, wk, wv, torch.randn(p, d, device="meta"), torch.randn(p, d, device="meta"),
                              n_heads=h)
    assert out.device.type == "meta" and out.shape == (b, h, s, d // h)


def test_prefix_kv_bytes_match_peft_cache():
    """Count the elements of the past_key_values peft builds for prefix tuning."""
    model = _peft_llama(PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=5))
    cache = model.get_prompt(batch_size=3)
    elems = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers)
    assert pt.prefix_kv_bytes(5, 3, 16, batch=3, bytes_per_elem=1) == elems == 2 * 3 * 5 * 16 * 3


def test_p_tuning_v2_worked_numbers_by_hand():
    # 24 layers x 2 x 20 prefixes x 1024 = 983,040 parameters, 0.29 % of 335M
    assert pt.prefix_tuning_params(20, 24, 1024) == 983_040
    # 7B: 128 x 32 x 2 x 4096 = 33.5M params; KV per sequence 2 x 32 x 128 x 4096 x 2 B = 64 MiB
    assert pt.prefix_tuning_params(128, 32, 4096) == 33_554_432
    assert pt.prefix_kv_bytes(128, 32, 4096) == 64 * 2 ** 20
    # LoRA r = 8 on W_q, W_v: 32 x 2 x 8 x 8192 = 4,194,304
    assert pt.lora_params_qv(32, 4096, 8) == 4_194_304
