"""Tests for snippets/fine-tuning/sft_data.py against hand-computed mixing rates."""
import math

import pytest

from snippets import load

sd = load("fine-tuning/sft_data")


def test_proportional_mixing_with_cap_by_hand():
    r = sd.mixing_rates({"a": 900, "b": 100, "c": 10}, cap=300)
    # capped sizes 300, 100, 10 -> total 410
    assert abs(r["a"] - 300 / 410) < 1e-12
    assert abs(r["b"] - 100 / 410) < 1e-12
    assert abs(r["c"] - 10 / 410) < 1e-12


def test_temperature_two_is_square_root_then_renormalize():
    r = sd.mixing_rates({"a": 400, "b": 100}, temperature=2.0)
    # rates 0.8, 0.2 -> sqrt 0.894427, 0.447214 -> 2/3, 1/3
    assert abs(r["a"] - 2 / 3) < 1e-12 and abs(r["b"] - 1 / 3) < 1e-12


def test_high_temperature_tends_to_uniform():
    r = sd.mixing_rates({"a": 10_000, "b": 10, "c": 1}, temperature=1e6)
    assert all(abs(v - 1 / 3) < 1e-4 for v in r.values())
    assert abs(sum(r.values()) - 1) < 1e-12


def test_dedup_normalizes_width_case_and_spaces():
    data = [{"prompt": "Hello  World"}, {"prompt": "hello world"}, {"prompt": "Ｈｅｌｌｏ World "},
            {"prompt": "写一首诗"}, {"prompt": "写一首诗"}, {"prompt": "写两首诗"}]
    assert [d["prompt"] for d in sd.dedup_exact(data)] == ["Hello  World", "写一首诗", "写两首诗"]


def test_epochs_per_task_by_hand():
    sizes = {"big": 400, "small": 100}
    # proportional sampling: every task is seen the same number of epochs, total / sum(sizes)
    e = sd.epochs_per_task(sizes, sd.mixing_rates(sizes), 1000)
    assert e["big"] == pytest.approx(2.0) and e["small"] == pytest.approx(2.0)
    # T = 2: rates 2/3 and 1/3 (hand numbers above) -> 1000 * (2/3) / 400 and 1000 * (1/3) / 100
    e = sd.epochs_per_task(sizes, sd.mixing_rates(sizes, temperature=2.0), 1000)
    assert e["big"] == pytest.approx(5 / 3) and e["small"] == pytest.approx(10 / 3)


def test_doremi_update_by_hand():
    # weights (1/2, 1/2), excess loss (ln 3, 0): exp-gradient gives (3/4, 1/4); smoothing 0.1
    # mixes with uniform: 0.9 * 3/4 + 0.05 = 0.725
    w = sd.doremi_update([0.5, 0.5], [math.log(3), 0.0], lr=1.0, smoothing=0.1)
    assert w == pytest.approx([0.725, 0.275])
    # negative excess loss (proxy already better than reference) is clipped: no change
    assert sd.doremi_update([0.2, 0.8], [-1.0, -0.5], smoothing=0.0) == pytest.approx([0.2, 0.8])
    assert sum(sd.doremi_update([0.1, 0.3, 0.6], [0.5, 0.2, 0.0])) == pytest.approx(1.0)
