"""PriceReader: what the front reads prices through: the cache first, the store when the cache
misses or is down (counted in `bs_cache_fallbacks_total`).

The cache answers a series range only when it holds all of it (see the floor in
actors/cache/base.py), so a cache hit is never a partial answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from actors import metrics
from actors.cache.base import CacheError, PriceCache
from actors.messages import IntervalAggregate, PricePoint
from actors.store.base import Store
from actors.store.intervals import IntervalScheme

log = logging.getLogger("actors.cache.reader")

# A closed interval's aggregate read from the store is cached only this long after its end:
# before that, the DbWriter's last flush or a feed backfill may still add points to it.
WRITE_THROUGH_AFTER_MS = 10 * 60_000


class PriceReader:
    """Read-through access to latest prices, series and interval aggregates."""

    def __init__(
        self,
        cache: PriceCache,
        store: Store,
        scheme: IntervalScheme,
        *,
        write_through_after_ms: int = WRITE_THROUGH_AFTER_MS,
    ) -> None:
        self.cache = cache
        self.store = store
        self.scheme = scheme
        self.write_through_after_ms = write_through_after_ms

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

    async def series(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[PricePoint]:
        """Points in [start_ms, end_ms], oldest first, at most `limit`; the cache serves its
        window (CACHE_WINDOW_SECONDS, 4 h)."""
        now = int(time.time() * 1000)
        if start_ms >= now - self.cache.window_ms - 60_000:  # older ranges are never all cached
            try:
                cached = await self.cache.series(symbol, start_ms, end_ms)
                if cached:
                    return cached if limit is None else cached[:limit]
            except CacheError as exc:
                self._fallback("series", exc)
        return await self.store.points_between(symbol, start_ms, end_ms, limit)

    async def interval(self, symbol: str, interval_start_ms: int) -> IntervalAggregate | None:
        """One interval's aggregate; closed intervals come from the cache when present."""
        end = self.scheme.end_of(interval_start_ms)
        now = int(time.time() * 1000)
        is_open = end > now
        if not is_open:
            try:
                cached = await self.cache.aggregate(symbol, interval_start_ms)
                if cached is not None:
                    return cached
            except CacheError as exc:
                self._fallback("aggregate", exc)
        aggregate = await self.store.interval_aggregate(symbol, interval_start_ms)
        if aggregate is not None and end + self.write_through_after_ms <= now:
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
