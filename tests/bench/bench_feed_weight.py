"""REST weight the feed spends on the realistic profile: steady state and the backfill after an
outage of every connection, the downtime rule beside the old per-symbol-gap rule, in one run.

Run: `python -m tests.bench.bench_feed_weight [--quick] [--symbols 400] [--steady 30]
[--outage 60] [--runs 3]`.

Two simulators with the same seed (the same market, second by second), each with its own feed
stack (SQLite store, in-memory bus and consumer, one FeedReader, one RestGate):

- `downtime` (this feed): holes are connection downtime only, merged per symbol (one klines
  request per symbol per 1,000 missing seconds), the busy canary stream keeps quiet shards
  alive, the gate holds the feed under 50 % of the minute's 6,000 weight;
- `silence` (the old rule): every skipped stretch of a symbol's seconds is a gap fetched with
  its own klines request, no canary, the gate only paces near the exchange's limit (90 %).

Phases: warm-up; a steady window (REST weight and reconnects, scaled to a minute); then
`sim.outage(--outage)` drops every socket and refuses new ones (REST answers 503) for that
long; after the reconnect, the backfill's weight (peak over any 60 s, sampled every second),
requests, 429/418 answers and the time until nothing is left to fetch. Listing checks are
not in the windows: at `LISTING_CHECK_SECONDS=300` they add 20 x 60 / 300 = 4 weight a minute
to the steady state (shown in the steady column). Targets: steady state <= 50 weight/min;
the outage backfilled within 60 s under 3,000 weight/min; 0 reconnects from quiet pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from actors import metrics
from actors.bus.memory import MemoryBus
from actors.feed.reader import FeedReader
from actors.feed.rest_gate import EXCHANGE_INFO_WEIGHT, RestGate
from actors.feed.status import FeedStatusBoard
from actors.feed.symbols import seed_symbols
from actors.simulator.exchange import ExchangeSimulator
from actors.store import IntervalScheme, Store, open_store
from tests.helpers import store_bus_points

LISTING_PER_MINUTE = EXCHANGE_INFO_WEIGHT * 60 / 300


@dataclass
class Stack:
    """One rule's simulator and feed."""

    rule: str
    sim: ExchangeSimulator
    store: Store
    gate: RestGate
    reader: FeedReader
    stop: asyncio.Event
    consumer: asyncio.Task[None]
    samples: list[tuple[float, int]] = field(default_factory=list)

    def reconnects(self) -> float:
        return sum(
            float(metrics.FEED_RECONNECTS.labels(self.reader.name, reason)._value.get())
            for reason in ("silent", "closed", "error", "max_age", "server_shutdown")
        )

    @property
    def done(self) -> bool:
        """Reconnected, the outage handed to the backfill, and nothing left to fetch."""
        conns = self.reader.connections
        back = bool(conns) and all(c.connected and c.down_from is None for c in conns)
        return back and not self.reader.backfiller.pending and self.reader.backfiller.idle


@dataclass
class Result:
    rule: str
    steady_per_min: float
    steady_reconnects: float
    requests: int
    weight: int
    peak_per_min: int
    seconds: float
    refusals: int


async def _stack(
    rule: str, symbols: int, workdir: Path, session: aiohttp.ClientSession, run: int
) -> Stack:
    sim = ExchangeSimulator(symbols=symbols, seed=run + 1, history_seconds=900)
    await sim.start()
    store = open_store(f"sqlite:///{workdir / f'{rule}-{run}.db'}", IntervalScheme())
    await store.open()
    await seed_symbols(store, session, sim.rest_url)
    bus = MemoryBus()
    old = rule == "silence"
    gate = RestGate(budget_share=0.9 if old else 0.5)
    options: dict[str, Any] = (
        {"gap_rule": "silence", "canary": None} if old else {"gap_rule": "downtime"}
    )
    reader = FeedReader(
        f"weight-{rule}-{run}",
        (0, 1),
        sim.ws_url,
        sim.rest_url,
        bus,
        store,
        FeedStatusBoard(),
        gate,
        session,
        backoff_base=1.0,
        backoff_cap=10.0,
        max_reconnects=1000,  # a 60 s outage must not fail the reader here: no supervisor
        **options,
    )
    stop = asyncio.Event()
    consumer = asyncio.get_running_loop().create_task(store_bus_points(bus, store, stop))
    await reader.start()
    return Stack(rule, sim, store, gate, reader, stop, consumer)


async def _close(stack: Stack) -> None:
    await stack.reader.stop()
    stack.stop.set()
    await asyncio.wait_for(stack.consumer, 10)
    await stack.store.close()
    await stack.sim.stop()


async def _sample(stacks: list[Stack], stop: asyncio.Event) -> None:
    while not stop.is_set():
        now = time.monotonic()
        for stack in stacks:
            stack.samples.append((now, stack.gate.spent_total))
        await asyncio.sleep(1.0)


