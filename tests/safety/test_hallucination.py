"""Tests for snippets/safety/hallucination.py: closed-form entropy and z-statistics,
and statistical behaviour of the watermark detector."""
import math

import torch

from snippets import load

hl = load("safety/hallucination")


def test_answer_entropy_closed_form():
    assert hl.answer_entropy(["Paris", "paris.", " PARIS "]) == 0.0
    # two clusters 2:2 -> log 2 ; four distinct -> log 4
    assert math.isclose(hl.answer_entropy(["a", "a", "b", "b"]), math.log(2))
    assert math.isclose(hl.answer_entropy(["1", "2", "3", "4"]), math.log(4))
    # 3:1 -> -(3/4 log 3/4 + 1/4 log 1/4)
    assert math.isclose(hl.answer_entropy(["x", "x", "x", "y"]), -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))


def test_green_list_size_and_determinism():
    m = hl.green_list(7, 1000, 0.25)
    assert int(m.sum()) == 250
    assert torch.equal(m, hl.green_list(7, 1000, 0.25))
    assert not torch.equal(m, hl.green_list(8, 1000, 0.25))


def test_z_score_matches_formula_by_hand():
    V, gamma = 50, 0.25
    # build a sequence where we know the green count: pick green tokens for the first 6 steps,
    # red tokens for the next 10
    toks = [0]
    for step in range(16):
        mask = hl.green_list(toks[-1], V, gamma)
        idx = torch.nonzero(mask if step < 6 else ~mask).flatten()
        toks.append(int(idx[0]))
    T, green = 16, 6
    expected = (green - gamma * T) / math.sqrt(T * gamma * (1 - gamma))
    assert math.isclose(hl.watermark_z_score(toks, V, gamma), expected, rel_tol=1e-9)


def test_detector_separates_watermarked_from_plain_text():
    torch.manual_seed(0)
    V = 200
    table = torch.randn(V, V) * 2
    zs_wm = [hl.watermark_z_score(hl.generate(table, 150, watermark=True, seed=s), V) for s in range(3)]
    zs_plain = [hl.watermark_z_score(hl.generate(table, 150, watermark=False, seed=s), V) for s in range(3)]
    assert min(zs_wm) > 4.0
    assert max(abs(z) for z in zs_plain) < 4.0
