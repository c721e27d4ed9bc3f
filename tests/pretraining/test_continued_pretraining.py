"""Tests for snippets/pretraining/continued_pretraining.py: the evaluation size against scipy's
normal quantiles, a hand value and a Monte Carlo power simulation; WSD against a chain of
torch.optim.lr_scheduler schedulers."""
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm

from snippets import load

cp = load("pretraining/continued_pretraining")


def test_questions_needed_by_hand_with_scipy_quantiles():
    # 40 % -> 50 %: (1.95996 * sqrt(2 * .45 * .55) + 0.84162 * sqrt(.24 + .25))^2 / 0.01 = 387.4 -> 388
    a, b = norm.ppf(0.975), norm.ppf(0.8)
    by_hand = (a * math.sqrt(2 * 0.45 * 0.55) + b * math.sqrt(0.24 + 0.25)) ** 2 / 0.01
    assert math.ceil(by_hand) == cp.questions_needed(0.40, 0.50) == 388
    # halving the effect roughly quadruples the sample
    assert 3.8 < cp.questions_needed(0.40, 0.45) / 388 < 4.1
    # GSM8K has 1,319 test questions: far short of the ~9,800 needed to see 50 % -> 52 %
    assert cp.questions_needed(0.50, 0.52) > 7 * 1319


def test_questions_needed_gives_the_stated_power_in_simulation():
    """Draw both models' scores many times and count how often a two-sided z-test rejects."""
    rng = np.random.default_rng(0)
    n = cp.questions_needed(0.40, 0.50)
    trials = 20_000
    x1 = rng.binomial(n, 0.40, trials) / n
    x2 = rng.binomial(n, 0.50, trials) / n
    pooled = (x1 + x2) / 2
    z = (x2 - x1) / np.sqrt(2 * pooled * (1 - pooled) / n)
    power = float(np.mean(np.abs(z) > norm.ppf(0.975)))
    assert power == pytest.approx(0.80, abs=0.015)


def test_wsd_matches_torch_scheduler_chain():
    peak, warmup, total, frac = 1.0, 10, 100, 0.2
    decay_start = total - int(frac * total)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=1e-12, end_factor=1.0, total_iters=warmup),
        torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=decay_start - warmup),
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=1.0, end_factor=1e-12, total_iters=total - decay_start),
    ], milestones=[warmup, decay_start])
    for step in range(total + 1):
        assert cp.wsd_lr(step, peak, warmup, total, frac) == pytest.approx(opt.param_groups[0]["lr"], abs=1e-9)
        opt.step()
        sched.step()


def test_wsd_decays_to_a_nonzero_final_lr_by_hand():
    # decay starts at 100 - 0.2 * 100 = 80; step 95: 1 + (0.1 - 1) * 15 / 20 = 0.325; step 100: 0.1
    assert cp.wsd_lr(95, 1.0, 10, 100, 0.2, final=0.1) == pytest.approx(0.325)
    assert cp.wsd_lr(100, 1.0, 10, 100, 0.2, final=0.1) == pytest.approx(0.1)
    assert cp.wsd_lr(79, 1.0, 10, 100, 0.2, final=0.1) == 1.0          # last stable step
    assert cp.wsd_lr(5, 2.0, 10, 100) == pytest.approx(1.0)            # warm-up: 2 * 5 / 10


def test_wsd_default_decays_over_the_last_tenth():
    # the demo's schedule: peak 3e-4, 1k warm-up, 100k steps; decay from 90,000 by hand
    lr = [cp.wsd_lr(s, 3e-4, 1000, 100_000) for s in (999, 1000, 89_999, 90_000, 95_000, 99_000, 100_000)]
    assert lr == pytest.approx([3e-4 * 999 / 1000, 3e-4, 3e-4, 3e-4, 1.5e-4, 3e-5, 0.0], abs=1e-15)


def test_wsd_boundaries_no_warmup_and_warmup_up_to_decay():
    # warmup = 0: the peak from the very first step (no 0/0)
    assert [cp.wsd_lr(s, 2.0, 0, 10, 0.5) for s in (0, 4, 5, 6, 10)] == pytest.approx([2.0, 2.0, 2.0, 1.6, 0.0])
    # warm-up may end exactly where the decay starts: ramp 0 -> 1 over 80 steps, then straight down
    assert [cp.wsd_lr(s, 1.0, 80, 100, 0.2) for s in (0, 40, 79, 80, 90, 100)] == \
        pytest.approx([0.0, 0.5, 79 / 80, 1.0, 0.5, 0.0])


@pytest.mark.parametrize("step, warmup, decay_frac, bad", [
    (101, 10, 0.2, "step 101"),        # past the end: a linear decay would go below `final` (negative LR)
    (-1, 10, 0.2, "step -1"),
    (50, 10, 0.0, "decay start 100"),   # no decay steps: 0/0 at the last step
    (50, 10, 0.004, "decay start 100"), # 0.4 of a step rounds to none
    (50, 81, 0.2, "warmup 81"),         # warm-up overlapping the decay
    (50, -1, 0.2, "warmup -1"),
])
def test_wsd_rejects_steps_and_settings_outside_the_schedule(step, warmup, decay_frac, bad):
    with pytest.raises(ValueError, match=bad):
        cp.wsd_lr(step, 1.0, warmup, 100, decay_frac)
