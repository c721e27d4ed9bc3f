"""Tests for snippets/alignment/agentic_rl.py: a hand-built mask, hand-computed losses,
autograd (zero gradient on tool tokens), closed-form truncated IS weights and hand numbers."""
import math

import pytest
import torch

from snippets import load

arl = load("alignment/agentic_rl")


def test_loss_mask_matches_hand_layout():
    # <question 3 tok> <think+search call 4 tok> <retrieved docs 5 tok> <answer 2 tok>
    segs = [("prompt", 3), ("policy", 4), ("tool", 5), ("policy", 2)]
    expected = [0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1]
    assert arl.loss_mask(segs) == expected
    assert arl.loss_mask([("tool", 2), ("policy", 0), ("policy", 1)]) == [0, 0, 1]
    for bad in ([("user", 2)], [("policy", 2), ("tool", -1)]):
        with pytest.raises(ValueError, match="bad segment"):
            arl.loss_mask(bad)


def test_masked_loss_equals_hand_computation():
    # Vocab of 2 with logits (0, 0): every token has probability 1/2, so at ratio 1 the surrogate
    # per token is just A; the loss is -(mean of A over policy tokens).
    logits = torch.zeros(2, 4, 2)
    tokens = torch.zeros(2, 4, dtype=torch.long)
    old = torch.full((2, 4), math.log(0.5))
    mask = torch.tensor([[0, 1, 0, 1], [0, 1, 1, 0]])
    adv = torch.tensor([2.0, -1.0])
    # policy tokens: two with A=2, two with A=-1 -> mean 0.5 -> loss -0.5
    out = arl.masked_pg_loss(logits, tokens, old, adv, mask)
    assert out.item() == pytest.approx(-0.5)


def test_masked_loss_is_token_mean_not_sequence_mean():
    # Unequal numbers of policy tokens per trajectory: 3 tokens with A=2, 1 token with A=-1.
    # Token-level mean (DAPO-style, what the snippet documents): (3*2 - 1)/4 = 1.25 -> loss -1.25.
    # A per-sequence mean would give (2 + -1)/2 = 0.5: a different estimator, caught here.
    logits = torch.zeros(2, 4, 2)
    tokens = torch.zeros(2, 4, dtype=torch.long)
    old = torch.full((2, 4), math.log(0.5))
    mask = torch.tensor([[0, 1, 1, 1], [0, 1, 0, 0]])
    out = arl.masked_pg_loss(logits, tokens, old, torch.tensor([2.0, -1.0]), mask)
    assert out.item() == pytest.approx(-1.25)


def test_garbage_old_logp_on_tool_tokens_does_not_leak():
    # The engine returns no log-prob for tool tokens; buffers often hold 0, -inf or NaN there.
    # Multiplying by a 0 mask does not remove NaN (NaN * 0 = NaN), so the loss and gradient
    # must be identical whatever sits at masked positions.
    torch.manual_seed(1)
    segs = [("prompt", 2), ("policy", 3), ("tool", 4), ("policy", 2)]
    mask = torch.tensor([arl.loss_mask(segs)])
    T, V = mask.shape[1], 7
    logits = torch.randn(1, T, V, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, V, (1, T))
    clean = (arl.token_logprobs(logits, tokens) - 0.1).detach()
    results = []
    for fill in (0.0, float("-inf"), float("nan")):
        old = torch.where(mask.bool(), clean, torch.tensor(fill, dtype=torch.float64))
        loss = arl.masked_pg_loss(logits, tokens, old, torch.tensor([0.5], dtype=torch.float64), mask)
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all(), fill
        results.append((loss.item(), grad))
    for loss_val, grad in results[1:]:
        assert loss_val == pytest.approx(results[0][0])
        torch.testing.assert_close(grad, results[0][1])


