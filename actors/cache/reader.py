"""PriceReader: what the front reads prices through: the cache first, the store when the cache
misses or is down (counted in `bs_cache_fallbacks_total`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from actors import metrics
from actors.cache.base import SERIES_WINDOW_MS, CacheError, PriceCache
from actors.messages import IntervalAggregate, PricePoint
from actors.store.base import Store
from actors.store.intervals import IntervalScheme

log = logging.getLogger("actors.cache.reader")


class PriceReader:
    """Read-through access to latest prices, series and interval aggregates."""

    def __init__(self, cache: PriceCache, store: Store, scheme: IntervalScheme) -> None:
        self.cache = cache
        self.store = store
        self.scheme = scheme

    def _fallback(self, what: str, exc: Exception) -> None:
        metrics.CACHE_FALLBACKS.inc()
        log.debug("cache %s failed (%s); reading the store", what, exc)

    async def latest(self, symbols: Sequence[str]) -> dict[str, PricePoint]:
        """Latest point per symbol that has one."""
        found: dict[str, PricePoint] = {}
        try:
            found = await self.cache.latest(symbols)
        except CacheError as exc:
            self._fallback("latest", exc)
        for symbol in symbols:
            if symbol not in found:
                point = await self.store.latest_point(symbol)
                if point is not None:
                    found[symbol] = point
        return found

    async def series(self, symbol: str, start_ms: int, end_ms: int) -> list[PricePoint]:
        """Points in [start_ms, end_ms], oldest first; the cache serves the last 4 hours."""
        now = int(time.time() * 1000)
        if start_ms >= now - SERIES_WINDOW_MS + 60_000:
            try:
                cached = await self.cache.series(symbol, start_ms, end_ms)
                if cached:
                    return cached
            except CacheError as exc:
                self._fallback("series", exc)
        return await self.store.points_between(symbol, start_ms, end_ms)

    async def interval(self, symbol: str, interval_start_ms: int) -> IntervalAggregate | None:
        """One interval's aggregate; closed intervals come from the cache when present."""
        is_open = self.scheme.end_of(interval_start_ms) > int(time.time() * 1000)
        if not is_open:
            try:
                cached = await self.cache.aggregate(symbol, interval_start_ms)
                if cached is not None:
                    return cached
            except CacheError as exc:
                self._fallback("aggregate", exc)
        aggregate = await self.store.interval_aggregate(symbol, interval_start_ms)
        if aggregate is not None and not is_open:
            try:
                await self.cache.put_aggregates([aggregate])
            except CacheError as exc:
                self._fallback("aggregate write", exc)
        return aggregate

    async def recent_intervals(
        self, symbol: str, count: int, interval_hour: int | None = None
    ) -> list[IntervalAggregate]:
        """The `count` most recent non-empty intervals, oldest first (the store is authoritative)."""
        return await self.store.recent_intervals(symbol, count, interval_hour)
