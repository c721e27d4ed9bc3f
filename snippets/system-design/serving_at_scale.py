"""Serving an LLM at scale: capacity and cost arithmetic, a dynamic-batching queue,
a token-bucket rate limiter, a priority/deadline queue, an LRU response cache and the
Kubernetes HPA scaling rule.

Pages: docs/system-design/serving_at_scale.{zh,en}.md
"""
from __future__ import annotations

import asyncio
import heapq
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Generic, Hashable, Iterable, TypeVar

X = TypeVar("X")
Y = TypeVar("Y")


# --8<-- [start:capacity]
@dataclass(frozen=True)
class Workload:
    """Peak traffic: requests per second and mean tokens per request."""
    qps: float
    prompt_tokens: float
    output_tokens: float


def gpus_needed(w: Workload, prefill_tok_s: float, decode_tok_s: float,
                target_util: float = 0.7, gpus_per_replica: int = 1) -> int:
    """First-order GPU count: GPU-seconds of work per second of traffic, divided by the
    utilisation we are willing to run at, rounded up to whole replicas.

    prefill_tok_s / decode_tok_s: sustained tokens/s ONE GPU achieves for that phase while
    meeting the latency SLO (measure them with a load test of your engine; they are inputs).
    """
    busy = w.qps * w.prompt_tokens / prefill_tok_s + w.qps * w.output_tokens / decode_tok_s
    replicas = math.ceil(busy / target_util / gpus_per_replica)
    return replicas * gpus_per_replica


def kv_bytes_per_token(layers: int, kv_heads: int, head_dim: int, bytes_per_elem: float = 2) -> float:
    """K and V for every layer: 2 * layers * kv_heads * head_dim * bytes."""
    return 2 * layers * kv_heads * head_dim * bytes_per_elem


def concurrent_requests(qps: float, e2e_latency_s: float) -> float:
    """Little's law L = lambda * W: requests in flight = arrival rate * time in system."""
    return qps * e2e_latency_s


def seqs_per_gpu(gpu_bytes: float, weight_bytes: float, kv_token_bytes: float,
                 tokens_per_seq: float, usable_fraction: float = 0.9) -> int:
    """How many sequences of `tokens_per_seq` fit in the KV cache of one GPU
    (usable_fraction leaves room for activations, CUDA graphs, fragmentation)."""
    kv_budget = gpu_bytes * usable_fraction - weight_bytes
    return max(0, math.floor(kv_budget / (kv_token_bytes * tokens_per_seq)))
# --8<-- [end:capacity]


# --8<-- [start:cost]
def cost_per_million_tokens(n_gpus: int, usd_per_gpu_hour: float, tokens_per_s: float) -> float:
    """Fleet cost per 1M tokens served (prompt + output) at a given traffic level."""
    return n_gpus * usd_per_gpu_hour / (tokens_per_s * 3600) * 1e6
# --8<-- [end:cost]


# --8<-- [start:batcher]
class DynamicBatcher(Generic[X, Y]):
    """Request-level dynamic batching: collect up to `max_batch_size` requests, waiting at
    most `max_wait_s` after the first one arrived, then run `infer` on the whole batch.

    Fits embedding / reranker / classifier models. LLM generation uses iteration-level
    (continuous) batching inside the engine instead.
    """

    def __init__(self, infer: Callable[[list[X]], Awaitable[list[Y]]],
                 max_batch_size: int, max_wait_s: float) -> None:
        self.infer, self.max_batch_size, self.max_wait_s = infer, max_batch_size, max_wait_s
        self.queue: asyncio.Queue[tuple[X, asyncio.Future[Y]]] = asyncio.Queue()
        self.batch_sizes: list[int] = []

    async def submit(self, x: X) -> Y:
        """Called by each request handler; resolves to this request's own output."""
        fut: asyncio.Future[Y] = asyncio.get_running_loop().create_future()
        await self.queue.put((x, fut))
        return await fut

    async def _collect(self) -> list[tuple[X, asyncio.Future[Y]]]:
        batch = [await self.queue.get()]                     # block until there is work
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_s
        while len(batch) < self.max_batch_size:
            timeout = deadline - loop.time()
            if timeout <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), timeout))
            except asyncio.TimeoutError:
                break
        return batch

    async def run(self) -> None:
        """Worker loop; start it with asyncio.create_task(batcher.run())."""
        while True:
            batch = await self._collect()
            self.batch_sizes.append(len(batch))
            try:
                outputs = await self.infer([x for x, _ in batch])
                if len(outputs) != len(batch):
                    raise RuntimeError("infer must return one output per input")
                for (_, fut), y in zip(batch, outputs):      # i-th output -> i-th caller
                    if not fut.done():                       # caller may have been cancelled
                        fut.set_result(y)
            except Exception as exc:                         # fail the batch, keep serving
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
# --8<-- [end:batcher]