def _peak_per_minute(samples: list[tuple[float, int]], since: float) -> int:
    window = [(t, w) for t, w in samples if t >= since]
    peak = 0
    for index, (start, spent) in enumerate(window):
        later = [w for t, w in window[index:] if t - start <= 60.0]
        peak = max(peak, later[-1] - spent)
    return peak


async def _run(args: argparse.Namespace, run: int, workdir: Path) -> list[Result]:
    async with aiohttp.ClientSession() as session:
        stacks = [await _stack(rule, args.symbols, workdir, session, run) for rule in RULES]
        stop = asyncio.Event()
        sampler = asyncio.get_running_loop().create_task(_sample(stacks, stop))
        try:
            await asyncio.sleep(args.warm)
            steady_from = [(s.gate.spent_total, s.reconnects()) for s in stacks]
            await asyncio.sleep(args.steady)
            steady = [
                (
                    (s.gate.spent_total - spent) * 60.0 / args.steady,
                    s.reconnects() - reconnects,
                )
                for s, (spent, reconnects) in zip(stacks, steady_from, strict=True)
            ]
            before = [
                (s.gate.spent_total, s.reader.backfiller.requests, s.gate.rejections)
                for s in stacks
            ]
            for s in stacks:
                await s.sim.outage(args.outage)
            outage_end = time.monotonic() + args.outage
            await asyncio.sleep(args.outage)
            took: dict[str, float] = {}
            for _ in range(int(args.limit * 10)):  # the backfill starts once a socket is back
                for s in stacks:
                    if s.rule not in took and s.done:
                        took[s.rule] = time.monotonic() - outage_end
                if len(took) == len(stacks):
                    break
                await asyncio.sleep(0.1)
            seconds = [took.get(s.rule, float("inf")) for s in stacks]
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            await sampler
            for s in stacks:
                await _close(s)
    return [
        Result(
            s.rule,
            per_min + LISTING_PER_MINUTE,
            reconnects,
            s.reader.backfiller.requests - requests,
            s.gate.spent_total - spent,
            _peak_per_minute(s.samples, outage_end - 1.0),
            took,
            s.gate.rejections - rejected,
        )
        for s, (per_min, reconnects), (spent, requests, rejected), took in zip(
            stacks, steady, before, seconds, strict=True
        )
    ]


RULES = ("downtime", "silence")


def _table(results: list[Result]) -> None:
    print(
        f"{'rule':<10} {'steady w/min':>12} {'steady reconn':>13} {'backfill req':>12} "
        f"{'backfill w':>10} {'peak w/60s':>10} {'done in s':>9} {'429/418':>7}"
    )
    for r in results:
        print(
            f"{r.rule:<10} {r.steady_per_min:>12,.0f} {r.steady_reconnects:>13.0f} "
            f"{r.requests:>12,} {r.weight:>10,} {r.peak_per_min:>10,} {_secs(r.seconds):>9} "
            f"{r.refusals:>7}"
        )


def _secs(seconds: float) -> str:
    return "never" if seconds == float("inf") else f"{seconds:.1f}"


def _median(results: list[Result], rule: str) -> Result:
    mine = [r for r in results if r.rule == rule]
    return Result(
        rule,
        statistics.median(r.steady_per_min for r in mine),
        statistics.median(r.steady_reconnects for r in mine),
        int(statistics.median(r.requests for r in mine)),
        int(statistics.median(r.weight for r in mine)),
        int(statistics.median(r.peak_per_min for r in mine)),
        statistics.median(r.seconds for r in mine),
        int(statistics.median(r.refusals for r in mine)),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one run, 15 s windows")
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--warm", type=float, default=8.0)
    parser.add_argument("--steady", type=float, default=30.0, help="steady window, seconds")
    parser.add_argument("--outage", type=float, default=60.0, help="outage of every connection")
    parser.add_argument("--limit", type=float, default=90.0, help="longest backfill waited for")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.quick:
        args.steady, args.outage, args.runs = 15.0, 15.0, 1
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="bench-weight-") as tmp:
        for run in range(args.runs):
            print(f"-- run {run + 1} of {args.runs}")
            got = asyncio.run(_run(args, run, Path(tmp)))
            _table(got)
            results += got
    print(f"-- median of {args.runs} runs ({args.symbols} pairs, realistic profile)")
    medians = [_median(results, rule) for rule in RULES]
    _table(medians)
    new, old = medians
    ratio = old.steady_per_min / new.steady_per_min if new.steady_per_min else float("inf")
    print(
        f"steady state: {new.steady_per_min:,.0f} vs {old.steady_per_min:,.0f} weight/min "
        f"({ratio:,.0f}x less); targets: steady <= 50 weight/min: "
        f"{'yes' if new.steady_per_min <= 50 else 'no'}; outage backfilled within 60 s: "
        f"{'yes' if new.seconds <= 60 else 'no'}; under 3,000 weight/min: "
        f"{'yes' if new.peak_per_min <= 3000 else 'no'}; 0 reconnects from quiet pairs: "
        f"{'yes' if new.steady_reconnects == 0 else 'no'}"
    )


if __name__ == "__main__":
    main()