def test_masked_loss_clipping_hand_value():
    # One policy token with p_new = 0.9, p_old = 0.5 -> ratio 1.8, clipped to 1.2 for A > 0.
    logits = torch.tensor([[[math.log(0.9), math.log(0.1)]]])
    tokens = torch.tensor([[0]])
    old = torch.tensor([[math.log(0.5)]])
    out = arl.masked_pg_loss(logits, tokens, old, torch.tensor([1.0]), torch.tensor([[1]]))
    assert out.item() == pytest.approx(-1.2)
    out_neg = arl.masked_pg_loss(logits, tokens, old, torch.tensor([-1.0]), torch.tensor([[1]]))
    assert out_neg.item() == pytest.approx(1.8)     # min(1.8*-1, 1.2*-1) = -1.8 -> loss +1.8
    # p_new = 0.3 -> ratio 0.6, below 1 - 0.2: clipped to 0.8 only where it helps the bound (A < 0)
    low = torch.tensor([[[math.log(0.3), math.log(0.7)]]])
    assert arl.masked_pg_loss(low, tokens, old, torch.tensor([1.0]), torch.tensor([[1]])).item() == pytest.approx(-0.6)
    assert arl.masked_pg_loss(low, tokens, old, torch.tensor([-1.0]), torch.tensor([[1]])).item() == pytest.approx(0.8)
    # clip_eps is a parameter: 0.5 -> ratio 1.8 clipped to 1.5
    assert arl.masked_pg_loss(logits, tokens, old, torch.tensor([1.0]), torch.tensor([[1]]),
                              clip_eps=0.5).item() == pytest.approx(-1.5)


def test_losses_of_a_batch_without_policy_tokens_are_zero():
    # e.g. every trajectory truncated inside a tool call: no target at all -> loss 0, not 0 / 0
    logits = torch.zeros(2, 3, 2, requires_grad=True)
    tokens = torch.zeros(2, 3, dtype=torch.long)
    none = torch.zeros(2, 3, dtype=torch.long)
    out = arl.masked_pg_loss(logits, tokens, torch.zeros(2, 3), torch.tensor([1.0, -1.0]), none)
    assert out.item() == 0.0
    logp = torch.full((2, 3), math.log(0.5))
    assert arl.tis_pg_loss(logp, logp, torch.tensor([1.0, -1.0]), none).item() == 0.0


def test_gradient_on_tool_tokens_is_exactly_zero():
    torch.manual_seed(0)
    segs = [("prompt", 3), ("policy", 4), ("tool", 5), ("policy", 2)]
    mask = torch.tensor([arl.loss_mask(segs)])
    T, V = mask.shape[1], 13
    logits = torch.randn(1, T, V, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, V, (1, T))
    old = (arl.token_logprobs(logits, tokens) + 0.05 * torch.randn(1, T, dtype=torch.float64)).detach()
    loss = arl.masked_pg_loss(logits, tokens, old, torch.tensor([0.7], dtype=torch.float64), mask)
    (grad,) = torch.autograd.grad(loss, logits)
    zero = mask[0] == 0
    assert torch.equal(grad[0, zero], torch.zeros_like(grad[0, zero]))     # exactly zero
    assert (grad[0, ~zero].abs().sum(-1) > 0).all()                          # policy tokens learn
    # The unmasked loss would push on tool tokens too: that is the bug the mask prevents.
    loss_all = arl.masked_pg_loss(logits, tokens, old, torch.tensor([0.7], dtype=torch.float64),
                                  torch.ones_like(mask))
    (grad_all,) = torch.autograd.grad(loss_all, logits)
    assert (grad_all[0, zero].abs().sum(-1) > 0).all()


def test_truncated_is_weights_closed_form():
    p_train = torch.tensor([0.6, 0.3, 0.2, 0.5])
    p_roll = torch.tensor([0.2, 0.6, 0.2, 0.1])
    w = arl.truncated_is_weights(p_train.log(), p_roll.log(), cap=2.0)
    torch.testing.assert_close(w, torch.tensor([2.0, 0.5, 1.0, 2.0]))     # 3->2, 0.5, 1, 5->2
    w5 = arl.truncated_is_weights(p_train.log(), p_roll.log(), cap=5.0)
    torch.testing.assert_close(w5, torch.tensor([3.0, 0.5, 1.0, 5.0]))
    torch.testing.assert_close(arl.truncated_is_weights(p_train.log(), p_roll.log()),
                               torch.tensor([2.0, 0.5, 1.0, 2.0]))           # default cap 2
    # TIS truncates from above only: a ratio far below 1/cap (0.05/0.4 = 0.125 < 1/2) must stay
    # 0.125. A symmetric clamp to [1/cap, cap] would return 0.5 and up-weight a token the
    # trainer now considers unlikely.
    w_low = arl.truncated_is_weights(torch.tensor([0.05]).log(), torch.tensor([0.4]).log(), cap=2.0)
    torch.testing.assert_close(w_low, torch.tensor([0.125]))


