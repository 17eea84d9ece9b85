"""End-to-end lag (issue 6): exchange event time → delivered to a Socket.IO client, and →
committed in the store, in tree mode (supervisord, Redis bus) and embedded mode side by side,
at the seed's load (242 symbols, one event per symbol per second) and at 50 times it.

    python -m tests.bench.bench_e2e             # 242 symbols, loads 1x and 50x, 15 s phases
    python -m tests.bench.bench_e2e --quick     # 6 s phases
    python -m tests.bench.bench_e2e --before DIR   # also run an earlier revision, side by side

With `--before DIR` (a source tree of an earlier revision, e.g. `git archive REV | tar -x -C
DIR`), every phase runs first with that tree's code (PYTHONPATH, inherited by the simulator and
the programs) and then with this one, and the table shows the earlier delivered p50/p99 beside.

Delivered: one websocket client subscribed to every symbol (documented dialect) measures
`receive time - timestamp` of each price_update: python-socketio's client (its handler's
time, so a burst of updates queues behind its own per-event work), and beside it ("wire") a
raw websocket client that takes the time once per TCP read, before parsing (the fan-out
benchmark's client), i.e. when the server's bytes arrived. Stored: the DbWriter's own histogram
`bs_db_lag_seconds` (exchange event time → batch committed), read from the program's metrics
before and after the phase. DB_FLUSH_SECONDS is the seed's 5 s unless --flush says otherwise,
so the stored lag is mostly the batching interval.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import socketio
from prometheus_client.parser import text_string_to_metric_families

from tests.bench.fanout_support import ClientPlan, Counter, RawClient
from tests.helpers import free_port
from tests.integration.tree_support import BIN, Simulator, running_tree

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# the measuring client subscribes to every symbol at once: above the per-socket request rate
FRONT_ENV = {"SIO_REQUESTS_PER_SECOND": "1000"}


@dataclass
class Row:
    mode: str
    load: int
    frames_per_s: float
    delivered: list[float]
    wire: list[float]  # ms
    stored: dict[float, float]  # le → cumulative count during the phase
    stored_sum: float

    def stored_quantile(self, q: float) -> float:
        """Prometheus' histogram_quantile over the phase's bucket deltas."""
        buckets = sorted(self.stored.items())
        total = buckets[-1][1] if buckets else 0.0
        if total <= 0:
            return math.nan
        rank, lower, below = q * total, 0.0, 0.0
        for upper, count in buckets:
            if count >= rank:
                if math.isinf(upper):
                    return lower
                return lower + (upper - lower) * (rank - below) / max(count - below, 1e-9)
            lower, below = upper, count
        return lower

    def cells(self) -> list[str]:
        d = sorted(self.delivered)
        count = self.stored.get(math.inf, 0.0)

        def pct(values: list[float], q: float) -> str:
            return (
                f"{values[min(len(values) - 1, int(q * len(values)))] * 1000:.0f}"
                if values
                else "-"
            )

        mean = f"{self.stored_sum / count * 1000:.0f}" if count else "-"
        w = sorted(x / 1000 for x in self.wire)
        return [
            self.mode,
            f"{self.load}x",
            f"{self.frames_per_s:,.0f}",
            str(len(d)),
            pct(d, 0.5),
            pct(d, 0.99),
            f"{d[-1] * 1000:.0f}" if d else "-",
            pct(w, 0.5),
            pct(w, 0.99),
            f"{count:,.0f}",
            f"{self.stored_quantile(0.5) * 1000:.0f}",
            f"{self.stored_quantile(0.99) * 1000:.0f}",
            mean,
        ]


async def lag_histogram(url: str) -> tuple[dict[float, float], float]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        text = await response.text()
    buckets: dict[float, float] = {}
    total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "bs_db_lag_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets[float(sample.labels["le"])] = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return buckets, total


async def frames_sent(metrics_urls: list[str]) -> float:
    total = 0.0
    async with aiohttp.ClientSession() as http:
        for url in metrics_urls:
            async with http.get(url) as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                if family.name == "bs_feed_messages":
                    total += sum(s.value for s in family.samples if s.name.endswith("_total"))
    return total


async def measure(
    mode: str, load: int, front: str, db_metrics: str, feed_metrics: list[str], seconds: float
) -> Row:
    """Warm up until prices flow, then record one phase."""
    client = socketio.AsyncClient(reconnection=False)
    lags: list[float] = []
    recording = False

    async def on_price(data: dict[str, object]) -> None:
        if recording and isinstance(data.get("timestamp"), int):
            lags.append(time.time() - int(data["timestamp"]) / 1000)  # type: ignore[call-overload]

    client.on("price_update", on_price)
    deadline = time.monotonic() + 90
    while True:
        try:
            await client.connect(front, transports=["websocket"], wait_timeout=10)
            break
        except socketio.exceptions.ConnectionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
    async with aiohttp.ClientSession() as http:
        while True:  # the symbols are seeded by the feed on a fresh store
            async with http.get(f"{front}/api/v1/symbols") as response:
                body = await response.json()
            symbols = [item["symbol"] for item in body.get("data") or []]
            if symbols or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    for symbol in symbols:
        await client.emit("subscribe", {"symbol": symbol})
    wire = Counter()  # phase 1 records
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    host, port = front.removeprefix("http://").split(":")
    plan = ClientPlan("hub", "room", front, 1, 0, len(symbols))
    raw, _ = await loop.create_connection(
        lambda: RawClient(plan, symbols, wire, ready), host, int(port)
    )
    await asyncio.wait_for(ready, 60)
    while (await lag_histogram(db_metrics))[0].get(math.inf, 0) == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{mode}: nothing stored after warm-up")
        await asyncio.sleep(0.5)
    await asyncio.sleep(6)  # past the first batches and subscriptions
    before, sum_before = await lag_histogram(db_metrics)
    frames_before = await frames_sent(feed_metrics)
    recording, wire.phase = True, 1
    started = time.monotonic()
    await asyncio.sleep(seconds)
    recording, wire.phase = False, 0
    elapsed = time.monotonic() - started
    after, sum_after = await lag_histogram(db_metrics)
    frames = (await frames_sent(feed_metrics) - frames_before) / elapsed
    await client.disconnect()
    raw.close()
    deltas = {le: after[le] - before.get(le, 0.0) for le in after}
    return Row(mode, load, frames, lags, wire.latencies, deltas, sum_after - sum_before)


@contextlib.contextmanager
def embedded(simulator: Simulator, flush: str) -> Iterator[tuple[str, str]]:
    """`binance-stats run` against the simulator: in-memory bus and cache, SQLite."""
    with tempfile.TemporaryDirectory(prefix="bs-bench-e2e-") as tmp:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "DATABASE_"))} | {
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite:///{tmp}/store.db",
            "BINANCE_WS_URL": simulator.ws_url,
            "BINANCE_REST_URL": simulator.rest_url,
            "DB_FLUSH_SECONDS": flush,
            "FEED_SHARDS": "2",
            "LOG_LEVEL": "warning",
            "JWT_ACCESS_SECRET": "bench-" + "x" * 32,
            **FRONT_ENV,
        }
        log = Path(tmp, "run.log").open("wb")
        proc = subprocess.Popen(["binance-stats", "run"], env=env, cwd=tmp, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            yield url, f"{url}/metrics"
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            log.close()


@contextlib.contextmanager
def code_from(source: str | None) -> Iterator[None]:
    """Child processes started inside import `actors` from `source` (None: this tree)."""
    if source is None:
        yield
        return
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(Path(source).resolve())
    try:
        yield
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old


def phase(
    mode: str, load: int, symbols: int, seconds: float, flush: str, earlier: bool = False
) -> Row:
    """One mode at one load; `earlier`: an earlier revision's code (its simulator may not take
    `--activity`; its default then is every symbol trading every second, as asked here)."""
    activity = None if earlier else "uniform"
    if mode == "embedded":
        simulator = Simulator.start(symbols, rate=float(load), activity=activity)
        try:
            with embedded(simulator, flush) as (front, metrics_url):
                return asyncio.run(measure(mode, load, front, metrics_url, [metrics_url], seconds))
        finally:
            simulator.stop()
    with (
        tempfile.TemporaryDirectory(prefix="bs-bench-tree-") as tmp,
        running_tree(
            Path(tmp),
            REDIS_URL,
            shards=2,
            symbols=symbols,
            rate=float(load),
            extra_env={"DB_FLUSH_SECONDS": flush, "LOG_LEVEL": "warning", **FRONT_ENV},
            activity=activity,
        ) as tree,
    ):
        tree.wait_running(90)
        ports = tree.metrics_ports()
        feeds = [f"http://127.0.0.1:{p}/metrics" for n, p in ports.items() if n.startswith("feed")]
        db = f"http://127.0.0.1:{ports['db-writer']}/metrics"
        return asyncio.run(measure(mode, load, tree.front_url, db, feeds, seconds))


def print_table(rows: list[Row], before: dict[tuple[str, int], Row]) -> None:
    head = [
        "mode",
        "load",
        "frames/s",
        "delivered",
        "p50 ms",
        "p99 ms",
        "max ms",
        "wire p50",
        "wire p99",
        *(["before p50/p99", "before wire"] if before else []),
        "stored",
        "p50 ms",
        "p99 ms",
        "mean ms",
    ]
    table = [head]
    for row in rows:
        cells = row.cells()
        if before:
            old = before.get((row.mode, row.load))
            old_cells = (
                [f"{old.cells()[4]}/{old.cells()[5]}", f"{old.cells()[7]}/{old.cells()[8]}"]
                if old
                else ["-", "-"]
            )
            cells = cells[:9] + old_cells + cells[9:]
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    print(
        "\nend-to-end lag from exchange event time (delivered: Socket.IO client; stored: committed)"
    )
    for line in table:
        print("  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True)))
    by = {(r.mode, r.load): r for r in rows}
    for load in sorted({r.load for r in rows}):
        tree, emb = by.get(("tree", load)), by.get(("embedded", load))
        if tree and emb and tree.delivered and emb.delivered:
            ratio = statistics.median(tree.delivered) / max(statistics.median(emb.delivered), 1e-9)
            print(
                f"{load}x: tree/embedded delivered p50 ratio {ratio:.2f}, stored p50 "
                f"{tree.stored_quantile(0.5) * 1000:.0f} vs {emb.stored_quantile(0.5) * 1000:.0f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="6 s phases")
    parser.add_argument("--seconds", type=float, help="phase length (default 15, 6 with --quick)")
    parser.add_argument("--symbols", type=int, default=242)
    parser.add_argument(
        "--loads", type=int, nargs="*", default=[1, 50], help="multiples of 1 event/s/symbol"
    )
    parser.add_argument("--flush", default="5", help="DB_FLUSH_SECONDS (default the seed's 5)")
    parser.add_argument("--before", help="source tree of an earlier revision to run beside")
    args = parser.parse_args()
    seconds = args.seconds or (6.0 if args.quick else 15.0)
    rows = []
    before: dict[tuple[str, int], Row] = {}
    for load in args.loads:
        for mode in ("tree", "embedded"):
            if args.before:
                with code_from(args.before):
                    old = phase(mode, load, args.symbols, seconds, args.flush, earlier=True)
                before[(mode, load)] = old
                print("before", " ".join(old.cells()), file=sys.stderr, flush=True)
            rows.append(phase(mode, load, args.symbols, seconds, args.flush))
            print(" ".join(rows[-1].cells()), file=sys.stderr, flush=True)
    print_table(rows, before)


if __name__ == "__main__":
    main()
