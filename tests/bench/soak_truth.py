"""Every stored second of a soak against the simulator's own 1 s klines.

Missing: a second the exchange has a bar for that the store lacks. Duplicated: a second the
store returns more than once. Wrong: a stored price outside that second's low..high (above
one event per second the feed keeps one price of the second, the first event's live or the
kline's close when backfilled, so the bar's range is what every stored price must lie in).
Extra: a stored second the exchange has no bar for. The simulator's REST weight budget is honoured
(a 429 waits its Retry-After), as the feed itself must.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from actors.store import IntervalScheme, open_store
from actors.store.base import Store

KLINES_PER_REQUEST = 1000


@dataclass
class TruthReport:
    """Totals over every symbol, and the first few offenders for the log."""

    first_second: int
    last_second: int
    symbols: int = 0
    expected: int = 0
    stored: int = 0
    missing: int = 0
    duplicated: int = 0
    wrong: int = 0
    extra: int = 0
    examples: list[str] = field(default_factory=list)

    @property
    def whole(self) -> bool:
        return self.missing == 0 and self.duplicated == 0 and self.wrong == 0

    def note(self, text: str) -> None:
        if len(self.examples) < 10:
            self.examples.append(text)


async def bars(
    http: aiohttp.ClientSession, rest_url: str, symbol: str, first: int, last: int
) -> dict[int, tuple[float, float]]:
    """Second → (low, high) of `symbol`'s 1 s klines in [first, last] (inclusive seconds)."""
    found: dict[int, tuple[float, float]] = {}
    start = first * 1000
    end = last * 1000 + 999
    while start <= end:
        params = {
            "symbol": symbol,
            "interval": "1s",
            "startTime": str(start),
            "endTime": str(end),
            "limit": str(KLINES_PER_REQUEST),
        }
        async with http.get(f"{rest_url}/api/v3/klines", params=params) as response:
            if response.status in (418, 429):
                await asyncio.sleep(float(response.headers.get("Retry-After", "5")))
                continue
            response.raise_for_status()
            rows = await response.json()
        for row in rows:
            found[int(row[0]) // 1000] = (float(row[3]), float(row[2]))
        if len(rows) < KLINES_PER_REQUEST:
            break
        start = int(rows[-1][0]) + 1000
    return found


async def first_common_second(store: Store, symbols: list[str]) -> int | None:
    """The first second from which every symbol has stored points (the latest first point)."""
    firsts = []
    for symbol in symbols:
        points = await store.points_between(symbol, 0, 2**62, limit=1)
        if not points:
            return None
        firsts.append(points[0].second)
    return max(firsts)


async def check(
    database_url: str, rest_url: str, symbols: list[str], first: int, last: int
) -> TruthReport:
    """Compare the store with the simulator over [first, last] for every symbol."""
    report = TruthReport(first, last)
    store = open_store(database_url, IntervalScheme())
    await store.open()
    try:
        async with aiohttp.ClientSession() as http:
            for symbol in symbols:
                truth = await bars(http, rest_url, symbol, first, last)
                points = await store.points_between(symbol, first * 1000, last * 1000 + 999)
                seen = Counter(point.second for point in points)
                report.symbols += 1
                report.expected += len(truth)
                report.stored += len(seen)
                missing = sorted(set(truth) - set(seen))
                extra = sorted(set(seen) - set(truth))
                duplicated = [s for s, n in seen.items() if n > 1]
                wrong = [
                    p.second
                    for p in points
                    if p.second in truth and not truth[p.second][0] <= p.price <= truth[p.second][1]
                ]
                report.missing += len(missing)
                report.extra += len(extra)
                report.duplicated += sum(seen[s] - 1 for s in duplicated)
                report.wrong += len(wrong)
                if missing:
                    report.note(f"{symbol}: {len(missing)} missing, first {missing[:5]}")
                if duplicated:
                    report.note(f"{symbol}: duplicated {sorted(duplicated)[:5]}")
                if wrong:
                    report.note(f"{symbol}: wrong price at {wrong[:5]}")
    finally:
        await store.close()
    return report


async def wait_stored(
    database_url: str, symbols: list[str], second: int, timeout: float
) -> list[str]:
    """Wait until every symbol has a stored point at or after `second`; the laggards left."""
    store = open_store(database_url, IntervalScheme())
    await store.open()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    behind = list(symbols)
    try:
        while behind and loop.time() < deadline:
            still = []
            for symbol in behind:
                point = await store.latest_point(symbol)
                if point is None or point.second < second:
                    still.append(symbol)
            behind = still
            if behind:
                await asyncio.sleep(1.0)
    finally:
        await store.close()
    return behind


async def stored_range_start(database_url: str, symbols: list[str]) -> int | None:
    store = open_store(database_url, IntervalScheme())
    await store.open()
    try:
        return await first_common_second(store, symbols)
    finally:
        await store.close()
