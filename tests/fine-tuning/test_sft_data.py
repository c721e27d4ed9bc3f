"""Tests for snippets/fine-tuning/sft_data.py against hand-computed mixing rates."""
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