def test_tis_loss_gradient_is_weighted_score():
    # d/d(logp) of -(w*A*logp)/n is -w*A/n, with w treated as a constant.
    logp = torch.log(torch.tensor([[0.6, 0.3]])).requires_grad_()
    logp_roll = torch.log(torch.tensor([[0.2, 0.6]]))
    loss = arl.tis_pg_loss(logp, logp_roll, torch.tensor([1.5]), torch.tensor([[1, 1]]))
    (g,) = torch.autograd.grad(loss, logp)
    torch.testing.assert_close(g, torch.tensor([[-2.0 * 1.5 / 2, -0.5 * 1.5 / 2]]))

    # masked tokens (tool output) neither contribute nor count: 2 policy tokens out of 4
    logp4 = torch.log(torch.tensor([[0.6, 0.5, 0.3, 0.5]])).requires_grad_()
    roll4 = torch.log(torch.tensor([[0.2, 0.25, 0.6, 0.1]]))
    loss = arl.tis_pg_loss(logp4, roll4, torch.tensor([1.5]), torch.tensor([[1, 0, 1, 0]]))
    assert loss.item() == pytest.approx(-(2.0 * 1.5 * math.log(0.6) + 0.5 * 1.5 * math.log(0.3)) / 2)
    (g,) = torch.autograd.grad(loss, logp4)
    torch.testing.assert_close(g, torch.tensor([[-2.0 * 1.5 / 2, 0.0, -0.5 * 1.5 / 2, 0.0]]))
    # the cap is passed on: at cap 5 the first weight is the untruncated ratio 3
    (g,) = torch.autograd.grad(arl.tis_pg_loss(logp4, roll4, torch.tensor([1.5]), torch.tensor([[1, 0, 1, 0]]),
                                               cap=5.0), logp4)
    torch.testing.assert_close(g, torch.tensor([[-3.0 * 1.5 / 2, 0.0, -0.5 * 1.5 / 2, 0.0]]))
    # one policy token: divided by 1
    one = arl.tis_pg_loss(logp4, roll4, torch.tensor([1.5]), torch.tensor([[0, 0, 1, 0]]))
    assert one.item() == pytest.approx(-0.5 * 1.5 * math.log(0.3))


def test_bounded_staleness_filter():
    assert arl.fresh_enough([10, 9, 8, 7, 11], current_version=10, max_staleness=2) == \
        [True, True, True, False, False]
    assert arl.fresh_enough([10, 9], 10, 0) == [True, False]                 # synchronous


def test_weight_sync_hand_numbers():
    # 7B params x 2 bytes (bf16) = 14 GB; at 50 GB/s (one 400 Gb/s link) -> 0.28 s
    assert arl.weight_sync_seconds(7e9, 2, 50) == pytest.approx(0.28, rel=1e-12)
    # 671B in bf16 = 1342 GB over 8 such links -> 1342 / 400 = 3.355 s
    assert arl.weight_sync_seconds(671e9, 2, 50, n_parallel_links=8) == pytest.approx(3.355, rel=1e-12)
    # fp8 halves it; 60% link efficiency multiplies by 1/0.6
    assert arl.weight_sync_seconds(32e9, 1, 50, efficiency=0.6) == pytest.approx(32 / 50 / 0.6, rel=1e-12)


def test_bf16_logits_give_a_float32_loss_with_the_exact_token_count():
    # 301 policy tokens: bf16 would count them as 300 and keep ~3 digits of each log-prob; the loss is
    # computed in float32 from the same bf16 logits, so it matches float64 on those values to float32 precision
    torch.manual_seed(0)
    logits = torch.randn(1, 301, 5).bfloat16()
    tokens = torch.randint(0, 5, (1, 301))
    mask = torch.ones(1, 301, dtype=torch.long)
    old = arl.token_logprobs(logits.double(), tokens).detach() + 0.05
    adv = torch.tensor([1.0])
    ref = arl.masked_pg_loss(logits.double(), tokens, old, adv, mask)
    got = arl.masked_pg_loss(logits, tokens, old.float(), adv, mask)
    assert arl.token_logprobs(logits, tokens).dtype == torch.float32 and got.dtype == torch.float32
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    # old log-probs equal to the current ones and advantage 1: the surrogate is exactly -1 per token
    same = arl.token_logprobs(logits, tokens).detach()
    assert arl.masked_pg_loss(logits, tokens, same, adv, mask).item() == -1.0
