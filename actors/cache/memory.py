"""MemoryCache: the embedded-mode PriceCache, in this process's memory.

Same rules as RedisCache: latest price per symbol (1 h TTL), the last 4 hours per symbol
(unique per second, trimmed on write, dropped after 4 h without a write), aggregates
(24 h TTL), and the series floor (see actors/cache/base.py). The 4-hour series is kept in
parallel typed arrays (about 25 bytes a point rather than a Python object each), because 400
symbols at 1 Hz is close to six million points.
"""

from __future__ import annotations

import math
import time
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

from actors import metrics
from actors.cache.base import AGGREGATE_TTL_SECONDS, LATEST_TTL_SECONDS, SERIES_WINDOW_MS
from actors.messages import IntervalAggregate, PricePoint

# Trim the head of a series in chunks: deleting one element per write from the front of an
# array moves the whole array each time.
TRIM_SLACK = 256
SWEEP_SECONDS = 60.0


class _Series:
    """One symbol's points sorted by ts, one per second; `pct` NaN stands for None."""

    __slots__ = ("backfill", "expires", "pct", "price", "ts", "window_ms")

    def __init__(self, window_ms: int) -> None:
        self.window_ms = window_ms
        self.ts = array("q")
        self.price = array("d")
        self.pct = array("d")
        self.backfill = bytearray()
        self.expires = 0.0

    def put(self, point: PricePoint) -> None:
        """Insert in ts order; a point of a second already held is replaced (later write wins)."""
        second = point.second
        pct = math.nan if point.pct is None else point.pct
        n = len(self.ts)
        if n == 0 or self.ts[-1] // 1000 < second:
            index = n
        else:
            index = bisect_left(self.ts, second * 1000)
            if index < n and self.ts[index] // 1000 == second:
                self.ts[index], self.price[index], self.pct[index] = point.ts, point.price, pct
                self.backfill[index] = point.backfill
                return
        self.ts.insert(index, point.ts)
        self.price.insert(index, point.price)
        self.pct.insert(index, pct)
        self.backfill.insert(index, point.backfill)

    def trim(self) -> None:
        """Forget points more than the window older than the newest (in chunks of TRIM_SLACK)."""
        if not self.ts:
            return
        cut = bisect_left(self.ts, self.ts[-1] - self.window_ms)
        if cut >= TRIM_SLACK or cut * 2 > len(self.ts):
            del self.ts[:cut], self.price[:cut], self.pct[:cut], self.backfill[:cut]

    def between(self, symbol: str, start_ms: int, end_ms: int) -> list[PricePoint]:
        """Points in [start_ms, end_ms]; [] when start_ms reaches below what the trim keeps."""
        if not self.ts or start_ms < self.ts[-1] - self.window_ms:
            return []
        lo = bisect_left(self.ts, start_ms)
        hi = bisect_right(self.ts, end_ms)
        return [
            PricePoint(
                symbol,
                self.ts[i],
                self.price[i],
                None if math.isnan(self.pct[i]) else self.pct[i],
                bool(self.backfill[i]),
            )
            for i in range(lo, hi)
        ]


class MemoryCache:
    """The in-process PriceCache; `clock` (monotonic seconds) drives the TTLs."""

    kind = "memory"

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, window_ms: int = SERIES_WINDOW_MS
    ) -> None:
        self.clock = clock
        self.window_ms = window_ms
        self._latest: dict[str, tuple[PricePoint, float]] = {}
        self._series: dict[str, _Series] = {}
        self._aggregates: dict[tuple[str, int], tuple[IntervalAggregate, float]] = {}
        self._floor: int | None = None
        self._floor_expires = 0.0
        self._next_sweep = 0.0

    async def put_points(self, points: Sequence[PricePoint]) -> None:
        if not points:
            return
        now = self.clock()
        self._sweep(now)
        if self._floor is None or self._floor_expires <= now:
            self._floor = min(point.ts for point in points)
        self._floor_expires = now + self.window_ms / 1000
        expires = now + self.window_ms / 1000
        touched: set[str] = set()
        for point in points:
            held = self._latest.get(point.symbol)
            if held is None or held[1] <= now or held[0].second <= point.second:
                self._latest[point.symbol] = (point, now + LATEST_TTL_SECONDS)
            series = self._series.get(point.symbol)
            if series is None or series.expires <= now:
                series = self._series[point.symbol] = _Series(self.window_ms)
            series.expires = expires
            series.put(point)
            touched.add(point.symbol)
        for symbol in touched:
            self._series[symbol].trim()

    async def put_aggregates(self, aggregates: Sequence[IntervalAggregate]) -> None:
        expires = self.clock() + AGGREGATE_TTL_SECONDS
        for aggregate in aggregates:
            key = (aggregate.symbol, aggregate.interval_start_time)
            self._aggregates[key] = (aggregate, expires)

    async def mark_gap(self, until_ms: int) -> None:
        if self._floor is None or self._floor < until_ms:
            self._floor = until_ms
            self._floor_expires = self.clock() + self.window_ms / 1000

    async def latest(self, symbols: Sequence[str]) -> dict[str, PricePoint]:
        now = self.clock()
        found: dict[str, PricePoint] = {}
        for symbol in symbols:
            held = self._latest.get(symbol)
            if held is not None and held[1] > now:
                found[symbol] = held[0]
        return found

    async def series(self, symbol: str, start_ms: int, end_ms: int) -> list[PricePoint]:
        now = self.clock()
        if self._floor is None or self._floor_expires <= now or start_ms < self._floor:
            return []
        series = self._series.get(symbol)
        if series is None or series.expires <= now:
            return []
        return series.between(symbol, start_ms, end_ms)

    async def aggregate(self, symbol: str, interval_start_ms: int) -> IntervalAggregate | None:
        held = self._aggregates.get((symbol, interval_start_ms))
        if held is None or held[1] <= self.clock():
            return None
        return held[0]

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    def _sweep(self, now: float) -> None:
        """Drop expired entries now and then, so symbols that stopped trading do not linger."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_SECONDS
        for symbol in [s for s, (_, expires) in self._latest.items() if expires <= now]:
            del self._latest[symbol]
        for symbol in [s for s, series in self._series.items() if series.expires <= now]:
            del self._series[symbol]
        for key in [k for k, (_, expires) in self._aggregates.items() if expires <= now]:
            del self._aggregates[key]
        metrics.CACHE_SERIES_POINTS.set(sum(len(series.ts) for series in self._series.values()))
