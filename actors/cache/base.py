"""The price cache interface (docs/architecture.md §5).

Three things per symbol: the latest price (1 h TTL), the last 4 hours of the series
(a sorted set by ts, trimmed on write) and interval aggregates (24 h TTL).
Implementations: `MemoryCache` (embedded default) and `RedisCache`.

The series has a *floor*: the time from which the cache holds every point. The first write
sets it (so a fresh or emptied cache never claims history it lacks) and `mark_gap` raises it
when points were lost; `series()` misses (returns []) for a range that starts below it, or
below the 4 hours before the symbol's newest point, so readers take such a range from the
store instead of serving a hole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from actors.messages import IntervalAggregate, PricePoint

LATEST_TTL_SECONDS = 3600
SERIES_WINDOW_MS = 4 * 3_600_000  # the default; CACHE_WINDOW_SECONDS shortens it (a soak)
AGGREGATE_TTL_SECONDS = 24 * 3600


class CacheError(Exception):
    """The cache is unreachable; readers fall back to the store."""


class PriceCache(Protocol):
    """What every cache implements. All times are epoch milliseconds."""

    window_ms: int  # how far back from a symbol's newest point the series is kept

    async def put_points(self, points: Sequence[PricePoint]) -> None:
        """Set latest prices, add to the 4-hour series and trim it, in one round trip."""

    async def put_aggregates(self, aggregates: Sequence[IntervalAggregate]) -> None: ...

    async def latest(self, symbols: Sequence[str]) -> dict[str, PricePoint]:
        """Latest point of each symbol that has one."""

    async def series(self, symbol: str, start_ms: int, end_ms: int) -> list[PricePoint]:
        """Cached points with start_ms <= ts <= end_ms, oldest first; [] if not all are cached."""

    async def mark_gap(self, until_ms: int) -> None:
        """Points before `until_ms` may be missing: raise the floor to it (never lowers it)."""

    async def aggregate(self, symbol: str, interval_start_ms: int) -> IntervalAggregate | None: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
