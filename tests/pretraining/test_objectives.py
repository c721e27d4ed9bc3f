"""Causal-LM loss vs Hugging Face LlamaForCausalLM(labels=...); MLM masking statistics and invariants."""
import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from scripted_draws import float32_below, script_draws
from snippets import load

obj = load("pretraining/objectives")


def test_causal_lm_loss_matches_transformers():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4)).eval()
    ids = torch.randint(0, 97, (3, 11))
    labels = ids.clone()
    labels[0, :4] = -100                                 # e.g. an SFT prompt that is not trained on
    with torch.no_grad():
        out = model(ids, labels=labels)                  # HF shifts the labels internally
    torch.testing.assert_close(obj.causal_lm_loss(out.logits, ids, labels), out.loss)


def test_causal_lm_loss_of_bf16_logits_is_computed_in_float32():
    torch.manual_seed(1)
    logits = (torch.randn(2, 64, 1000) * 4).bfloat16()
    ids = torch.randint(0, 1000, (2, 64))
    ref = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, 1000), ids[:, 1:].reshape(-1))
    out = obj.causal_lm_loss(logits, ids)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)     # a bf16 log-softmax is off by ~1e-2


def test_causal_lm_loss_uniform_model_is_log_vocab():
    ids = torch.randint(0, 50, (2, 9))
    assert obj.causal_lm_loss(torch.zeros(2, 9, 50), ids).item() == pytest.approx(math.log(50))


def test_causal_lm_loss_perfect_model_is_zero():
    ids = torch.randint(0, 20, (1, 8))
    logits = torch.full((1, 8, 20), -1e4)
    logits[0, torch.arange(7), ids[0, 1:]] = 1e4          # position t puts all mass on token t+1
    assert obj.causal_lm_loss(logits, ids).item() == pytest.approx(0.0, abs=1e-6)


def test_mlm_mask_statistics_and_invariants():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(10, 5000, (256, 256), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    x, y = obj.mlm_mask(ids, mask_token_id=3, vocab_size=5000, special=special, generator=g)
    chosen = y != -100
    n_regular = (~special).sum().item()
    assert not chosen[special].any()                                   # specials never targets
    assert torch.equal(y[chosen], ids[chosen])                         # labels are the originals
    assert torch.equal(x[~chosen], ids[~chosen])                       # others untouched
    assert chosen.sum().item() / n_regular == pytest.approx(0.15, abs=0.005)
    c = chosen.sum().item()
    masked = (x[chosen] == 3).sum().item() / c
    unchanged = (x[chosen] == ids[chosen]).sum().item() / c
    assert masked == pytest.approx(0.8, abs=0.01)
    # 10% kept on purpose, plus random replacements that happen to draw the same token (~1/5000)
    assert unchanged == pytest.approx(0.1, abs=0.01)
    assert 1 - masked - unchanged == pytest.approx(0.1, abs=0.01)


def test_mlm_mask_rate_random_tokens_and_generator():
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 7, (128, 128), generator=g)
    special = torch.zeros_like(ids, dtype=torch.bool)
    x, y = obj.mlm_mask(ids, mask_token_id=9, vocab_size=7, special=special, p=0.4, generator=g)
    chosen = y != -100
    assert chosen.float().mean().item() == pytest.approx(0.4, abs=0.02)      # p is honoured
    # random replacements are uniform over the whole vocabulary 0..6 (1/10 of ~6550 targets; those that
    # differ from the original token: ~80 per value)
    replaced = x[chosen & (x != 9) & (x != ids)]
    assert sorted(replaced.unique().tolist()) == list(range(7))
    # every draw comes from the generator: the same seed gives the same corruption, whatever the global RNG
    outs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        outs.append(obj.mlm_mask(ids, 9, 7, special, p=0.4, generator=torch.Generator().manual_seed(5)))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])


def test_mlm_mask_chooses_draws_strictly_below_p(monkeypatch):
    # p = 0.25 is exact in float32: a draw equal to p is not chosen, the float32 just below is
    ids = torch.full((1, 5), 7)
    special = torch.tensor([[False, False, False, False, True]])
    u = torch.tensor([[0.25, float32_below(0.25), 0.0, 0.75, 0.0]])
    r = torch.zeros(1, 5)                                  # every chosen position becomes [MASK]
    left = script_draws(monkeypatch, [u, r])
    x, y = obj.mlm_mask(ids, mask_token_id=9, vocab_size=10, special=special, p=0.25)
    assert left == []
    assert y.tolist() == [[-100, 7, 7, -100, -100]]        # the special token is never a target
    assert x.tolist() == [[7, 9, 9, 7, 7]]


def test_mlm_mask_80_10_10_split_at_the_interval_edges(monkeypatch):
    # every position chosen; r at 0, just below 0.8, 0.8, just below 0.9, 0.9, just below 1
    ids = torch.full((1, 6), 7)
    u = torch.zeros(1, 6)
    r = torch.tensor([[0.0, float32_below(0.8), 0.8, float32_below(0.9), 0.9, float32_below(1.0)]])
    left = script_draws(monkeypatch, [u, r])
    x, y = obj.mlm_mask(ids, mask_token_id=99, vocab_size=10, special=torch.zeros(1, 6, dtype=torch.bool))
    assert left == []
    assert y.tolist() == [[7] * 6]
    # [MASK] = 99 on [0, 0.8), random token (the fake draws 10 - 1 = 9) on [0.8, 0.9), unchanged on [0.9, 1)
    assert x.tolist() == [[99, 99, 9, 9, 7, 7]]
