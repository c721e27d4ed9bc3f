"""Tests for snippets/fine-tuning/sft.py: hand-computed NLL and Hugging Face's causal-LM loss."""
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


def test_matches_hugging_face_causal_lm_loss():
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=40, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2)
    model = LlamaForCausalLM(cfg).eval()
    ids, labels = sft.build_sft_example([3, 4, 5, 6, 7], [11, 12, 13], eos_id=2)
    out = model(input_ids=ids[None], labels=labels[None])     # HF shifts and ignores -100 itself
    torch.testing.assert_close(sft.masked_sft_loss(out.logits, labels[None]), out.loss)
