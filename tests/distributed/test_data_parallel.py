"""Tests for snippets/distributed/data_parallel.py: 2 gloo processes on 127.0.0.1 give the
single-process full-batch gradient; ring all-reduce == sum with 2(N-1)/N traffic; the sharded
AdamW step == torch.optim.AdamW."""
import multiprocessing as mp
import queue

import pytest
import torch
import torch.distributed as dist
import torch.nn as nn

from snippets import load

dp = load("distributed/data_parallel")


def _ranks_with_rank0_here(world: int) -> dict:
    """Rank 0 runs ddp_worker in this process, ranks 1..world-1 in forked children (no torch re-import,
    unlike the spawned run below, so a wrong shard or scaling fails in about a second); every child is
    joined or killed."""
    ctx = mp.get_context("fork")
    out, port = ctx.Queue(), dp.free_port()
    others = [ctx.Process(target=dp.ddp_worker, args=(r, world, port, out), daemon=True) for r in range(1, world)]
    for p in others:
        p.start()
    try:
        dp.ddp_worker(0, world, port, out)
        return dict(out.get(timeout=60) for _ in range(world))
    finally:
        for p in others:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join()


def test_two_process_gloo_gradients_equal_single_process():
    model = dp.make_model()
    x, y = dp.make_batch()
    nn.functional.mse_loss(model(x), y).backward()           # oracle: one process, whole batch
    # world = 2 with rank 0 in this process: each rank's half of the batch, summed and divided by the
    # world size, is the full-batch gradient on both ranks
    ranks = _ranks_with_rank0_here(2)
    assert sorted(ranks) == [0, 1] and not dist.is_initialized()
    for r in (0, 1):
        for g, p in zip(ranks[r], model.parameters()):
            torch.testing.assert_close(torch.from_numpy(g), p.grad, atol=1e-6, rtol=1e-5)
    # world = 1 in this process first: the whole batch, all-reduce over one rank. (It also makes this
    # test the one `make mutation` runs for ddp_worker's mutants: calls in spawned processes are not
    # seen by mutmut's per-test coverage, but the spawned ranks below do run the mutant.)
    one = queue.Queue()
    dp.ddp_worker(0, 1, dp.free_port(), one)
    rank, alone = one.get_nowait()
    assert rank == 0 and not dist.is_initialized()           # the process group is torn down
    for g, p in zip(alone, model.parameters()):
        torch.testing.assert_close(torch.from_numpy(g), p.grad, atol=1e-6, rtol=1e-5)
    grads = dp.run_data_parallel(world=2, timeout=60.0)      # bounded: queue timeout + join/kill
    assert not mp.active_children()                          # no process left behind
    for rank_grads in grads:
        for g, p in zip(rank_grads, model.parameters()):
            torch.testing.assert_close(g, p.grad, atol=1e-6, rtol=1e-5)
    for a, b in zip(grads[0], grads[1]):                      # replicas stay identical
        torch.testing.assert_close(a, b, atol=0, rtol=0)



