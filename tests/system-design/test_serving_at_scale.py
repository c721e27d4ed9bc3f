"""Tests for snippets/system-design/serving_at_scale.py: hand-computed capacity numbers,
functools.lru_cache as an oracle, a simulated clock, the Kubernetes HPA formula, and
invariants of the asyncio batcher."""
import asyncio
import functools
import random
import selectors

import pytest

from snippets import load

s = load("system-design/serving_at_scale")


def test_gpu_count_hand_computed():
    # 100 QPS * 2000 prompt tokens = 200,000 tok/s of prefill at 10,000 tok/s/GPU -> 20 GPU-s/s
    # 100 QPS * 300 output tokens  =  30,000 tok/s of decode  at  2,500 tok/s/GPU -> 12 GPU-s/s
    # 32 / 0.7 = 45.71 -> 46 GPUs
    w = s.Workload(qps=100, prompt_tokens=2000, output_tokens=300)
    assert s.gpus_needed(w, prefill_tok_s=10_000, decode_tok_s=2_500, target_util=0.7) == 46
    # Replicas of 4 GPUs (TP=4): 45.71 / 4 = 11.4 -> 12 replicas = 48 GPUs
    assert s.gpus_needed(w, 10_000, 2_500, 0.7, gpus_per_replica=4) == 48
    # Prefix cache serving half of the prompt tokens: 10 + 12 = 22 -> 22 / 0.7 = 31.4 -> 32
    assert s.gpus_needed(s.Workload(100, 1000, 300), 10_000, 2_500, 0.7) == 32
    # defaults (70 % utilisation, replicas of one GPU): 50 QPS -> 10 + 6 = 16 GPU-s/s, 16 / 0.7 = 22.9 -> 23
    assert s.gpus_needed(s.Workload(qps=50, prompt_tokens=2000, output_tokens=300), 10_000, 2_500) == 23


def test_kv_cache_bytes_llama3_shapes():
    # Llama-3-8B: 32 layers, 8 KV heads, head_dim 128, bf16 -> 2*32*8*128*2 = 131072 B = 128 KiB
    assert s.kv_bytes_per_token(32, 8, 128, 2) == 128 * 1024
    assert s.kv_bytes_per_token(32, 8, 128) == 128 * 1024          # bf16 (2 bytes) is the default
    # Llama-3-70B: 80 layers, 8 KV heads, head_dim 128 -> 320 KiB per token
    assert s.kv_bytes_per_token(80, 8, 128, 2) == 320 * 1024
    # 80 GB GPU, 90% usable, 16 GB of weights -> 56e9 B of KV; 2300-token sequences of
    # 131072 B/token = 301,465,600 B each -> 185.76 -> 185 sequences
    assert s.seqs_per_gpu(80e9, 16e9, 131072, 2300, 0.9) == 185
    assert s.seqs_per_gpu(80e9, 140e9, 131072, 2300) == 0   # weights do not even fit


def test_littles_law_and_cost():
    assert s.concurrent_requests(100, 12.5) == pytest.approx(1250)
    # 46 GPUs * $2.5/h = $115/h; 100 QPS * 2300 tokens * 3600 s = 828e6 tokens/h
    assert s.cost_per_million_tokens(46, 2.5, 100 * 2300) == pytest.approx(115 / 828, rel=1e-12)


def test_token_bucket_simulated_clock():
    tb = s.TokenBucket(rate=10, capacity=20, now=0.0)
    # t=0: full bucket 20 -> burst of 20 one-unit requests passes, the 21st fails
    assert [tb.allow(1, 0.0) for _ in range(21)] == [True] * 20 + [False]
    # t=0.5: refilled 5 units -> a cost-5 request passes, then a cost-1 fails
    assert tb.allow(5, 0.5) is True
    assert tb.allow(1, 0.5) is False
    # t=10: refill capped at capacity 20, so cost 21 is never allowed but cost 20 is
    assert tb.allow(21, 10.0) is False
    assert tb.allow(20, 10.0) is True
    # the clock starts at 0 by default: a bucket made without `now` is full at t = 0, not owed time
    tb = s.TokenBucket(rate=10, capacity=20)
    assert [tb.allow(1, 0.0) for _ in range(21)] == [True] * 20 + [False]


