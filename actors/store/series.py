"""Pure helpers shared by the stores: folding points into aggregates and 24-hour figures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from actors.messages import IntervalAggregate, Stats24h
from actors.store.intervals import HOUR_MS, IntervalScheme


@dataclass
class Ohlc:
    """Open/high/low/close and count of a run of points, with the times of the first and last."""

    first_ts: int
    open: float
    last_ts: int
    close: float
    high: float
    low: float
    count: int

    @classmethod
    def of(cls, ts: Sequence[int], prices: Sequence[float]) -> Ohlc | None:
        """The fold of points given as parallel columns in time order; None when empty."""
        if not ts:
            return None
        return cls(ts[0], prices[0], ts[-1], prices[-1], max(prices), min(prices), len(ts))

    def merge(self, other: Ohlc | None) -> Ohlc:
        """The fold of two disjoint runs of points (in any order)."""
        if other is None:
            return self
        first = self if self.first_ts <= other.first_ts else other
        latest = self if self.last_ts >= other.last_ts else other
        return Ohlc(
            first.first_ts,
            first.open,
            latest.last_ts,
            latest.close,
            max(self.high, other.high),
            min(self.low, other.low),
            self.count + other.count,
        )

    def aggregate(self, symbol: str, scheme: IntervalScheme, start_ms: int) -> IntervalAggregate:
        """This fold as the aggregate of the interval starting at `start_ms`."""
        return IntervalAggregate(
            symbol=symbol,
            interval_start_time=start_ms,
            interval_end_time=scheme.end_of(start_ms),
            interval_hour=scheme.hour_of(start_ms),
            open=self.open,
            high=self.high,
            low=self.low,
            close=self.close,
            count=self.count,
        )

    def stats(self, symbol: str) -> Stats24h:
        """This fold as a symbol's 24-hour figures."""
        change = self.close - self.open
        percent = change / self.open * 100 if self.open else 0.0
        return Stats24h(
            symbol=symbol,
            open=self.open,
            high=self.high,
            low=self.low,
            last=self.close,
            change=change,
            change_percent=percent,
            count=self.count,
        )


def walk_start(scheme: IntervalScheme, latest_ts: int, interval_hour: int | None) -> int:
    """The interval to fold next when walking back: the one holding `latest_ts`, or with an hour
    filter the latest interval at that hour that starts no later."""
    start = scheme.start_of(latest_ts)
    if interval_hour is not None:
        start -= ((scheme.hour_of(start) - interval_hour) % 24) * HOUR_MS
    return start


def wants_intervals(scheme: IntervalScheme, count: int, interval_hour: int | None) -> bool:
    """Whether a recent-intervals query can return anything at all."""
    return count > 0 and (interval_hour is None or interval_hour in scheme.start_hours)


async def walk_recent_intervals(
    scheme: IntervalScheme,
    count: int,
    interval_hour: int | None,
    latest_before: Callable[[int], Awaitable[int | None]],
    aggregate: Callable[[int], Awaitable[IntervalAggregate | None]],
) -> list[IntervalAggregate]:
    """The `count` most recent non-empty intervals, oldest first, found by walking back in time.

    `latest_before(ms)` gives the ts of the latest point before `ms` (None when none);
    `aggregate(start)` folds one interval. Each step moves back at least one interval, and the
    walk ends at the oldest point, so it is bounded by the stored span.
    """
    if not wants_intervals(scheme, count, interval_hour):
        return []
    found: list[IntervalAggregate] = []
    bound = 2**62
    while len(found) < count:
        ts = await latest_before(bound)
        if ts is None:
            break
        start = walk_start(scheme, ts, interval_hour)
        agg = await aggregate(start)
        if agg is not None:
            found.append(agg)
        bound = start
    found.reverse()
    return found