# --8<-- [start:token_bucket]
class TokenBucket:
    """Token-bucket rate limiter with an explicit clock (seconds) so it can be tested.

    Refills `rate` units per second up to `capacity`; a request costing `cost` units
    (e.g. prompt + max_tokens LLM tokens) passes only if that many units are available.
    """

    def __init__(self, rate: float, capacity: float, now: float = 0.0) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens, self.last = capacity, now              # start full: allows an initial burst

    def allow(self, cost: float, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if cost <= self.tokens:
            self.tokens -= cost
            return True
        return False
# --8<-- [end:token_bucket]


# --8<-- [start:deadline_queue]
@dataclass(order=True)
class _Entry:
    priority: int                 # 0 = most important (e.g. paid interactive traffic)
    deadline: float               # absolute time after which the answer is useless
    seq: int                      # FIFO tie-break
    request_id: str = field(compare=False)


class DeadlineQueue:
    """Strict priority classes; earliest deadline first inside a class; requests whose
    deadline has passed are dropped (load shedding) instead of wasting GPU time."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._seq = 0
        self.dropped: list[str] = []

    def push(self, request_id: str, priority: int, deadline: float) -> None:
        heapq.heappush(self._heap, _Entry(priority, deadline, self._seq, request_id))
        self._seq += 1

    def pop(self, now: float) -> str | None:
        while self._heap:
            e = heapq.heappop(self._heap)
            if e.deadline < now:
                self.dropped.append(e.request_id)
                continue
            return e.request_id
        return None

    def __len__(self) -> int:
        return len(self._heap)
# --8<-- [end:deadline_queue]


# --8<-- [start:lru_cache]
def lru_hits(trace: Iterable[Hashable], capacity: int) -> int:
    """Number of hits of an exact-match LRU response cache of `capacity` entries on a
    trace of request keys (e.g. hash of model version + normalised prompt + parameters)."""
    cache: OrderedDict[Hashable, None] = OrderedDict()
    hits = 0
    for key in trace:
        if key in cache:
            hits += 1
            cache.move_to_end(key)                 # most recently used
        else:
            cache[key] = None
            if len(cache) > capacity:
                cache.popitem(last=False)          # evict least recently used
    return hits
# --8<-- [end:lru_cache]


# --8<-- [start:autoscale]
def hpa_desired_replicas(current: int, metric: float, target: float, tolerance: float = 0.1,
                         min_replicas: int = 1, max_replicas: int = 1000) -> int:
    """Kubernetes HPA rule: ceil(current * metric / target), no change inside the tolerance
    band. For LLM replicas use e.g. queue length or KV-cache usage per replica, not CPU."""
    ratio = metric / target
    desired = current if abs(ratio - 1.0) <= tolerance else math.ceil(current * ratio)
    return max(min_replicas, min(max_replicas, desired))
# --8<-- [end:autoscale]


if __name__ == "__main__":
    w = Workload(qps=100, prompt_tokens=2000, output_tokens=300)
    n = gpus_needed(w, prefill_tok_s=10_000, decode_tok_s=2_500, target_util=0.7)
    kv = kv_bytes_per_token(layers=32, kv_heads=8, head_dim=128)      # Llama-3-8B shape
    print(f"GPUs at peak: {n}; KV per token {kv / 1024:.0f} KiB")
    print(f"in flight: {concurrent_requests(100, 12.5):.0f} requests; "
          f"seqs per 80 GB GPU: {seqs_per_gpu(80e9, 16e9, kv, 2300)}")
    print(f"$ per 1M tokens at peak: {cost_per_million_tokens(n, 2.5, 100 * 2300):.3f}")

    async def demo() -> None:
        async def double(xs: list[int]) -> list[int]:
            await asyncio.sleep(0.01)
            return [2 * x for x in xs]
        b: DynamicBatcher[int, int] = DynamicBatcher(double, max_batch_size=8, max_wait_s=0.02)
        worker = asyncio.create_task(b.run())
        out = await asyncio.gather(*(b.submit(i) for i in range(20)))
        worker.cancel()
        print("batch sizes:", b.batch_sizes, "outputs ok:", out == [2 * i for i in range(20)])
    asyncio.run(demo())

    tb = TokenBucket(rate=100, capacity=500)
    print("token bucket:", [tb.allow(300, t) for t in (0.0, 0.0, 1.0, 1.0)])
    print("LRU hits:", lru_hits("ABCABDABCE", capacity=3), "of 10")
    print("HPA: 4 replicas, queue 30 vs target 10 ->", hpa_desired_replicas(4, 30, 10))
