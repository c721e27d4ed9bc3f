"""Tests for snippets/system-design/content_systems.py: doc-release cost and review hours by hand,
GPU-hours by hand, macro-F1 against
sklearn, the bootstrap half-width against its 1/sqrt(n) scaling, and routing by hand."""
import numpy as np
import pytest
from scipy.stats import bootstrap
from sklearn.metrics import f1_score

from snippets import load

cs = load("system-design/content_systems")


def test_gpu_hours_by_hand():
    # 1e6 items x 2 x 110e6 x 128 = 2.816e16 FLOPs; / (989e12 x 0.3) = 94.9 s
    assert cs.gpu_hours(1e6, 110e6, 128) * 3600 == pytest.approx(94.91, abs=0.01)
    # 2 x 7.6e9 x 403 = 6.1256e12 FLOPs per item -> 5.73 GPU-hours per million
    assert cs.gpu_hours(1e6, 7.6e9, 403) == pytest.approx(5.735, abs=0.001)
    # defaults H100 dense BF16 (989 TFLOP/s) at 30 %: one hour of that throughput is exactly 1.0 GPU-h
    assert cs.gpu_hours(1, 0.5, 989e12 * 0.3 * 3600) == 1.0


def test_macro_f1_matches_sklearn_including_an_empty_class():
    rng = np.random.default_rng(0)
    for _ in range(5):
        y = rng.integers(0, 4, 200)
        p = np.where(rng.random(200) < 0.7, y, rng.integers(0, 4, 200))
        assert cs.macro_f1(y, p, 4) == pytest.approx(f1_score(y, p, average="macro"))
    y, p = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])     # class 2 never appears
    assert cs.macro_f1(y, p, 3) == pytest.approx(
        f1_score(y, p, labels=[0, 1, 2], average="macro", zero_division=0))


def test_bootstrap_halfwidth_scales_as_one_over_sqrt_n():
    rng = np.random.default_rng(3)
    y = rng.choice(3, size=4000, p=[0.6, 0.3, 0.1])
    p = np.where(rng.random(4000) < 0.85, y, (y + rng.integers(1, 3, 4000)) % 3)
    assert np.mean(p == y) == pytest.approx(0.85, abs=0.02)             # errors never hit y
    small = cs.bootstrap_halfwidth(y[:1000], p[:1000], 3, n_boot=400)
    large = cs.bootstrap_halfwidth(y, p, 3, n_boot=400)
    assert large == pytest.approx(small / 2, rel=0.25)                   # 4x items, half width
    assert cs.items_for_halfwidth(1000, small, small / 2) == 4000


def test_page_example_numbers():
    # the draw in the snippet's demo: accuracy 82.4 %, +/-4.2 pt on 500 items -> ~2,200 items
    rng = np.random.default_rng(1)
    y = rng.choice(3, size=500, p=[0.6, 0.3, 0.1])
    pred = np.where(rng.random(500) < 0.85, y, (y + rng.integers(1, 3, 500)) % 3)
    assert np.mean(pred == y) == pytest.approx(0.824)
    hw = cs.bootstrap_halfwidth(y, pred, 3)
    assert hw == pytest.approx(0.042, abs=5e-4)
    # scipy's paired percentile bootstrap, 1,000 resamples from default_rng(0), draws the same
    # indices (rng.integers(0, n, n) per resample) and takes the same percentiles
    ci = bootstrap((y, pred), lambda a, b: cs.macro_f1(a, b, 3), paired=True, vectorized=False,
                   n_resamples=1000, method="percentile", rng=np.random.default_rng(0)).confidence_interval
    assert hw == pytest.approx((ci.high - ci.low) / 2, rel=1e-12)
    n = cs.items_for_halfwidth(500, hw, 0.02)
    assert n == int(np.ceil(500 * (hw / 0.02) ** 2)) and 2150 <= n <= 2250


