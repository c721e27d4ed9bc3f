"""Tests for snippets/alignment/rlhf.py: hand-computed Bradley-Terry values, BCE built-in, brute force."""
import itertools
import math

import torch
import torch.nn.functional as F

from snippets import load

rlhf = load("alignment/rlhf")


def test_bt_loss_hand_computed():
    # r_c - r_r = 1.5 -> -log sigmoid(1.5) = log(1 + e^-1.5)
    loss = rlhf.bradley_terry_loss(torch.tensor([2.0]), torch.tensor([0.5]))
    assert math.isclose(loss.item(), math.log(1 + math.exp(-1.5)), rel_tol=1e-6)
    # equal rewards -> log 2
    loss = rlhf.bradley_terry_loss(torch.tensor([0.7]), torch.tensor([0.7]))
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-6)


def test_bt_loss_equals_bce_with_logits():
    torch.manual_seed(0)
    rc, rr = torch.randn(32), torch.randn(32)
    ref = F.binary_cross_entropy_with_logits(rc - rr, torch.ones(32))
    torch.testing.assert_close(rlhf.bradley_terry_loss(rc, rr), ref)


def test_bt_gradient_hand_computed():
    rc = torch.tensor([1.0], requires_grad=True)
    rr = torch.tensor([0.0], requires_grad=True)
    rlhf.bradley_terry_loss(rc, rr).backward()
    s = 1 / (1 + math.exp(-1.0))
    # d/dr_c [-log sigmoid(r_c - r_r)] = -(1 - sigmoid(gap)); opposite sign for r_r
    assert math.isclose(rc.grad.item(), -(1 - s), rel_tol=1e-6)
    assert math.isclose(rr.grad.item(), 1 - s, rel_tol=1e-6)


def test_bt_loss_shift_invariant_and_stable():
    rc, rr = torch.tensor([1.0, -2.0]), torch.tensor([0.0, 3.0])
    torch.testing.assert_close(rlhf.bradley_terry_loss(rc + 100, rr + 100), rlhf.bradley_terry_loss(rc, rr))
    big = rlhf.bradley_terry_loss(torch.tensor([-200.0]), torch.tensor([0.0]))
    assert torch.isfinite(big) and math.isclose(big.item(), 200.0, rel_tol=1e-4)


def test_ranking_loss_brute_force():
    rewards = [2.5, 1.0, 1.2, -0.5, 0.1]
    pairs = list(itertools.combinations(range(len(rewards)), 2))
    expected = sum(math.log(1 + math.exp(-(rewards[i] - rewards[j]))) for i, j in pairs) / len(pairs)
    assert len(pairs) == 10
    assert math.isclose(rlhf.ranking_loss(torch.tensor(rewards, dtype=torch.float64)).item(), expected, rel_tol=1e-9)


def test_reward_head_ignores_padding():
    torch.manual_seed(1)
    head = rlhf.LastTokenRewardHead(6)
    h = torch.randn(2, 4, 6)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    r1 = head(h, mask)
    assert r1.shape == (2,)                           # one scalar reward per sequence
    h2 = h.clone()
    h2[0, 2:] = 99.0                                  # change only padding positions
    torch.testing.assert_close(head(h2, mask), r1)
    # and equals the linear layer applied by hand to the right positions
    expected = torch.stack([h[0, 1], h[1, 3]]) @ head.score.weight.T + head.score.bias
    torch.testing.assert_close(r1, expected.squeeze(-1))


def test_pairwise_accuracy_hand_counted_with_a_tie():
    # pairs: 2 > 1 yes, 0.3 > 0.4 no, -1 > -3 yes, 0.5 > 0.5 no (a tie is not a correct ordering)
    rc = torch.tensor([2.0, 0.3, -1.0, 0.5])
    rr = torch.tensor([1.0, 0.4, -3.0, 0.5])
    assert rlhf.pairwise_accuracy(rc, rr) == 0.5
    assert rlhf.pairwise_accuracy(rr, rc) == 0.25           # swapped arguments: only 0.4 > 0.3


def test_ranking_loss_pairs_in_rank_order():
    # K = 3 with rewards (0, 1, 5): pairs (0>1), (0>2), (1>2) give gaps -1, -5, -4
    expected = sum(math.log(1 + math.exp(-gap)) for gap in (-1.0, -5.0, -4.0)) / 3
    got = rlhf.ranking_loss(torch.tensor([0.0, 1.0, 5.0], dtype=torch.float64)).item()
    assert math.isclose(got, expected, rel_tol=1e-12)


def test_reward_head_single_sequence_gives_one_scalar():
    torch.manual_seed(2)
    head = rlhf.LastTokenRewardHead(5)
    h = torch.randn(1, 3, 5)
    r = head(h, torch.tensor([[1, 1, 0]]))
    assert r.shape == (1,)
    torch.testing.assert_close(r, (h[0, 1] @ head.score.weight.T + head.score.bias).reshape(1))