def test_token_bucket_long_run_rate():
    # Invariant: over T seconds no more than capacity + rate * T units pass.
    tb = s.TokenBucket(rate=50, capacity=100)
    passed = sum(3 for i in range(10_000) if tb.allow(3, i * 0.001))   # 10 s of 1000 req/s
    assert passed <= 100 + 50 * 10
    assert passed >= 50 * 10 - 3       # and the limiter does not starve traffic


def test_deadline_queue_hand_worked():
    q = s.DeadlineQueue()
    q.push("batch-job", priority=1, deadline=100.0)
    q.push("chat-late", priority=0, deadline=9.0)
    q.push("chat-early", priority=0, deadline=5.0)
    q.push("chat-expired", priority=0, deadline=1.0)
    q.push("chat-tie", priority=0, deadline=5.0)
    # now=2: expired one dropped; priority 0 by deadline, FIFO on ties; then priority 1
    assert [q.pop(2.0) for _ in range(4)] == ["chat-early", "chat-tie", "chat-late", "batch-job"]
    assert q.dropped == ["chat-expired"]
    assert q.pop(2.0) is None


def test_deadline_queue_drops_everything_late():
    q = s.DeadlineQueue()
    for i, d in enumerate([3.0, 4.0, 8.0]):
        q.push(f"r{i}", 0, d)
    assert q.pop(5.0) == "r2"
    assert q.dropped == ["r0", "r1"]
    # a deadline equal to now has not passed yet: served, not dropped
    q.push("r3", 0, 6.0)
    assert q.pop(6.0) == "r3" and q.dropped == ["r0", "r1"] and len(q) == 0


def test_deadline_queue_priority_beats_deadline_and_ties_are_fifo():
    q = s.DeadlineQueue()
    q.push("batch-soon", priority=1, deadline=3.0)
    q.push("chat-later", priority=0, deadline=9.0)
    assert q.pop(0.0) == "chat-later" and q.pop(0.0) == "batch-soon"     # strict classes, not EDF
    # the heap key is (priority, deadline, seq); the request id is carried along, never compared
    assert s._Entry(0, 9.0, 5, "z") < s._Entry(1, 3.0, 0, "a") < s._Entry(1, 3.0, 1, "a")
    assert s._Entry(0, 5.0, 2, "x") == s._Entry(0, 5.0, 2, "y")
    # twelve requests with the same class and deadline come out in arrival order (heapq alone is
    # not stable: equal keys would come out in heap order)
    for i in range(12):
        q.push(f"t{i}", 0, 5.0)
    assert [q.pop(0.0) for _ in range(12)] == [f"t{i}" for i in range(12)]


def test_lru_hits_hand_count_and_functools_oracle():
    # A B C A B D A B C E with 3 slots: hits at A,B (pos 4,5), A,B (pos 7,8) -> 4
    assert s.lru_hits("ABCABDABCE", capacity=3) == 4
    assert s.lru_hits("ABCD" * 3, capacity=3) == 0            # cyclic scan defeats LRU
    rng = random.Random(0)
    trace = [int(rng.paretovariate(1.2)) for _ in range(2000)]  # heavy-tailed popularity
    for cap in (1, 5, 20):
        @functools.lru_cache(maxsize=cap)
        def f(key):
            return key
        for key in trace:
            f(key)
        assert s.lru_hits(trace, cap) == f.cache_info().hits


def test_hpa_formula_examples():
    # Kubernetes docs: current 200m vs target 100m -> double replicas
    assert s.hpa_desired_replicas(1, 200, 100) == 2
    # current 50 vs target 100 -> halve
    assert s.hpa_desired_replicas(4, 50, 100) == 2
    # within 10% tolerance -> unchanged
    assert s.hpa_desired_replicas(4, 108, 100) == 4
    # 3 replicas * 1.5 = 4.5 -> ceil 5; clamp to max
    assert s.hpa_desired_replicas(3, 15, 10) == 5
    assert s.hpa_desired_replicas(3, 15, 10, max_replicas=4) == 4
    # the band is closed: a ratio of exactly 1 + tolerance (1.25, exact in binary) changes nothing,
    # just above it scales: ceil(4 * 1.26) = 6
    assert s.hpa_desired_replicas(4, 125, 100, tolerance=0.25) == 4
    assert s.hpa_desired_replicas(4, 126, 100, tolerance=0.25) == 6
    # an idle metric would give ceil(0) = 0 replicas: clamped to min_replicas
    assert s.hpa_desired_replicas(4, 0, 10) == 1
    assert s.hpa_desired_replicas(4, 0, 10, min_replicas=2) == 2
    # the default ceiling is 1000 replicas: 600 * 2 = 1200 -> 1000
    assert s.hpa_desired_replicas(600, 200, 100) == 1000
    assert s.hpa_desired_replicas(400, 200, 100) == 800


