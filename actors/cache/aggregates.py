"""Running OHLC of each symbol's recent intervals, folded from the points the CacheWriter sees.

Idempotent per (symbol, second): a point delivered twice is counted once (a bitmap of the
interval's seconds), so at-least-once redelivery never inflates `count`, and a second's later
point replaces it as open or close, as in the store. Only whole intervals are published:
intervals the writer saw from their start (`since_ms`), once closed (the newest point seen,
of any symbol, is past their end). Readers trust cached aggregates of closed intervals for
24 hours, so a partial one must never reach the cache; open intervals come from the store.
"""

from __future__ import annotations

from collections.abc import Iterable

from actors.messages import IntervalAggregate, PricePoint
from actors.store.intervals import IntervalScheme


class RunningAggregate:
    """One symbol's OHLC over one interval so far: open/close by ts, count by distinct second."""

    __slots__ = (
        "close",
        "close_ts",
        "count",
        "high",
        "low",
        "open",
        "open_ts",
        "seen",
        "start",
        "symbol",
    )

    def __init__(self, symbol: str, start: int, seconds: int) -> None:
        self.symbol = symbol
        self.start = start
        self.seen = bytearray((seconds + 7) // 8)
        self.count = 0
        self.open = self.close = self.high = self.low = 0.0
        self.open_ts = self.close_ts = 0

    def add(self, point: PricePoint) -> None:
        """Fold one point of this interval; a second already seen is not counted again."""
        byte, bit = divmod(point.second - self.start // 1000, 8)  # start is whole seconds
        mask = 1 << bit
        second = point.second
        if self.count == 0:
            self.open = self.close = self.high = self.low = point.price
            self.open_ts = self.close_ts = point.ts
        else:
            if second <= self.open_ts // 1000:
                self.open, self.open_ts = point.price, point.ts
            if second >= self.close_ts // 1000:
                self.close, self.close_ts = point.price, point.ts
            self.high = max(self.high, point.price)
            self.low = min(self.low, point.price)
        if not self.seen[byte] & mask:
            self.seen[byte] |= mask
            self.count += 1

    def snapshot(self, scheme: IntervalScheme) -> IntervalAggregate:
        return IntervalAggregate(
            symbol=self.symbol,
            interval_start_time=self.start,
            interval_end_time=scheme.end_of(self.start),
            interval_hour=scheme.hour_of(self.start),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            count=self.count,
        )


class IntervalAggregator:
    """Running aggregates per (symbol, interval); keeps the newest `keep` intervals of each symbol.

    Late points (backfill after a gap) still update the previous interval; anything older, or
    in an interval that began before `since_ms`, is left to the store.
    """

    def __init__(self, scheme: IntervalScheme, *, since_ms: int, keep: int = 2) -> None:
        if keep < 1:
            raise ValueError("keep must be at least 1")
        self.scheme = scheme
        self.since_ms = since_ms
        self.keep = keep
        self._running: dict[str, dict[int, RunningAggregate]] = {}
        self._dirty: set[tuple[str, int]] = set()
        self.newest_ts = 0

    def add(self, points: Iterable[PricePoint]) -> None:
        """Fold points; the aggregates they touch become dirty (see `dirty`)."""
        length = self.scheme.length_ms
        for point in points:
            self.newest_ts = max(self.newest_ts, point.ts)
            start = self.scheme.start_of(point.ts)
            if start < self.since_ms:
                continue
            intervals = self._running.setdefault(point.symbol, {})
            running = intervals.get(start)
            if running is None:
                newest = max(intervals, default=start)
                if start <= newest - self.keep * length:
                    continue  # older than what we keep: the store answers for it
                running = intervals[start] = RunningAggregate(point.symbol, start, length // 1000)
                self._evict(point.symbol, intervals)
            running.add(point)
            self._dirty.add((point.symbol, start))

    def _evict(self, symbol: str, intervals: dict[int, RunningAggregate]) -> None:
        floor = max(intervals) - (self.keep - 1) * self.scheme.length_ms
        for start in [s for s in intervals if s < floor]:
            del intervals[start]
            self._dirty.discard((symbol, start))

    def ready(self) -> list[IntervalAggregate]:
        """Closed intervals changed since they were last marked `written`."""
        out = []
        for symbol, start in self._dirty:
            running = self._running.get(symbol, {}).get(start)
            if running is not None and self.scheme.end_of(start) <= self.newest_ts:
                out.append(running.snapshot(self.scheme))
        return out

    def written(self, aggregates: Iterable[IntervalAggregate]) -> None:
        """These reached the cache: they are clean until a late point changes them."""
        for aggregate in aggregates:
            self._dirty.discard((aggregate.symbol, aggregate.interval_start_time))

    def get(self, symbol: str, start: int) -> IntervalAggregate | None:
        """The running aggregate of one interval, if tracked."""
        running = self._running.get(symbol, {}).get(start)
        return None if running is None else running.snapshot(self.scheme)
