"""Price cache writes: what one second of the feed (242 symbols) costs in Redis and in memory.

Run: `python -m tests.bench.bench_cache [--quick] [--symbols N] [--redis URL]`.
Rows: the baseline is one pipeline of plain SETs, one per symbol (the least a round trip for
every symbol can cost); `RedisCache.put_points` does the latest-price script, the per-second
sorted-set write, the 4-hour trim and the TTLs in that one round trip. The replay row is one
write of a held buffer after an outage. Memory rows compare MemoryCache's typed arrays with a
list of PricePoint objects holding the same hour of points. Keys go under a fresh prefix and
are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis

from actors.cache.memory import MemoryCache
from actors.cache.redis import RedisCache
from actors.messages import PricePoint

T0 = 1_700_000_000_000


def second_of_feed(symbols: list[str], second: int) -> list[PricePoint]:
    return [
        PricePoint(s, T0 + second * 1000 + 5, 100.0 + i + second % 7, 0.5)
        for i, s in enumerate(symbols)
    ]


async def timed(
    batches: int, write: Callable[[int], Awaitable[object]]
) -> tuple[float, float, float]:
    """(median ms, max ms, total s) of `batches` sequential writes."""
    samples = []
    started = time.perf_counter()
    for second in range(batches):
        t = time.perf_counter()
        await write(second)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000, max(samples) * 1000, time.perf_counter() - started


def row(name: str, median_ms: float, max_ms: float, points_per_s: float, ratio: float) -> None:
    print(f"{name:<34} {median_ms:>9.2f} {max_ms:>9.2f} {points_per_s:>12,.0f} {ratio:>7.2f}x")


async def bench_redis(url: str, symbols: list[str], batches: int, replay: int) -> None:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    client = aioredis.Redis.from_url(url)
    cache = RedisCache.from_url(url, prefix)
    try:

        async def plain_sets(second: int) -> None:
            pipe = client.pipeline(transaction=False)
            for point in second_of_feed(symbols, second):
                pipe.set(f"{prefix}plain:{point.symbol}", point.price)
            await pipe.execute()

        async def put(second: int) -> None:
            await cache.put_points(second_of_feed(symbols, second))

        n = len(symbols)
        base = await timed(batches, plain_sets)
        full = await timed(batches, put)
        print(
            f"{'redis (per 1 s batch)':<34} {'p50 ms':>9} {'max ms':>9} {'points/s':>12} {'ratio':>8}"
        )
        row("baseline: pipelined SET per symbol", base[0], base[1], n * batches / base[2], 1.0)
        row("RedisCache.put_points", full[0], full[1], n * batches / full[2], full[0] / base[0])
        held = [
            p for s in range(batches, batches + replay // n) for p in second_of_feed(symbols, s)
        ]
        started = time.perf_counter()
        await cache.put_points(held)
        took = time.perf_counter() - started
        row(
            f"replay of {len(held):,} held points",
            took * 1000,
            took * 1000,
            len(held) / took,
            took * 1000 / base[0],
        )
    finally:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        await cache.close()
        await client.aclose()


async def bench_memory(symbols: list[str], seconds: int) -> None:
    cache = MemoryCache()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    started = time.perf_counter()
    for second in range(seconds):
        await cache.put_points(second_of_feed(symbols, second))
    took = time.perf_counter() - started
    used = _grown(before)
    baseline: dict[str, list[PricePoint]] = {s: [] for s in symbols}
    before = tracemalloc.take_snapshot()
    for second in range(seconds):
        for point in second_of_feed(symbols, second):
            baseline[point.symbol].append(point)
    plain = _grown(before)
    tracemalloc.stop()
    points = len(symbols) * seconds
    print(f"\n{'memory':<34} {'bytes/pt':>9} {'MB':>9} {'points/s':>12} {'ratio':>8}")
    print(
        f"{'baseline: list of PricePoint':<34} {plain / points:>9.1f} {plain / 1e6:>9.1f} {'':>12} {1.0:>7.2f}x"
    )
    print(
        f"{'MemoryCache (typed arrays)':<34} {used / points:>9.1f} {used / 1e6:>9.1f} "
        f"{points / took:>12,.0f} {used / plain:>7.2f}x"
    )
    del baseline


def _grown(before: tracemalloc.Snapshot) -> int:
    after = tracemalloc.take_snapshot()
    return sum(stat.size_diff for stat in after.compare_to(before, "filename"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer batches (a few seconds)")
    parser.add_argument("--symbols", type=int, default=242)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    symbols = [f"S{i:03d}USDT" for i in range(args.symbols)]
    batches = 200 if args.quick else 1200
    await bench_redis(args.redis, symbols, batches, 20_000 if args.quick else 100_000)
    await bench_memory(symbols, 600 if args.quick else 3600)


if __name__ == "__main__":
    asyncio.run(main())
