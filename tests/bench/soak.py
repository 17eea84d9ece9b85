"""Soak (issue 13): the whole tree for M minutes under load and faults, watched for leaks.

    python -m tests.bench.soak --minutes 60                # tree mode under real supervisord
    python -m tests.bench.soak --minutes 20 --embedded     # `binance-stats run`, one process

The simulator runs 242 pairs at 20 times the seed's rate and drops every WebSocket every
minute (a feed reconnect). Tree mode also restarts its own Redis (a private redis-server with
AOF on another loopback port) every 10 minutes and kill -9s the db-writer every 7 minutes.
200 Socket.IO clients connect, subscribe (either dialect) and leave at random throughout.
Every 10 s each process's RSS, open fds, asyncio tasks, threads and SQLite heap are sampled,
with Redis memory and stream length. CACHE_WINDOW_SECONDS is shortened (10 minutes by
default) so the cache is full after warm-up: from then on memory should be flat. At the end
every stored second is checked against the simulator's klines, the CSV and PNG are written
(docs/soak-<mode>.csv/.png) and the RSS slope of each process after warm-up is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.bench.soak_clients import ChurnStats, ClientChurn
from tests.bench.soak_faults import Fault, FaultSchedule, kill_db_writer, restart_redis
from tests.bench.soak_report import CsvSink, figures, table, write_png
from tests.bench.soak_sampler import Sample, Sampler, Target
from tests.bench.soak_truth import TruthReport, check, stored_range_start, wait_stored
from tests.helpers import PrivateRedis, free_port
from tests.integration.tree_support import BIN, ROOT, Simulator, running_tree, tree_symbols


@dataclass
class Soaked:
    """What one soak gathered."""

    samples: list[Sample]
    events: list[tuple[float, str]]
    truth: TruthReport | None
    churn: ChurnStats
    behind: list[str]


@dataclass
class Plan:
    """The soak's parameters (from the command line)."""

    minutes: float
    clients: int
    rate: float
    symbols: int
    shards: int
    cache_window: int
    period: float
    warmup_s: float
    life_warmup_s: float
    out: Path
    embedded: bool
    redis_every: float = 600.0
    kill_every: float = 420.0

    @property
    def stem(self) -> Path:
        return self.out / f"soak-{self.mode}"

    @property
    def mode(self) -> str:
        return "embedded" if self.embedded else "tree"

    def env(self) -> dict[str, str]:
        return {
            "CACHE_WINDOW_SECONDS": str(self.cache_window),
            "LOG_LEVEL": "warning",
            "DB_FLUSH_SECONDS": "1",
            # every soak client comes from 127.0.0.1: the per-address limit must admit them all
            "SIO_MAX_CONNECTIONS_PER_IP": str(self.clients + 50),
        }

    def simulator_args(self) -> tuple[str, ...]:
        return ("--drop-every", "60")


async def _soak(
    plan: Plan,
    front_url: str,
    symbols: list[str],
    database_url: str,
    rest_url: str,
    sampler: Sampler,
    faults: list[Fault],
) -> Soaked:
    stop = asyncio.Event()
    churn = ClientChurn(front_url, symbols, count=plan.clients)
    schedule = FaultSchedule(faults, started=sampler.started)
    sampling = asyncio.create_task(sampler.run(stop))
    faulting = asyncio.create_task(schedule.run(stop))
    churn.start()
    deadline = sampler.started + plan.minutes * 60
    while time.monotonic() < deadline:
        await asyncio.sleep(min(60.0, max(0.0, deadline - time.monotonic())))
        _progress(sampler, churn.stats)
    end_second = int(time.time()) - 2
    stop.set()
    await churn.stop()
    await asyncio.gather(sampling, faulting)
    behind = await wait_stored(database_url, symbols, end_second, timeout=180)
    first = await stored_range_start(database_url, symbols)
    truth = None
    if first is not None:
        truth = await check(database_url, rest_url, symbols, first + 1, end_second)
    return Soaked(sampler.samples, schedule.events, truth, churn.stats, behind)


def _progress(sampler: Sampler, stats: ChurnStats) -> None:
    latest: dict[str, Sample] = {}
    for sample in sampler.samples:
        latest[sample.process] = sample
    rss = ", ".join(
        f"{name} {s.rss_mb:.0f}" for name, s in sorted(latest.items()) if s.rss_mb is not None
    )
    minutes = (time.monotonic() - sampler.started) / 60
    print(
        f"[{minutes:6.1f} min] RSS MB: {rss} | clients {stats.connected} connected, "
        f"{stats.sessions} sessions, {stats.failed_connects} failed, {stats.updates} updates",
        flush=True,
    )