class _VirtualSelector(selectors.DefaultSelector):
    """Never sleeps: when the loop would wait `timeout` seconds for the next timer, the virtual
    clock jumps forward by that much instead."""
    loop = None

    def select(self, timeout=None):
        events = super().select(0)
        if not events and timeout is None:
            # nothing ready, no timer: on this clock nothing can ever wake the loop (a future no one
            # will resolve, e.g. a worker that died): fail at once instead of spinning until a timeout
            raise RuntimeError("deadlock on the simulated clock: every task waits, no timer is set")
        if not events and timeout:
            self.loop.now += timeout
        return events


class _VirtualClockLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on a simulated clock: sleeps and wait_for timeouts cost no real time and
    timestamps are exact, so window logic can be tested with staggered arrivals."""

    def __init__(self):
        sel = _VirtualSelector()
        self.now = 0.0
        super().__init__(selector=sel)
        sel.loop = self

    def time(self):
        return self.now


def _run_virtual(coro):
    loop = _VirtualClockLoop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def _batcher_timeline(arrivals, max_batch_size, max_wait_s):
    """Submit request i at simulated time arrivals[i]; return [(dispatch time, batch)] and results."""
    async def main():
        loop = asyncio.get_running_loop()
        dispatched = []

        async def infer(xs):
            dispatched.append((round(loop.time(), 9), list(xs)))
            return [x * 10 for x in xs]

        b = s.DynamicBatcher(infer, max_batch_size=max_batch_size, max_wait_s=max_wait_s)
        worker = asyncio.create_task(b.run())

        async def client(i, t):
            await asyncio.sleep(t)
            return await b.submit(i)

        outs = await asyncio.gather(*(client(i, t) for i, t in enumerate(arrivals)))
        worker.cancel()
        return dispatched, outs, b.batch_sizes

    return _run_virtual(main())


def test_batcher_window_starts_at_the_first_request_on_a_simulated_clock():
    # max_wait 50 ms, arrivals every 30 ms: windows [0, 50] -> {0, 1}; [60, 110] -> {2, 3}; [120, 170] -> {4}.
    # A window that restarted on every arrival would keep extending and send one batch of 5 at 170 ms.
    dispatched, outs, sizes = _batcher_timeline([0.0, 0.03, 0.06, 0.09, 0.12], 10, 0.05)
    assert dispatched == [(0.05, [0, 1]), (0.11, [2, 3]), (0.17, [4])]
    assert outs == [0, 10, 20, 30, 40] and sizes == [2, 2, 1]


def test_batcher_full_batch_goes_without_waiting_on_a_simulated_clock():
    # max size 2: the batch is sent when the 2nd request arrives (10 ms), not at the 50 ms deadline;
    # the 3rd request (20 ms) opens a new window that closes at 70 ms.
    dispatched, outs, sizes = _batcher_timeline([0.0, 0.01, 0.02], 2, 0.05)
    assert dispatched == [(0.01, [0, 1]), (0.07, [2])]
    assert outs == [0, 10, 20] and sizes == [2, 1]
    # a request arriving exactly as another's window is open joins it; one arriving late does not
    dispatched, _, _ = _batcher_timeline([0.0, 0.049, 0.051], 8, 0.05)
    assert dispatched == [(0.05, [0, 1]), (0.101, [2])]


def test_batcher_with_no_wait_dispatches_at_once():
    # max_wait 0: the window has closed when it opens; every request is answered at its arrival time
    dispatched, outs, sizes = _batcher_timeline([0.0, 0.0, 0.02], 8, 0.0)
    assert outs == [0, 10, 20] and sum(sizes) == 3
    assert [t for t, _ in dispatched] == [0.0] * (len(dispatched) - 1) + [0.02]
    assert sorted(x for _, batch in dispatched for x in batch) == [0, 1, 2] and dispatched[-1][1] == [2]


def test_batcher_batches_under_load_and_respects_max_size():
    async def main():
        seen = []

        async def infer(xs):
            seen.append(list(xs))
            await asyncio.sleep(0.005)
            return [x * x for x in xs]

        b = s.DynamicBatcher(infer, max_batch_size=8, max_wait_s=0.05)
        worker = asyncio.create_task(b.run())
        outs = await asyncio.gather(*(b.submit(i) for i in range(50)))
        worker.cancel()
        return outs, b.batch_sizes, seen

    outs, sizes, seen = _run_virtual(main())
    assert outs == [i * i for i in range(50)]                 # pairing preserved
    assert max(sizes) <= 8 and sum(sizes) == 50
    assert len(sizes) == 7                                    # ceil(50 / 8): all arrived at once
    assert sorted(x for batch in seen for x in batch) == list(range(50))   # each once


def test_batcher_pairing_with_shuffled_latency_and_concurrent_clients():
    async def main():
        rng = random.Random(1)

        async def infer(xs):
            await asyncio.sleep(rng.uniform(0, 0.004))
            return [f"out-{x}" for x in xs]

        b = s.DynamicBatcher(infer, max_batch_size=4, max_wait_s=0.01)
        worker = asyncio.create_task(b.run())

        async def client(i):
            await asyncio.sleep(rng.uniform(0, 0.03))         # staggered arrivals
            return i, await b.submit(i)

        res = await asyncio.gather(*(client(i) for i in range(40)))
        worker.cancel()
        return res, b.batch_sizes

    res, sizes = _run_virtual(main())
    assert all(out == f"out-{i}" for i, out in res)
    assert max(sizes) <= 4 and sum(sizes) == 40


def test_batcher_single_request_waits_at_most_max_wait():
    async def main():
        async def infer(xs):
            return xs

        loop = asyncio.get_running_loop()
        b = s.DynamicBatcher(infer, max_batch_size=64, max_wait_s=0.05)
        worker = asyncio.create_task(b.run())
        t0 = loop.time()
        out = await b.submit("only")
        dt = loop.time() - t0
        worker.cancel()
        return out, dt, b.batch_sizes

    out, dt, sizes = _run_virtual(main())
    assert out == "only" and sizes == [1]
    assert dt == pytest.approx(0.05, abs=1e-9)     # waited exactly the window, then ran alone


def test_batcher_propagates_errors_and_keeps_serving():
    async def main():
        async def infer(xs):
            if "bad" in xs:
                raise ValueError("boom")
            return xs

        b = s.DynamicBatcher(infer, max_batch_size=2, max_wait_s=0.01)
        worker = asyncio.create_task(b.run())
        r1 = await asyncio.gather(b.submit("bad"), b.submit("x"), return_exceptions=True)
        r2 = await b.submit("ok")
        worker.cancel()
        return r1, r2

    r1, r2 = _run_virtual(main())
    assert all(isinstance(r, ValueError) for r in r1)
    assert r2 == "ok"


def test_batcher_rejects_a_wrong_number_of_outputs_and_keeps_serving():
    async def main():
        async def infer(xs):
            return xs[:-1] if len(xs) > 1 else xs          # drops one output of a full batch

        b = s.DynamicBatcher(infer, max_batch_size=2, max_wait_s=0.01)
        worker = asyncio.create_task(b.run())
        # bounded (on the simulated clock): a batcher that never answered would fail here, not hang
        r1 = await asyncio.wait_for(
            asyncio.gather(b.submit("a"), b.submit("b"), return_exceptions=True), 1.0)
        r2 = await asyncio.wait_for(b.submit("c"), 1.0)
        worker.cancel()
        return r1, r2

    r1, r2 = _run_virtual(main())
    assert all(isinstance(r, RuntimeError) and str(r) == "infer must return one output per input" for r in r1)
    assert r2 == "c"


def test_batcher_serves_the_rest_of_a_batch_when_a_caller_is_cancelled():
    # on the simulated clock: requests 0 and 1 form one batch at 10 ms, infer takes 20 ms,
    # caller 0 gives up at 15 ms; caller 1 must still get its own answer
    async def main():
        async def infer(xs):
            await asyncio.sleep(0.02)
            return [x * 10 for x in xs]

        b = s.DynamicBatcher(infer, max_batch_size=2, max_wait_s=0.05)
        worker = asyncio.create_task(b.run())
        first = asyncio.create_task(b.submit(0))
        second = asyncio.create_task(b.submit(1))
        await asyncio.sleep(0.015)
        first.cancel()
        out = await asyncio.wait_for(second, 1.0)
        worker.cancel()
        return first.cancelled(), out, b.batch_sizes

    cancelled, out, sizes = _run_virtual(main())
    assert cancelled and out == 10 and sizes == [2]
