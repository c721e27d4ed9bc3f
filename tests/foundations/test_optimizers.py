"""Adam / AdamW steps vs torch.optim; warm-up + cosine vs torch.optim.lr_scheduler composition."""
import math

import pytest
import torch

from snippets import load

opt = load("foundations/optimizers")


@pytest.mark.parametrize("decoupled", [False, True])
def test_adam_and_adamw_match_torch_over_several_steps(decoupled):
    torch.manual_seed(0)
    p_ref = torch.nn.Parameter(torch.randn(5, 3, dtype=torch.float64))
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    ref = cls([p_ref], lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    p, m, v = p_ref.detach().clone(), torch.zeros_like(p_ref), torch.zeros_like(p_ref)
    for t in range(1, 6):
        g = torch.randn_like(p)
        p_ref.grad = g.clone()
        ref.step()
        p, m, v = opt.adam_step(p, g, m, v, t, lr=1e-2, betas=(0.9, 0.95), weight_decay=0.1, decoupled=decoupled)
        torch.testing.assert_close(p, p_ref.detach())


def test_adam_first_step_is_lr_times_sign():
    # With bias correction, the first Adam step is lr * g / (|g| + eps): about lr * sign(g).
    p, g = torch.tensor([1.0, 1.0]), torch.tensor([1e-4, -50.0])
    p1, _, _ = opt.adam_step(p, g, torch.zeros(2), torch.zeros(2), 1, lr=0.1, eps=0.0)
    torch.testing.assert_close(p1, torch.tensor([0.9, 1.1]))


def test_adam_step_after_a_lone_spike_matches_kingma_ba_bound():
    # Kingma & Ba, section 2.1: if a coordinate's gradient was 0 at every earlier step, a single
    # spike moves it by lr * (1 - b1) / sqrt(1 - b2) (large t): ~3.16 lr at b2 = 0.999, ~0.45 lr at 0.95.
    t = 10_000
    for b2 in (0.999, 0.95):
        p1, _, _ = opt.adam_step(torch.zeros(1), torch.tensor([50.0]), torch.zeros(1), torch.zeros(1), t,
                                 lr=1.0, betas=(0.9, b2), eps=0.0)
        assert float(-p1) == pytest.approx(0.1 / math.sqrt(1 - b2), rel=1e-3)


def test_warmup_cosine_matches_sequential_lr():
    max_lr, min_lr, warmup, total = 1.0, 0.1, 10, 60
    p = torch.nn.Parameter(torch.zeros(1))
    o = torch.optim.SGD([p], lr=max_lr)
    sched = torch.optim.lr_scheduler.SequentialLR(o, schedulers=[
        torch.optim.lr_scheduler.LinearLR(o, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1),
        torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total - warmup, eta_min=min_lr),
    ], milestones=[warmup])
    for step in range(total):
        assert o.param_groups[0]["lr"] == pytest.approx(opt.warmup_cosine_lr(step, max_lr, warmup, total, min_lr))
        o.step()
        sched.step()


def test_schedule_endpoints_by_hand():
    assert opt.warmup_cosine_lr(0, 3e-4, 100, 1000) == pytest.approx(3e-6)
    assert opt.warmup_cosine_lr(99, 3e-4, 100, 1000) == pytest.approx(3e-4)
    assert opt.warmup_cosine_lr(550, 3e-4, 100, 1000, 0.0) == pytest.approx(1.5e-4)   # halfway: cos(pi/2) = 0
    assert opt.warmup_cosine_lr(1000, 3e-4, 100, 1000, 3e-5) == pytest.approx(3e-5)
