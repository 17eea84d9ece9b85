"""The bus's publish cost, live first: what a stalled group and the trimming cost the feed.

Run: `python -m tests.bench.bench_bus [--quick] [--redis URL]`.
Rows, each the median of 3 interleaved runs of publishing points one per batch (as the feed
does, one read at a time), in CPU seconds of this process for MemoryBus and wall seconds (Redis
included) for RedisBus: MemoryBus with two groups that keep up (the baseline) against the same with one
group stalled past its bound (dropping oldest-first, ranging the loss); RedisBus without
trimming (the baseline: what XADD alone costs) against trimming by acknowledgements every
second, and against a stalled group past a small bound (MEMORY USAGE, XRANGE, the loss
record). Keys go under a fresh prefix and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from actors.bus.memory import MemoryBus
from actors.bus.redis import RedisBus
from actors.messages import PricePoint

T0 = 1_700_000_000_000
SYMBOLS = [f"S{i:03d}USDT" for i in range(242)]


def point(n: int) -> PricePoint:
    return PricePoint(SYMBOLS[n % len(SYMBOLS)], T0 + (n // len(SYMBOLS)) * 1000, 1.0 + n % 97)


async def rate(
    publishes: int, run: Callable[[int], Awaitable[None]], clock: Callable[[], float]
) -> float:
    """Publishes per second of `clock` (CPU for the in-process bus, wall time with Redis)."""
    started = clock()
    for n in range(publishes):
        await run(n)
    return publishes / (clock() - started)


async def memory_row(publishes: int, stalled: bool) -> float:
    bus = MemoryBus(max_mb=1.0)
    groups = [await bus.group("cache-writer", "c"), await bus.group("db-writer", "d")]
    readers = groups[:1] if stalled else groups

    async def run(n: int) -> None:
        await bus.publish([point(n)])
        for group in readers:
            batch = await group.read(0)
            if batch is not None:
                await group.ack(batch)

    return await rate(publishes, run, time.process_time)


async def redis_row(url: str, publishes: int, mode: str) -> float:
    client = aioredis.Redis.from_url(url)
    prefix = f"bench:bus:{uuid.uuid4().hex[:8]}:"
    trim_every = 1e9 if mode == "no trim" else 1.0
    max_mb = 0.5 if mode == "stalled group past 0.5 MB" else 128.0
    bus = RedisBus(client, prefix, trim_every=trim_every, max_mb=max_mb, max_behind=5.0)
    reader = await bus.group("cache-writer", "c")
    if mode == "stalled group past 0.5 MB":
        await bus.group("db-writer", "d")
    try:

        async def run(n: int) -> None:
            await bus.publish([point(n)])
            if n % 50 == 49:  # a writer acks in batches
                while (batch := await reader.read(0)) is not None:
                    await reader.ack(batch)

        return await rate(publishes, run, time.perf_counter)
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer publishes per run")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    memory_n, redis_n = (20_000, 3_000) if args.quick else (100_000, 15_000)
    modes = ("no trim", "trim by acks every second", "stalled group past 0.5 MB")
    memory: dict[bool, list[float]] = {False: [], True: []}
    redis: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(3):  # interleaved, so a busy moment of the machine hits every row alike
        for stalled in (False, True):
            memory[stalled].append(await memory_row(memory_n, stalled))
        for mode in modes:
            redis[mode].append(await redis_row(args.redis, redis_n, mode))
    base = statistics.median(memory[False])
    redis_base = statistics.median(redis["no trim"])
    rows = [
        ("MemoryBus, both groups reading", base, 1.0),
        ("MemoryBus, db-writer stalled past 1 MB", statistics.median(memory[True]), 0.0),
        ("RedisBus, XADD only (no trim)", redis_base, 1.0),
        *((f"RedisBus, {m}", statistics.median(redis[m]), 0.0) for m in modes[1:]),
    ]
    rows = [
        (name, value, value / (base if name.startswith("Memory") else redis_base))
        for name, value, _ in rows
    ]
    print(
        "| bus | publishes/s (1 point each, median of 3; CPU s in memory, wall s with Redis) | vs baseline |"
    )
    print("|---|---|---|")
    for name, value, ratio in rows:
        print(f"| {name} | {value:,.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    asyncio.run(main())
