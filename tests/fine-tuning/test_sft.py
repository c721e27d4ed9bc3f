"""Tests for snippets/fine-tuning/sft.py: hand-computed NLL and Hugging Face's causal-LM loss; the run plan
(steps, LoRA parameter count vs peft, model-state memory) against peft and hand arithmetic."""
import math

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from snippets import load

sft = load("fine-tuning/sft")


def test_labels_hide_prompt_and_keep_eos():
    ids, labels = sft.build_sft_example([5, 6, 7], [9, 10], eos_id=2)
    assert ids.tolist() == [5, 6, 7, 9, 10, 2]
    assert labels.tolist() == [-100, -100, -100, 9, 10, 2]


def test_loss_is_mean_nll_over_response_tokens_by_hand():
    torch.manual_seed(0)
    ids, labels = sft.build_sft_example([3, 4, 5, 6], [7, 8, 1], eos_id=2)
    logits = torch.randn(1, len(ids), 10, dtype=torch.float64)
    # By hand: position t predicts ids[t+1]; only targets that are response tokens count.
    nll = []
    for t in range(len(ids) - 1):
        target = int(labels[t + 1])
        if target == -100:
            continue
        z = logits[0, t]
        nll.append(-(z[target] - math.log(sum(math.exp(v) for v in z.tolist()))))
    expected = sum(nll) / len(nll)
    assert len(nll) == 4                     # 3 response tokens + EOS
    assert abs(sft.masked_sft_loss(logits, labels[None]).item() - expected) < 1e-10


def test_prompt_logits_do_not_affect_loss():
    torch.manual_seed(1)
    ids, labels = sft.build_sft_example([3, 4, 5], [7, 8], eos_id=2)
    logits = torch.randn(1, len(ids), 10)
    changed = logits.clone()
    changed[0, :2] += 100.0                  # positions 0, 1 predict prompt tokens 4, 5
    torch.testing.assert_close(sft.masked_sft_loss(logits, labels[None]),
                               sft.masked_sft_loss(changed, labels[None]))


def test_batch_mean_is_over_trained_tokens_and_ignore_index_is_honoured():
    """Two rows with 1 and 3 trained targets: the mean is over the 4 tokens (not the mean of the two
    row means), and a caller's ignore_index (-1 here) is the one skipped. Oracle: per-token NLL by hand."""
    torch.manual_seed(3)
    logits = torch.randn(2, 5, 7, dtype=torch.float64)
    labels = torch.tensor([[-1, -1, -1, -1, 4],         # row 0: one target (position 3 predicts 4)
                           [-1, -1, 1, 6, 0]])          # row 1: three targets
    logp = torch.log_softmax(logits, dim=-1)
    nll = [-logp[0, 3, 4], -logp[1, 1, 1], -logp[1, 2, 6], -logp[1, 3, 0]]
    expected = sum(float(x) for x in nll) / 4
    got = sft.masked_sft_loss(logits, labels, ignore_index=-1)
    assert abs(got.item() - expected) < 1e-10
    row_means = (float(nll[0]) + sum(float(x) for x in nll[1:]) / 3) / 2
    assert abs(got.item() - row_means) > 1e-3           # the two conventions differ on this input


def test_matches_hugging_face_causal_lm_loss():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg).eval()
    ids, labels = sft.build_sft_example([3, 4, 5, 6, 7], [11, 12, 13], eos_id=2)
    out = model(input_ids=ids[None], labels=labels[None])     # HF shifts and ignores -100 itself
    torch.testing.assert_close(sft.masked_sft_loss(out.logits, labels[None]), out.loss)


# --- run plan. Oracles: peft's LoRA on a tiny random LLaMA (trainable parameter count), hand arithmetic,
# and the 16 bytes/parameter figure of the distributed chapter, for LLaMA-7B's 6.74e9 parameters
# (107.84 GB, 13.48 GB per GPU on 8 with ZeRO-3), the numbers the page quotes (108, 13.5, 14.1 GB).
from peft import LoraConfig, get_peft_model