def test_routed_accuracy_by_hand():
    conf = np.array([0.99, 0.55, 0.97, 0.60, 0.95])
    small_ok = np.array([1, 0, 1, 0, 1])
    llm_ok = np.array([1, 1, 0, 1, 1])
    assert cs.routed_accuracy(conf, small_ok, llm_ok, 0.0) == pytest.approx(0.6)
    # least confident two (0.55, 0.60) go to the LLM, which gets both right
    assert cs.routed_accuracy(conf, small_ok, llm_ok, 0.4) == pytest.approx(1.0)
    # routing everything gives the LLM's own accuracy
    assert cs.routed_accuracy(conf, small_ok, llm_ok, 1.0) == pytest.approx(0.8)


def test_routed_accuracy_rounds_the_share_to_the_nearest_count():
    # 10 items, share 0.29 -> 2.9 -> 3 items to the LLM (not 2): the third least confident (0.3)
    # is the one only the LLM gets right
    conf = np.array([0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.95, 0.85, 0.75, 0.65])
    small_ok = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1])
    llm_ok = np.ones(10, dtype=int)
    assert cs.routed_accuracy(conf, small_ok, llm_ok, 0.29) == pytest.approx(1.0)
    assert cs.routed_accuracy(conf, small_ok, llm_ok, 0.21) == pytest.approx(0.9)   # 2.1 -> 2


def test_routed_accuracy_breaks_confidence_ties_by_item_order():
    # 40 items alternating 0.5 / 0.1; 3 go to the LLM: the first three 0.1 items (1, 3, 5), and
    # item 5 is the only one the small model gets wrong. An unstable sort may pick item 7 instead.
    conf = np.array([0.5, 0.1] * 20)
    small_ok = np.ones(40, dtype=int)
    small_ok[5] = 0
    assert cs.routed_accuracy(conf, small_ok, np.ones(40, dtype=int), 3 / 40) == 1.0


def test_bootstrap_halfwidth_on_two_items_by_hand():
    # y = p = [0, 1]: a resample with both items has macro-F1 1; one item twice leaves the other
    # class with no TP, FP or FN (F1 0), so 0.5. Each case has probability 1/2, so the 2.5th and
    # 97.5th percentiles are 0.5 and 1.0 and the half-width is 0.25 (every index must be drawable)
    y = np.array([0, 1])
    assert cs.bootstrap_halfwidth(y, y.copy(), 2, n_boot=400) == pytest.approx(0.25)


def test_regeneration_cost_by_hand():
    # 2,000 pages x (4,000 x $3 + 1,500 x $15) / 1e6 = 2,000 x $0.0345 = $69
    assert cs.regeneration_cost(2000, 1.0, 4000, 1500, 3.0, 15.0) == pytest.approx(69.0)
    # 5 % cache misses -> 100 pages -> $3.45; a zero-change release costs nothing
    assert cs.regeneration_cost(2000, 0.05, 4000, 1500, 3.0, 15.0) == pytest.approx(3.45)
    assert cs.regeneration_cost(2000, 0.0, 4000, 1500, 3.0, 15.0) == 0.0
    # input and output prices are not swapped: output-heavy pages cost more
    assert cs.regeneration_cost(1, 1.0, 0, 1_000_000, 3.0, 15.0) == pytest.approx(15.0, rel=1e-12)
    assert cs.regeneration_cost(1, 1.0, 1_000_000, 0, 3.0, 15.0) == pytest.approx(3.0, rel=1e-12)


def test_review_hours_by_hand():
    # 20 high-risk pages x 15 min + 80 low-risk x 10 % x 10 min = 300 + 80 = 380 min
    assert cs.review_hours(100, 0.2, 15, 0.1, 10) == pytest.approx(380 / 60)
    # reading all 2,000 pages at 10 min = 333.3 h
    assert cs.review_hours(2000, 1.0, 10, 0.0, 0) == pytest.approx(2000 * 10 / 60)
    # nothing sampled: only the high-risk pages count
    assert cs.review_hours(10, 0.3, 20, 0.0, 10) == pytest.approx(1.0)
    # 10 x 0.29 = 2.9 -> 3 high-risk pages (nearest count, not truncated): 3 x 20 + 7 x 0.5 x 10 = 95 min
    assert cs.review_hours(10, 0.29, 20, 0.5, 10) == pytest.approx(95 / 60)
    assert cs.detection_rate(50, 49) == pytest.approx(0.98)