def test_three_ranks_with_unequal_slices_average_the_local_means():
    # 32 examples over 3 ranks: contiguous slices [r * 32 // 3, (r + 1) * 32 // 3) of 10, 11 and 11 examples.
    # Each rank's loss is the mean over its own slice and the all-reduced sum is divided by the world size,
    # so the result is (1/3) sum_r grad mean_{i in B_r} l_i: the page's formula, which equals the full-batch
    # gradient only for slices of equal size. Oracle: the three slice gradients computed in this process.
    x, y = dp.make_batch()
    model = dp.make_model()
    bounds = [r * len(x) // 3 for r in range(4)]
    assert [hi - lo for lo, hi in zip(bounds, bounds[1:])] == [10, 11, 11]
    oracle = [torch.zeros_like(p) for p in model.parameters()]
    for lo, hi in zip(bounds, bounds[1:]):
        model.zero_grad()
        nn.functional.mse_loss(model(x[lo:hi]), y[lo:hi]).backward()
        for o, p in zip(oracle, model.parameters()):
            o += p.grad / 3
    model.zero_grad()
    nn.functional.mse_loss(model(x), y).backward()           # the full-batch gradient differs here
    assert max((o - p.grad).abs().max().item() for o, p in zip(oracle, model.parameters())) > 1e-3
    ranks = _ranks_with_rank0_here(3)
    assert sorted(ranks) == [0, 1, 2] and not dist.is_initialized()
    for r in range(3):
        for g, o in zip(ranks[r], oracle):
            torch.testing.assert_close(torch.from_numpy(g), o, atol=1e-6, rtol=1e-5)

@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_ring_allreduce_equals_sum_and_traffic(n):
    torch.manual_seed(n)
    m = 24                                                   # divisible by every n above
    xs = [torch.randn(m, dtype=torch.float64) for _ in range(n)]
    outs, sent = dp.ring_allreduce(xs)
    total = torch.stack(xs).sum(0)
    for o in outs:
        torch.testing.assert_close(o, total)
    assert sent == 2 * (n - 1) * m // n                      # 2 (N-1)/N * M elements per rank


@pytest.mark.parametrize("m", [6, 7, 10])
def test_ring_allreduce_uneven_split_by_hand(m):
    # 4 ranks, M not divisible by 4: pieces of 2,2,1,1 (M = 6), 2,2,2,1 (M = 7) or 3,3,2,2 (M = 10). Rank 0 sends pieces
    # 0, 3, 2 in reduce-scatter and 1, 0, 3 in all-gather: 2+1+1 + 2+2+1 = 9, 2+1+2 + 2+2+1 = 10, 3+2+2 + 3+3+2 = 15
    torch.manual_seed(m)
    xs = [torch.randn(m, dtype=torch.float64) for _ in range(4)]
    total = torch.stack(xs).sum(0)
    before = [x.clone() for x in xs]
    outs, sent = dp.ring_allreduce(xs)
    for o in outs:
        torch.testing.assert_close(o, total)
    assert sent == {6: 9, 7: 10, 10: 15}[m]
    for x, b in zip(xs, before):                              # the inputs are left alone
        assert torch.equal(x, b)


def test_parameter_server_versions_count_updates():
    ps = dp.ParameterServer(torch.tensor([1.0, 2.0]), lr=0.5)
    x, version = ps.pull()
    assert version == 0 and x.tolist() == [1.0, 2.0]
    ps.push(torch.tensor([2.0, 0.0]))
    ps.push(torch.tensor([0.0, 2.0]))
    x, version = ps.pull()
    assert version == 2 and x.tolist() == [0.0, 1.0]


def test_delayed_gd_first_steps_by_hand():
    # tau = 0: x halves each step; tau = 1 (x_{-1} = x_0 = 1): 1, 1 - .5 = .5, .5 - .5*1 = 0, 0 - .5*.5
    assert dp.delayed_gd(0.5, 0, 3) == [1.0, 0.5, 0.25, 0.125]
    assert dp.delayed_gd(0.5, 1, 3) == [1.0, 0.5, 0.0, -0.25]


def test_allreduce_time_by_hand():
    # 14 GB over 8 ranks at 100 GB/s per link: 2 * 7 * (14e9 / 8) / 100e9 = 0.245 s
    assert abs(dp.allreduce_seconds(14e9, 8, 100e9) - 0.245) < 1e-12
    # bandwidth term approaches 2 M / B as N grows: barely depends on N
    assert dp.allreduce_seconds(1e9, 1024, 1e9) < 2.0 and dp.allreduce_seconds(1e9, 1024, 1e9) > 1.99
    # the latency is paid on each of the 2 (N-1) steps: 4 ranks, 1 ms per hop, 1 GB at 1 GB/s
    # -> 6 * (1e-3 + 0.25) = 1.506 s
    assert dp.allreduce_seconds(1e9, 4, 1e9, latency=1e-3) == pytest.approx(1.506, rel=1e-12)


def test_sharded_adamw_equals_torch_adamw():
    torch.manual_seed(0)
    p0 = torch.randn(30, dtype=torch.float64)
    ref = nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([ref], lr=1e-2, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.1)
    mine, state = p0.clone(), [{} for _ in range(3)]
    for step in range(1, 6):
        g = torch.randn(30, dtype=torch.float64)
        ref.grad = g.clone()
        opt.step()
        mine = dp.sharded_adamw_step(mine, g, state, 3, step, lr=1e-2, betas=(0.9, 0.99), weight_decay=0.1)
    torch.testing.assert_close(mine, ref.detach())
    assert all(s["m"].numel() == 10 for s in state)           # each rank holds 1/3 of the state


@pytest.mark.parametrize("scale", [1.0, 1e-8])                # tiny gradients: eps is as large as sqrt(v)
def test_sharded_adamw_defaults_equal_torch_adamw_defaults(scale):
    # no hyper-parameter passed on either side: the snippet's defaults must be torch.optim.AdamW's
    # (lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01); 31 parameters over 4 ranks: uneven slices
    torch.manual_seed(1)
    p0 = torch.randn(31, dtype=torch.float64)
    ref = nn.Parameter(p0.clone())
    opt = torch.optim.AdamW([ref])
    mine, state = p0.clone(), [{} for _ in range(4)]
    for step in range(1, 4):
        g = scale * torch.randn(31, dtype=torch.float64)
        ref.grad = g.clone()
        opt.step()
        mine = dp.sharded_adamw_step(mine, g, state, 4, step)
    torch.testing.assert_close(mine, ref.detach(), rtol=1e-12, atol=1e-15)
    assert [s["m"].numel() for s in state] == [8, 8, 8, 7]


# --- asynchronous SGD with stale gradients ------------------------------------------------------
import math

import numpy as np


def spectral_radius(a, tau):
    """Largest |root| of the characteristic polynomial z^(tau+1) - z^tau + a of
    x_{t+1} = x_t - a x_{t-tau}, from numpy (independent of the snippet's closed form)."""
    coeffs = [1.0, -1.0] + [0.0] * (tau - 1) + [a] if tau >= 1 else [1.0, a - 1.0]
    return max(abs(np.roots(coeffs)))


@pytest.mark.parametrize("tau", [0, 1, 2, 3, 5, 7, 15])
def test_critical_step_matches_numpy_roots(tau):
    lo, hi = 1e-6, 2.5                                       # bisect the a where the radius crosses 1
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if spectral_radius(mid, tau) < 1 else (lo, mid)
    assert dp.critical_step(tau) == pytest.approx(lo, abs=1e-6)


def test_critical_step_by_hand():
    assert dp.critical_step(0) == pytest.approx(2.0)         # plain GD: lr * lambda < 2
    assert dp.critical_step(1) == pytest.approx(1.0)         # z^2 - z + a: |roots|^2 = a < 1
    assert dp.critical_step(7) == pytest.approx(2 * math.sin(math.pi / 30))   # 0.209


@pytest.mark.parametrize("tau", [1, 3, 7])
@pytest.mark.parametrize("factor", [0.6, 0.95, 1.05, 1.3])
def test_delayed_gd_growth_rate_is_the_spectral_radius(tau, factor):
    a = factor * dp.critical_step(tau)
    T = 1500
    xs = dp.delayed_gd(a, tau, T)
    rho = spectral_radius(a, tau)
    # |x_t| ~ C rho^t |cos(w t + phi)|: compare the envelope (max over 100 steps) of two
    # windows T/2 apart, so C and the window offset cancel
    env = lambda end: math.log(max(abs(x) for x in xs[end - 100:end]))
    rate = (env(T) - env(T // 2)) / (T - T // 2)
    assert rate == pytest.approx(math.log(rho), abs=3e-3)
    assert (abs(xs[-1]) < 1e-3) == (factor < 1)


def test_async_round_robin_equals_delayed_gd_with_staleness_n_minus_1():
    lam = torch.tensor([0.5, 1.0, 3.0], dtype=torch.float64)   # diagonal quadratic f = sum lam x^2 / 2
    x0 = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    lr, n = 0.05, 4
    traj, stale = dp.async_sgd_round_robin(lambda x: lam * x, x0, lr, n_workers=n, steps=40)
    assert stale == [0, 1, 2] + [3] * 37                      # N - 1 = 3 once the pipeline is full
    for i in range(3):
        ref = dp.delayed_gd(lr * float(lam[i]), n - 1, 40, x0=float(x0[i]))
        np.testing.assert_allclose([float(x[i]) for x in traj], ref, rtol=1e-12, atol=1e-14)


def test_same_lr_sync_converges_async_diverges():
    # lr * lambda = 0.5: synchronous data parallel (tau = 0) converges; 8 async workers (tau = 7) do not.
    assert abs(dp.delayed_gd(0.5, 0, 200)[-1]) < 1e-10
    assert abs(dp.delayed_gd(0.5, 7, 200)[-1]) > 1e3


@pytest.mark.parametrize("tau", [1, 2, 3, 7])
def test_boundary_root_is_on_unit_circle_at_angle_pi_over_2tau_plus_1(tau):
    # At the critical step the dominant roots are exp(+-i pi / (2 tau + 1)): the iterates ring with
    # period 4 tau + 2 steps before they blow up (the derivation on the page).
    a = dp.critical_step(tau)
    coeffs = [1.0, -1.0] + [0.0] * (tau - 1) + [a]
    roots = np.roots(coeffs)
    top = roots[np.argmax(np.abs(roots))]
    assert abs(top) == pytest.approx(1.0, abs=1e-9)
    assert abs(np.angle(top)) == pytest.approx(math.pi / (2 * tau + 1), abs=1e-9)