def test_schedule_by_hand():
    assert sft.schedule(20_000, 3, 64) == (939, 28)          # ceil(20000/64) = 313 per epoch; 3% of 939 = 28.2
    assert sft.schedule(1_000, 1, 100) == (10, 1)            # warm-up never rounds to zero
    assert sft.schedule(60, 1, 1) == (60, 2)                 # 3% of 60 = 1.8 rounds to 2 (not down to 1)
    assert sft.schedule(65, 2, 8) == (18, 1)                 # ceil(65/8) = 9: the partial batch counts


def test_lora_count_matches_peft_on_tiny_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    model = get_peft_model(LlamaForCausalLM(cfg), LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                           "gate_proj", "up_proj", "down_proj"]))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == sft.lora_params(64, 176, 2, r=4, kv_dim=32)   # GQA: 2 kv heads x 16 dims


def test_lora_count_llama7b_by_hand():
    # per layer: q,k,v,o 4 x 16 x (4096 + 4096) = 524,288; gate,up,down 3 x 16 x (4096 + 11008) = 724,992
    assert sft.lora_params(4096, 11008, 32, r=16) == 32 * (524_288 + 724_992) == 39_976_960


def test_memory_matches_16_bytes_per_parameter():
    n = 6.74e9                                                         # LLaMA-7B (LLaMA-2-7B) parameters
    assert math.isclose(sft.train_memory_gb(n, n), 107.84)             # 16 bytes x 6.74e9 -> "108 GB"
    assert math.isclose(sft.train_memory_gb(n, n, shards=8), 13.48)    # "13.5 GB per GPU"
    assert math.isclose(sft.train_memory_gb(n, 0), 13.48)              # frozen bf16 weights only
    # LoRA r=16 on all linear layers: 6.74e9 frozen + 39,976,960 trainable -> 13.48 + 0.64 = "14.1 GB"
    lora = sft.lora_params(4096, 11008, 32, r=16)
    assert lora == 39_976_960
    assert math.isclose(sft.train_memory_gb(n + lora, lora), 14.11963136)  # 2 x 6.74e9 + 16 x 39,976,960 bytes
    assert round(sft.train_memory_gb(n + lora, lora), 1) == 14.1


# --- chat vector: invariants on a tiny random LLaMA's state dict (adding the vector to the base
# reproduces the chat model exactly; scale 0 is the identity; the merged model runs).
import pytest


def test_chat_vector_invariants_on_tiny_llama():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=16)
    base = {k: v.clone() for k, v in LlamaForCausalLM(cfg).state_dict().items()}
    chat = {k: v + 0.01 * torch.randn_like(v) for k, v in base.items()}
    domain = {k: v + 0.01 * torch.randn_like(v) for k, v in base.items()}
    back = sft.add_chat_vector(base, base, chat)
    assert all(torch.allclose(back[k], chat[k], atol=1e-6) for k in chat)
    same = sft.add_chat_vector(domain, base, chat, scale=0.0)
    assert all(torch.equal(same[k], domain[k]) for k in domain)
    merged = sft.add_chat_vector(domain, base, chat)
    k = "model.layers.0.mlp.up_proj.weight"
    torch.testing.assert_close(merged[k], domain[k] + chat[k] - base[k])
    half = sft.add_chat_vector(domain, base, chat, scale=0.5)
    torch.testing.assert_close(half[k], domain[k] + 0.5 * (chat[k] - base[k]))
    model = LlamaForCausalLM(cfg)
    model.load_state_dict(merged)
    assert model(torch.tensor([[1, 2, 3]])).logits.shape == (1, 3, 50)
    with pytest.raises(ValueError, match="^the three state dicts must have the same parameters$"):
        sft.add_chat_vector({"a": torch.zeros(1)}, base, chat)
    # a chat model whose parameter names differ from the base's (target and base agree) is refused too
    extra = dict(chat, **{"lm_head.extra": torch.zeros(1)})
    with pytest.raises(ValueError, match="^the three state dicts must have the same parameters$"):
        sft.add_chat_vector(domain, base, extra)
