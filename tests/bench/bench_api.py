"""REST latency over real HTTP on SQLite: /price-data/stats/24h with every symbol, and the hot reads.

Run: `python -m tests.bench.bench_api [--quick] [--symbols N]`. Stores one point a minute per
symbol for the last 24 hours (every 5 minutes with --quick), serves the real app on loopback and
times sequential requests. The baseline row is /healthz (the cost of HTTP itself); ratios are
against it. With one query for every symbol, stats/24h grows with the points, not with
one round trip per symbol.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from actors.cache.memory import MemoryCache
from actors.cache.reader import PriceReader
from actors.feed.status import FeedStatusBoard
from actors.front.app import FrontDeps, build_app
from actors.messages import NewSymbol, PricePoint
from actors.store import IntervalScheme, open_store
from tests.helpers import make_settings

MINUTE_MS = 60_000


async def _fill(store_url: str, symbols: list[str], step_ms: int, now_ms: int) -> None:
    store = open_store(store_url, IntervalScheme())
    await store.open()
    try:
        await store.create_symbols([NewSymbol(s, s[:-4], "USDT") for s in symbols])
        for start in range(now_ms - 24 * 3_600_000 + step_ms, now_ms + 1, 3_600_000):
            stamps = range(start, min(start + 3_600_000, now_ms + 1), step_ms)
            batch = [
                PricePoint(s, ts, 100.0 + i + (ts // step_ms) % 17)
                for i, s in enumerate(symbols)
                for ts in stamps
            ]
            await store.write_points(batch)
    finally:
        await store.close()


async def _time(session: aiohttp.ClientSession, url: str, repeat: int) -> tuple[float, float, int]:
    samples = []
    size = 0
    for _ in range(repeat):
        started = time.perf_counter()
        async with session.get(url) as response:
            body = await response.read()
            assert response.status == 200, (url, response.status, body[:200])
            size = len(body)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, max(samples) * 1000, size


async def main(symbol_count: int, quick: bool) -> None:
    now_ms = int(time.time() * 1000) // 1000 * 1000
    step = 5 * MINUTE_MS if quick else MINUTE_MS
    symbols = [f"S{i:03d}USDT" for i in range(symbol_count)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        began = time.perf_counter()
        await _fill(url, symbols, step, now_ms)
        points = symbol_count * (24 * 3_600_000 // step)
        print(
            f"stored {points} points for {symbol_count} symbols in {time.perf_counter() - began:.1f} s"
        )
        settings = make_settings(DATABASE_URL=url)
        scheme = IntervalScheme()
        store = open_store(url, scheme)
        await store.open()
        cache = MemoryCache()
        deps = FrontDeps(
            settings, store, PriceReader(cache, store, scheme), FeedStatusBoard(), cache
        )
        runner = web.AppRunner(build_app(settings, deps), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        repeat = 5 if quick else 20
        rows = [
            ("/healthz (baseline)", "/healthz"),
            ("stats/24h all (max: cold)", "/api/v1/price-data/stats/24h"),
            ("symbols/list", "/api/v1/symbols/list"),
            ("one symbol, latest", f"/api/v1/price-data/{symbols[0]}/latest"),
            ("one symbol, last hour", f"/api/v1/price-data/{symbols[0]}"),
            ("one symbol, 6 intervals", f"/api/v1/price-data/{symbols[0]}/intervals"),
        ]
        try:
            async with aiohttp.ClientSession() as session:
                results = [
                    (label, *await _time(session, base + path, repeat)) for label, path in rows
                ]
        finally:
            await runner.cleanup()
            await store.close()
    baseline = results[0][1]
    print(f"{'request':28} {'median ms':>10} {'max ms':>9} {'bytes':>9} {'x baseline':>11}")
    for label, median, worst, size in results:
        print(f"{label:28} {median:10.2f} {worst:9.2f} {size:9d} {median / baseline:11.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--symbols", type=int, default=400)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.symbols, args.quick))
