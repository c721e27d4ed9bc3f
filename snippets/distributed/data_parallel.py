"""Data parallelism: gradient averaging with torch.distributed (gloo, 2 CPU processes),
ring all-reduce and its cost, a ZeRO-style sharded AdamW step, and asynchronous SGD with
stale gradients on a parameter server.

Pages: docs/distributed/data_parallel.{zh,en}.md
"""
from __future__ import annotations

import datetime
import math
import multiprocessing as mp
import socket

import torch
import torch.distributed as dist
import torch.nn as nn


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))


def make_batch(seed: int = 1, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 8, generator=g), torch.randn(n, 1, generator=g)


# --8<-- [start:ddp_worker]
def ddp_worker(rank: int, world: int, port: int, out: "mp.Queue") -> None:
    """One data-parallel rank: same initial weights, its own slice of the global batch,
    local backward, then all-reduce (sum) the gradients and divide by the world size."""
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world, timeout=datetime.timedelta(seconds=30))
    try:
        model = make_model()                               # identical replicas (same seed)
        x, y = make_batch()
        shard = slice(rank * len(x) // world, (rank + 1) * len(x) // world)
        loss = nn.functional.mse_loss(model(x[shard]), y[shard])   # mean over the local micro-batch
        loss.backward()
        for p in model.parameters():                       # DDP does this in buckets, overlapped with backward
            dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
            p.grad /= world
        # numpy copies are pickled by value (torch tensors would be shared through file
        # descriptors that vanish when this process exits)
        out.put((rank, [p.grad.numpy().copy() for p in model.parameters()]))
    finally:
        dist.destroy_process_group()
# --8<-- [end:ddp_worker]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_data_parallel(world: int = 2, timeout: float = 60.0) -> list[list[torch.Tensor]]:
    """Start `world` CPU processes running ddp_worker; return each rank's averaged gradients.
    Every process is joined, or terminated and killed, before returning."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=ddp_worker, args=(r, world, port, out), daemon=True) for r in range(world)]
    for p in procs:
        p.start()
    try:
        results = dict(out.get(timeout=timeout) for _ in range(world))
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()
    return [[torch.from_numpy(g) for g in results[r]] for r in range(world)]


# --8<-- [start:ring]
def ring_allreduce(chunks_per_rank: list[torch.Tensor]) -> tuple[list[torch.Tensor], int]:
    """Simulate ring all-reduce over N ranks: N-1 reduce-scatter steps, then N-1 all-gather steps.
    Each rank's tensor is split into N chunks; in every step each rank sends one chunk to its
    right neighbour. Returns (every rank's result, elements rank 0 sent) = (sums, 2 (N-1) M / N when N
    divides M). tensor_split, not chunk: chunk(N) can return fewer than N pieces (6 elements, N = 4)."""
    n = len(chunks_per_rank)
    bufs = [list(t.clone().tensor_split(n)) for t in chunks_per_rank]
    sent = 0
    for step in range(n - 1):                                  # reduce-scatter
        msgs = [(r, (r - step) % n, bufs[r][(r - step) % n].clone()) for r in range(n)]
        for r, c, data in msgs:
            bufs[(r + 1) % n][c] += data
        sent += msgs[0][2].numel()
    for step in range(n - 1):                                  # all-gather: rank r owns chunk (r + 1) % n
        msgs = [(r, (r + 1 - step) % n, bufs[r][(r + 1 - step) % n].clone()) for r in range(n)]
        for r, c, data in msgs:
            bufs[(r + 1) % n][c] = data
        sent += msgs[0][2].numel()
    return [torch.cat(b) for b in bufs], sent


def allreduce_seconds(n_bytes: float, n_ranks: int, link_bandwidth: float, latency: float = 0.0) -> float:
    """Ring all-reduce time: 2 (N-1) steps, each moving n_bytes / N over the slowest link."""
    return 2 * (n_ranks - 1) * (latency + n_bytes / n_ranks / link_bandwidth)
# --8<-- [end:ring]


# --8<-- [start:zero]
def sharded_adamw_step(param: torch.Tensor, grad: torch.Tensor, state: list[dict], n_ranks: int, step: int,
                       lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                       weight_decay: float = 0.01) -> torch.Tensor:
    """ZeRO-1 in one process: rank r keeps m, v (and fp32 master weights) only for its 1/N slice
    of the flat parameter vector, updates that slice, then the slices are all-gathered.
    param, grad: flat (P,); state: one {"m", "v"} dict per rank (filled on the first step)."""
    b1, b2 = betas
    new_slices = []
    for r, (p, g) in enumerate(zip(param.chunk(n_ranks), grad.chunk(n_ranks))):
        st = state[r]
        if not st:
            st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
        st["m"].mul_(b1).add_(g, alpha=1 - b1)
        st["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
        m_hat, v_hat = st["m"] / (1 - b1 ** step), st["v"] / (1 - b2 ** step)
        p = p * (1 - lr * weight_decay)                         # decoupled weight decay (AdamW)
        new_slices.append(p - lr * m_hat / (v_hat.sqrt() + eps))
    return torch.cat(new_slices)                                # the all-gather
# --8<-- [end:zero]


# --8<-- [start:async_sgd]
class ParameterServer:
    """Holds the parameters; workers pull a copy, compute a gradient on it, and push it back.
    With asynchronous SGD the server applies each gradient as soon as it arrives, even if the
    parameters moved since that worker pulled (a stale gradient)."""

    def __init__(self, x0: torch.Tensor, lr: float) -> None:
        self.x, self.lr, self.version = x0.clone(), lr, 0

    def pull(self) -> tuple[torch.Tensor, int]:
        return self.x.clone(), self.version

    def push(self, grad: torch.Tensor) -> None:
        self.x -= self.lr * grad
        self.version += 1


def async_sgd_round_robin(grad_fn, x0: torch.Tensor, lr: float, n_workers: int,
                          steps: int) -> tuple[list[torch.Tensor], list[int]]:
    """Asynchronous SGD with equally fast workers finishing in turn. Each gradient is computed
    on parameters that are n_workers - 1 updates old by the time it is applied.
    Returns the parameter trajectory and the staleness of every applied update."""
    ps = ParameterServer(x0, lr)
    snapshots = [ps.pull() for _ in range(n_workers)]         # everyone starts from x0
    traj, staleness = [ps.x.clone()], []
    for t in range(steps):
        w = t % n_workers
        x_read, version = snapshots[w]
        staleness.append(ps.version - version)
        ps.push(grad_fn(x_read))
        snapshots[w] = ps.pull()                               # fetch fresh parameters, start again
        traj.append(ps.x.clone())
    return traj, staleness


def delayed_gd(a: float, tau: int, steps: int, x0: float = 1.0) -> list[float]:
    """x_{t+1} = x_t - a x_{t-tau} (x_t = x0 for t <= 0): gradient descent on the quadratic
    f(x) = lambda x^2 / 2 with a = lr * lambda when every gradient is tau steps stale."""
    xs = [x0] * (tau + 1)
    for _ in range(steps):
        xs.append(xs[-1] - a * xs[-1 - tau])
    return xs[tau:]


def critical_step(tau: int) -> float:
    """Delayed GD is stable iff 0 < lr * lambda < 2 sin(pi / (2 (2 tau + 1))):
    2 for synchronous GD (tau = 0), 1 for tau = 1, about pi / (2 tau + 1) for large tau."""
    return 2 * math.sin(math.pi / (2 * (2 * tau + 1)))
# --8<-- [end:async_sgd]


if __name__ == "__main__":
    grads = run_data_parallel(2)
    model = make_model()
    x, y = make_batch()
    nn.functional.mse_loss(model(x), y).backward()
    same = all(torch.allclose(a, p.grad, atol=1e-6) for a, p in zip(grads[0], model.parameters()))
    print("2-process averaged gradients == single-process full-batch gradients:", same)
    out, sent = ring_allreduce([torch.arange(8.0) * (r + 1) for r in range(4)])
    print("ring all-reduce of 4 ranks:", out[0].tolist(), f"elements sent per rank {sent} = 2*(4-1)/4*8")
    t = allreduce_seconds(14e9, 8, 150e9)
    print(f"all-reduce of 7B bf16 grads (14 GB) over 8 GPUs, 150 GB/s per link: {t:.2f} s")

    for tau in (0, 1, 3, 7):
        a = critical_step(tau)
        below, above = delayed_gd(0.95 * a, tau, 400)[-1], delayed_gd(1.05 * a, tau, 400)[-1]
        print(f"staleness {tau}: stable iff lr*lambda < {a:.3f}; |x_400| at 0.95x {abs(below):.1e}, at 1.05x {abs(above):.1e}")
    traj, stale = async_sgd_round_robin(lambda x: 2.0 * x, torch.tensor([1.0]), 0.2, n_workers=4, steps=8)
    print("async SGD with 4 workers, staleness of each update:", stale)
