"""Storage benchmark: a day of 242 symbols at 1 Hz (20.9 M points) into SqliteStore.

Prints points/s written (large batches, then 5 s batches as the DbWriter flushes), bytes on
disk per stored point, and p50/p99 latency of a 4-hour range query and of a 6-interval
aggregate query; then the same write and size figures for plain rows (one row per point, the
baseline) over a shorter span, with the ratios.

    python -m tests.bench.bench_store            # the full day
    python -m tests.bench.bench_store --quick    # 2 hours, fewer queries (for development)

Points are synthetic (no network): per symbol a random walk of prices on a decimal tick, a
24 h change percent with 3 decimals, and an event-time millisecond offset that drifts slowly.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from actors.messages import PricePoint
from actors.store.intervals import IntervalScheme
from actors.store.sqlite import SqliteStore

DAY_START = 1_707_177_600  # 2024-02-06T00:00:00Z, in seconds
HOUR = 3600
T = TypeVar("T")
TARGETS = {"write": 50_000.0, "bytes": 16.0, "range_p99": 20.0, "agg_p99": 20.0}


@dataclass
class Walker:
    """One symbol's synthetic state."""

    symbol: str
    decimals: int
    ticks: int
    pct_thousandths: int
    ms: int


class Market:
    """Synthetic 1 Hz points for `count` symbols, second after second."""

    def __init__(self, count: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.walkers = [
            Walker(
                f"S{i:03d}USDT",
                decimals := self.rng.choice([2, 2, 3, 4, 4, 5, 6, 8]),
                self.rng.randint(10, 100_000) * 10 ** max(decimals - 3, 0),
                self.rng.randint(-5000, 5000),
                self.rng.randint(0, 999),
            )
            for i in range(count)
        ]
        self.steps = self.rng.choices([-2, -1, 0, 0, 0, 0, 1, 2], k=1 << 16)
        self.jitter = self.rng.choices([-3, -1, 0, 0, 0, 1, 3], k=1 << 16)
        self.cursor = 0

    def second(self, sec: int) -> list[PricePoint]:
        out = []
        steps, jitter, n = self.steps, self.jitter, len(self.steps)
        for w in self.walkers:
            self.cursor = (self.cursor + 1) % n
            w.ticks = max(1, w.ticks + steps[self.cursor])
            w.pct_thousandths += steps[(self.cursor * 7) % n]
            w.ms = min(999, max(0, w.ms + jitter[self.cursor]))
            price = w.ticks / 10**w.decimals
            out.append(PricePoint(w.symbol, sec * 1000 + w.ms, price, w.pct_thousandths / 1000))
        return out

    def batches(
        self, start_sec: int, seconds: int, batch_seconds: int
    ) -> Iterator[list[PricePoint]]:
        for first in range(start_sec, start_sec + seconds, batch_seconds):
            batch: list[PricePoint] = []
            for sec in range(first, min(first + batch_seconds, start_sec + seconds)):
                batch += self.second(sec)
            yield batch


async def write_span(
    store: SqliteStore, market: Market, start: int, seconds: int, batch: int
) -> tuple[int, float, list[float]]:
    """Write `seconds` of the market; returns (points, seconds spent in write_points, per-call ms)."""
    total, spent, calls = 0, 0.0, []
    for points in market.batches(start, seconds, batch):
        began = time.perf_counter()
        await store.write_points(points)
        took = time.perf_counter() - began
        spent += took
        calls.append(took * 1000)
        total += len(points)
    return total, spent, calls


def p99(samples: list[float]) -> float:
    return (
        statistics.quantiles(samples, n=100, method="inclusive")[98]
        if len(samples) > 1
        else samples[0]
    )


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def timed(samples: list[float], pending: Awaitable[T]) -> T:
    """Await `pending`, appending how long it took (ms) to `samples`."""
    began = time.perf_counter()
    result = await pending
    samples.append((time.perf_counter() - began) * 1000)
    return result


async def run(args: argparse.Namespace, workdir: Path) -> None:
    scheme = IntervalScheme()
    rng = random.Random(11)
    seconds = int(args.hours * HOUR)
    market = Market(args.symbols)
    path = workdir / "packed.db"
    store = SqliteStore(f"sqlite:///{path}", scheme)
    await store.open()
    rows: list[tuple[str, str, str]] = []
    try:
        print(
            f"writing {args.symbols} symbols x {seconds} s in {args.batch_seconds} s batches ...",
            flush=True,
        )
        bulk_points, bulk_time, _ = await write_span(
            store, market, DAY_START, seconds, args.batch_seconds
        )
        bulk_rate = bulk_points / bulk_time
        print("steady state: 5 s batches ...", flush=True)
        steady_points, steady_time, calls = await write_span(
            store, market, DAY_START + seconds, args.steady_seconds, 5
        )
        end_sec = DAY_START + seconds + args.steady_seconds
        await store.checkpoint()
        sealed, staged = await store.layout_counts()
        size = disk_bytes(path)
        per_point = size / (sealed + staged)

        range_ms: list[float] = []
        agg_ms: list[float] = []
        one_ms: list[float] = []
        symbols = [w.symbol for w in market.walkers]
        span_ms = (end_sec - DAY_START) * 1000
        for _ in range(args.queries):
            symbol = rng.choice(symbols)
            lo = DAY_START * 1000 + rng.randint(0, max(span_ms - 4 * HOUR * 1000, 0))
            got = await timed(range_ms, store.points_between(symbol, lo, lo + 4 * HOUR * 1000))
            assert len(got) >= min(4 * HOUR, span_ms // 1000) - 1
            aggs = await timed(agg_ms, store.recent_intervals(rng.choice(symbols), 6))
            assert aggs
            start = scheme.start_of(lo)
            await timed(one_ms, store.interval_aggregate(rng.choice(symbols), start))
        stats_ms: list[float] = []
        for _ in range(3):
            await timed(stats_ms, store.stats_24h(end_sec * 1000))
    finally:
        await store.close()

    def row(name: str, value: str, target: str = "") -> None:
        rows.append((name, value, target))

    row("points written (large batches)", f"{bulk_points:,}")
    row("write rate, large batches", f"{bulk_rate:,.0f} points/s", f">= {TARGETS['write']:,.0f}")
    row(
        "write rate, 5 s batches",
        f"{steady_points / steady_time:,.0f} points/s",
        f">= {TARGETS['write']:,.0f}",
    )
    row(
        "5 s flush latency p50 / p99 / max",
        f"{statistics.median(calls):.1f} / {p99(calls):.1f} / {max(calls):.1f} ms",
    )
    row("points stored (sealed + rows)", f"{sealed:,} + {staged:,}")
    row("bytes on disk", f"{size:,}")
    row("bytes per stored point", f"{per_point:.2f}", f"<= {TARGETS['bytes']:.0f}")
    row(
        "4 h range query p50 / p99",
        f"{statistics.median(range_ms):.2f} / {p99(range_ms):.2f} ms",
        "p99 <= 20",
    )
    row(
        "6-interval aggregate p50 / p99",
        f"{statistics.median(agg_ms):.2f} / {p99(agg_ms):.2f} ms",
        "p99 <= 20",
    )
    row("1 interval aggregate p50 / p99", f"{statistics.median(one_ms):.2f} / {p99(one_ms):.2f} ms")
    row("stats_24h (all symbols) median", f"{statistics.median(stats_ms):.1f} ms")

    if args.baseline_hours > 0:
        print("baseline: plain rows ...", flush=True)
        base_path = workdir / "plain.db"
        plain = SqliteStore(f"sqlite:///{base_path}", scheme, packed=False)
        await plain.open()
        try:
            base_seconds = int(args.baseline_hours * HOUR)
            base_points, base_time, _ = await write_span(
                plain, Market(args.symbols), DAY_START, base_seconds, args.batch_seconds
            )
            await plain.checkpoint()
        finally:
            await plain.close()
        base_per_point = disk_bytes(base_path) / base_points
        base_rate = base_points / base_time
        row("baseline (plain rows): points", f"{base_points:,}")
        row("baseline write rate, large batches", f"{base_rate:,.0f} points/s")
        row("baseline bytes per point", f"{base_per_point:.2f}")
        row("packed / baseline: bytes per point", f"{per_point / base_per_point:.2f}x")
        row("packed / baseline: write rate", f"{bulk_rate / base_rate:.2f}x")

    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print()
    print(f"{'measure'.ljust(width)}  {'value'.ljust(vwidth)}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value.ljust(vwidth)}  {target}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 hours, 50 queries, short baseline")
    parser.add_argument("--symbols", type=int, default=242)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument(
        "--batch-seconds", type=int, default=60, help="seconds of data per large batch"
    )
    parser.add_argument(
        "--steady-seconds", type=int, default=600, help="seconds written in 5 s batches"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--baseline-hours", type=float, default=1.0)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the database files go (default: a temp dir)"
    )
    args = parser.parse_args()
    if args.quick:
        args.hours, args.queries, args.baseline_hours, args.steady_seconds = 2.0, 50, 0.25, 300
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        asyncio.run(run(args, args.dir))
        return
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        asyncio.run(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