# tree mode -------------------------------------------------------------------------------------
def run_tree(plan: Plan, sink: CsvSink) -> Soaked:
    with tempfile.TemporaryDirectory(prefix="bs-soak-tree-") as tmp:
        root = Path(tmp)
        (root / "redis").mkdir()
        redis = PrivateRedis(root / "redis", aof=True)
        redis.start()
        try:
            with running_tree(
                root,
                redis.url,
                shards=plan.shards,
                symbols=plan.symbols,
                rate=plan.rate,
                extra_env=plan.env(),
                simulator_args=plan.simulator_args(),
            ) as tree:
                tree.wait_running(120)
                symbols = asyncio.run(tree_symbols(tree, timeout=120))
                ports = tree.metrics_ports()

                async def targets() -> list[Target]:
                    states = await asyncio.to_thread(tree.status)
                    found = [Target("simulator", tree.simulator.proc.pid)]
                    for name, (_, pid) in states.items():
                        short = name.split(":")[-1]
                        if pid:
                            url = f"http://127.0.0.1:{ports[short]}/metrics"
                            found.append(Target(short, pid, url))
                    return found

                sampler = Sampler(
                    targets,
                    period=plan.period,
                    redis_url=redis.url,
                    redis_pid=lambda: redis.proc.pid if redis.proc else None,
                    stream_key=f"{tree.prefix}ticks",
                    on_sample=sink,
                )
                faults = [
                    Fault("redis restart", plan.redis_every, restart_redis(redis)),
                    Fault("db-writer kill -9", plan.kill_every, kill_db_writer(tree)),
                ]
                return asyncio.run(
                    _soak(
                        plan,
                        tree.front_url,
                        symbols,
                        f"sqlite:///{tree.db_path}",
                        tree.simulator.rest_url,
                        sampler,
                        faults,
                    )
                )
        finally:
            redis.kill()


# embedded mode ---------------------------------------------------------------------------------
def run_embedded(plan: Plan, sink: CsvSink) -> Soaked:
    simulator = Simulator.start(plan.symbols, plan.rate, extra_args=plan.simulator_args())
    try:
        with tempfile.TemporaryDirectory(prefix="bs-soak-embedded-") as tmp:
            port = free_port()
            database_url = f"sqlite:///{tmp}/store.db"
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("REDIS_", "DATABASE_", "BINANCE_"))
            } | {
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "DATABASE_URL": database_url,
                "BINANCE_WS_URL": simulator.ws_url,
                "BINANCE_REST_URL": simulator.rest_url,
                "FEED_SHARDS": str(plan.shards),
                "JWT_ACCESS_SECRET": "soak-" + "x" * 32,
                **plan.env(),
            }
            with Path(tmp, "run.log").open("wb") as log:
                proc = subprocess.Popen(
                    [str(BIN / "binance-stats"), "run"],
                    env=env,
                    cwd=tmp,
                    stdout=log,
                    stderr=log,
                )
                try:
                    front = f"http://127.0.0.1:{port}"
                    symbols = asyncio.run(_front_symbols(front, timeout=120))

                    async def targets() -> list[Target]:
                        return [
                            Target("embedded", proc.pid, f"{front}/metrics"),
                            Target("simulator", simulator.proc.pid),
                        ]

                    sampler = Sampler(targets, period=plan.period, on_sample=sink)
                    return asyncio.run(
                        _soak(plan, front, symbols, database_url, simulator.rest_url, sampler, [])
                    )
                finally:
                    proc.send_signal(signal.SIGTERM)
                    try:
                        proc.wait(60)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait(10)
    finally:
        simulator.stop()


