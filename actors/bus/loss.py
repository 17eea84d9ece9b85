"""What a bus group lost: per symbol the first and last second, for the metric, the log,
/readyz and the backfill the group's writer asks the feed for (docs/architecture.md §2.2)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import msgspec

from actors import metrics
from actors.messages import PricePoint

# Seconds between two warning lines about losses of one group: a long outage is one line a
# minute with the running totals, not one per publish.
LOG_EVERY = 60.0


class Loss(msgspec.Struct):
    """Points a group lost: `ranges[symbol] = (first second, last second)`, `points` in all."""

    ranges: dict[str, tuple[int, int]] = msgspec.field(default_factory=dict)
    points: int = 0

    @property
    def first(self) -> int:
        return min((first for first, _ in self.ranges.values()), default=0)

    @property
    def last(self) -> int:
        return max((last for _, last in self.ranges.values()), default=0)

    def add(self, points: Iterable[PricePoint]) -> None:
        """Widen the ranges to cover `points`."""
        ranges = self.ranges
        for point in points:
            second = point.ts // 1000
            held = ranges.get(point.symbol)
            if held is None:
                ranges[point.symbol] = (second, second)
            elif second < held[0] or second > held[1]:
                ranges[point.symbol] = (min(held[0], second), max(held[1], second))
            self.points += 1

    def merge(self, other: Loss) -> None:
        for symbol, (first, last) in other.ranges.items():
            held = self.ranges.get(symbol)
            self.ranges[symbol] = (
                (first, last) if held is None else (min(held[0], first), max(held[1], last))
            )
        self.points += other.points

    def describe(self) -> str:
        """`N points of S symbols, <first> .. <last> UTC`."""
        return (
            f"{self.points} points of {len(self.ranges)} symbols, "
            f"{_utc(self.first)} .. {_utc(self.last)} UTC"
        )


class LossView(msgspec.Struct, frozen=True, rename="camel"):
    """One group's losses for /readyz: totals since this process started, and what is still
    waiting for its writer to ask for a backfill (`awaiting_backfill`); times in epoch ms."""

    points: int
    symbols: int
    first: int | None
    last: int | None
    awaiting_backfill: int


class LossLedger:
    """One group's losses: what its writer has not taken yet, totals, and the once-a-minute
    warning. `take` hands the untaken part to the writer (who asks for the backfill)."""

    def __init__(
        self,
        group: str,
        *,
        where: str = "bus",
        hand_over: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`hand_over=False`: count and log only (the Redis bus keeps the untaken part in Redis)."""
        self.group = group
        self.hand_over = hand_over
        self.where = where
        self.clock = clock
        self.untaken = Loss()
        self.total = Loss()
        self._unlogged = Loss()
        self._next_log = 0.0
        self._dropped = metrics.BUS_DROPPED.labels(group)
        self.log = logging.getLogger("actors.bus.loss")

    def record(self, loss: Loss) -> None:
        """Count, remember and (at most once a minute) log a loss."""
        if not loss.points:
            return
        self._dropped.inc(loss.points)
        if self.hand_over:
            self.untaken.merge(loss)
        self.total.merge(loss)
        self._unlogged.merge(loss)
        self.report()

    def report(self) -> None:
        """Log what was lost since the last line, when a minute has passed since it."""
        now = self.clock()
        if not self._unlogged.points or now < self._next_log:
            return
        self.log.warning(
            "%s group %s lost %s past the bus's bound (BUS_MAX_MB); its writer recovers them",
            self.where,
            self.group,
            self._unlogged.describe(),
        )
        self._unlogged = Loss()
        self._next_log = now + LOG_EVERY

    def take(self) -> Loss | None:
        """What was lost since the last `take`, or None."""
        if not self.untaken.points:
            return None
        taken, self.untaken = self.untaken, Loss()
        return taken

    def view(self) -> LossView:
        total = self.total
        return LossView(
            points=total.points,
            symbols=len(total.ranges),
            first=total.first * 1000 if total.points else None,
            last=total.last * 1000 if total.points else None,
            awaiting_backfill=self.untaken.points,
        )


def _utc(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
