"""4-hour interval arithmetic (docs/architecture.md §4): pure functions over epoch milliseconds."""

from __future__ import annotations

from dataclasses import dataclass

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class IntervalScheme:
    """Intervals of `hours` length whose starts are `offset_hours` past a multiple of `hours` UTC."""

    hours: int = 4
    offset_hours: int = 1

    @property
    def length_ms(self) -> int:
        return self.hours * HOUR_MS

    @property
    def start_hours(self) -> tuple[int, ...]:
        """The UTC hours an interval can start at: (1, 5, 9, 13, 17, 21) by default."""
        return tuple(
            sorted((self.offset_hours + i * self.hours) % 24 for i in range(24 // self.hours))
        )

    def start_of(self, ts_ms: int) -> int:
        """Start (epoch ms) of the interval holding `ts_ms`; a point on a boundary opens the next."""
        offset = (self.offset_hours % self.hours) * HOUR_MS
        return (ts_ms - offset) // self.length_ms * self.length_ms + offset

    def end_of(self, start_ms: int) -> int:
        """Exclusive end of the interval starting at `start_ms`."""
        return start_ms + self.length_ms

    @staticmethod
    def hour_of(start_ms: int) -> int:
        """UTC hour of day at which the interval starting at `start_ms` starts."""
        return (start_ms // HOUR_MS) % 24

    def tag(self, ts_ms: int) -> tuple[int, int]:
        """(intervalStartTime, intervalHour) of a point."""
        start = self.start_of(ts_ms)
        return start, self.hour_of(start)

    def is_start(self, ts_ms: int) -> bool:
        """Whether `ts_ms` is exactly an interval boundary."""
        return self.start_of(ts_ms) == ts_ms