async def _front_symbols(front: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(f"{front}/api/v1/symbols") as response:
                    body = await response.json()
                symbols = [item["symbol"] for item in body.get("data") or []]
                if symbols:
                    return sorted(symbols)
            except (aiohttp.ClientError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the embedded front listed no symbols")
            await asyncio.sleep(0.5)


# report ----------------------------------------------------------------------------------------
def report(plan: Plan, soaked: Soaked) -> None:
    stem = plan.stem
    title = (
        f"{plan.mode} soak: {plan.minutes:g} min, {plan.symbols} pairs at {plan.rate:g}x, "
        f"{plan.clients} churning Socket.IO clients, CACHE_WINDOW_SECONDS={plan.cache_window}"
    )
    write_png(
        soaked.samples,
        stem.with_suffix(".png"),
        title=title,
        warmup_s=plan.warmup_s,
        events=soaked.events,
    )
    rows = figures(soaked.samples, plan.warmup_s, plan.life_warmup_s)
    print(f"\n{title}")
    print(
        f"after warm-up ({plan.warmup_s / 60:g} min; each restarted life's first "
        f"{plan.life_warmup_s:g} s left out):"
    )
    print(table(rows))
    print("\nbounded structures at the end (what memory legitimately holds):")
    for line in bounded(plan, soaked.samples):
        print("  " + line)
    faults: dict[str, int] = {}
    for _, what in soaked.events:
        key = what.split(" pid")[0].split(" down")[0]
        faults[key] = faults.get(key, 0) + 1
    print(
        f"\nfaults: {faults or 'none'}; feed reconnects: one a minute (simulator --drop-every 60)"
    )
    c = soaked.churn
    print(
        f"Socket.IO: {c.sessions} sessions, {c.failed_connects} failed connects, "
        f"{c.updates} price_updates received, {c.errors} errors"
    )
    truth = soaked.truth
    if soaked.behind:
        print(f"NOT CAUGHT UP at the end: {len(soaked.behind)} symbols, e.g. {soaked.behind[:5]}")
    if truth is None:
        print("stored seconds: nothing stored")
    else:
        print(
            f"stored seconds {truth.first_second}..{truth.last_second} of {truth.symbols} symbols: "
            f"expected {truth.expected}, stored {truth.stored}, missing {truth.missing}, "
            f"duplicated {truth.duplicated}, wrong {truth.wrong}, extra {truth.extra}"
        )
        for example in truth.examples:
            print("  " + example)
    print(f"\nwrote {stem.with_suffix('.csv')} and {stem.with_suffix('.png')}")


def bounded(plan: Plan, samples: list[Sample]) -> list[str]:
    latest: dict[str, Sample] = {}
    for sample in samples:
        latest[sample.process] = sample
    lines = []
    window_points = plan.symbols * plan.cache_window
    for name, s in sorted(latest.items()):
        parts = []
        if s.sqlite_mb is not None:
            parts.append(f"SQLite heap {s.sqlite_mb:.1f} MB (page caches, bounded by cache_size)")
        if s.cache_points:
            parts.append(
                f"cache window {s.cache_points:,.0f} points (~{s.cache_points * 25 / 1e6:.1f} MB; "
                f"full at {window_points:,})"
            )
        if s.db_buffered is not None and s.db_buffered:
            parts.append(f"DbWriter buffer {s.db_buffered:,.0f} points")
        if s.redis_used_mb is not None:
            parts.append(
                f"used_memory {s.redis_used_mb:.1f} MB (cache window of {window_points:,} points "
                f"and the bus stream, {s.stream_len or 0:,} entries)"
            )
        if name == "simulator":
            parts.append("the test's exchange: 1 s bars of every symbol, kept 6 h (~45 MB/h)")
        if s.sio_clients is not None and name in ("front", "embedded"):
            parts.append(f"{s.sio_clients:.0f} Socket.IO clients connected")
        if parts:
            lines.append(f"{name}: " + "; ".join(parts))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--embedded", action="store_true", help="embedded mode, one process")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="times the seed's 1 event/s")
    parser.add_argument("--symbols", type=int, default=242)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--cache-window", type=int, default=600, help="CACHE_WINDOW_SECONDS")
    parser.add_argument("--period", type=float, default=10.0, help="sampling period, s")
    parser.add_argument(
        "--warmup", type=float, help="minutes left out of the slopes (default 20)"
    )
    parser.add_argument("--life-warmup", type=float, default=120.0, help="s, restarted lives")
    parser.add_argument("--redis-every", type=float, default=600.0, help="s between restarts")
    parser.add_argument("--kill-every", type=float, default=420.0, help="s between db-writer kills")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args(argv)
    # the clients' libraries log every churned session ("packet queue is empty, aborting")
    for name in ("engineio.client", "socketio.client"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # Two windows fill before memory may be flat: the cache's, and the store's unsealed rows
    # (up to 15 min buckets plus 2 min grace of every symbol before the first seal frees pages).
    warmup = args.warmup if args.warmup is not None else max(args.cache_window / 60, 17) + 3
    plan = Plan(
        args.minutes,
        args.clients,
        args.rate,
        args.symbols,
        args.shards,
        args.cache_window,
        args.period,
        min(warmup, args.minutes / 2) * 60,
        args.life_warmup,
        args.out,
        args.embedded,
        args.redis_every,
        args.kill_every,
    )
    # a TERM unwinds like Ctrl-C, so the tree, the simulator and Redis are torn down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sink = CsvSink(plan.stem.with_suffix(".csv"))
    try:
        soaked = (run_embedded if plan.embedded else run_tree)(plan, sink)
    finally:
        sink.close()
    report(plan, soaked)


if __name__ == "__main__":
    main()
