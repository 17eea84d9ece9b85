"""Per-symbol history of 1 s bars (compact arrays, bounded by age) and kline aggregation."""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from actors.simulator.intervals import SECONDS, bucket_next, bucket_open


@dataclass
class Bar:
    """One kline: open second, prices in ticks, volumes in integer lots / (tick x lot) units."""

    open: int
    o: int
    h: int
    low: int
    c: int
    v: int
    q: int
    taker_v: int
    taker_q: int
    first_id: int
    last_id: int

    @property
    def trades(self) -> int:
        """Number of trades in the bar."""
        return self.last_id - self.first_id + 1

    def add(self, price: int, qty: int, quote: int, taker_buy: bool, trade_id: int) -> None:
        """Fold one trade into the bar."""
        self.c = price
        if price > self.h:
            self.h = price
        if price < self.low:
            self.low = price
        self.v += qty
        self.q += quote
        if taker_buy:
            self.taker_v += qty
            self.taker_q += quote
        self.last_id = trade_id

    def merge(self, other: Bar) -> None:
        """Fold a later bar into this one."""
        self.c = other.c
        self.h = max(self.h, other.h)
        self.low = min(self.low, other.low)
        self.v += other.v
        self.q += other.q
        self.taker_v += other.taker_v
        self.taker_q += other.taker_q
        self.last_id = other.last_id


class SecondBars:
    """1 s bars of one symbol, oldest first; the last one may still be forming.

    Columns are `array`s of about 52 bytes a bar (seconds as int32 offsets from the first one,
    first trade ids implied by the previous bar's last) so hours of history for hundreds of
    symbols stay affordable; bars older than `keep_seconds` are cut in amortised batches.
    """

    def __init__(self, keep_seconds: int) -> None:
        self.keep_seconds = keep_seconds
        self._base = 0  # epoch second of offset 0
        self._first_id = 1  # first trade id of the oldest bar kept
        self._offset = array("i")
        self.o = array("i")
        self.h = array("i")
        self.low = array("i")
        self.c = array("i")
        self.v = array("i")  # lots: at most 1000 a trade, so int32 holds any realistic second
        self.q = array("q")
        self.taker_v = array("i")
        self.taker_q = array("q")
        self.last_id = array("q")

    def __len__(self) -> int:
        return len(self._offset)

    def second(self, index: int) -> int:
        """Epoch second of the bar at `index` (negative indexes count from the end)."""
        return self._base + self._offset[index]

    def add_trade(
        self, second: int, price: int, qty: int, quote: int, taker_buy: bool, trade_id: int
    ) -> None:
        """Fold a trade into the bar of `second` (a new bar if the second moved on)."""
        offsets = self._offset
        if not offsets:
            self._base, self._first_id = second, trade_id
        offset = second - self._base
        if offsets and offsets[-1] == offset:
            if price > self.h[-1]:
                self.h[-1] = price
            if price < self.low[-1]:
                self.low[-1] = price
            self.c[-1] = price
            self.v[-1] += qty
            self.q[-1] += quote
            if taker_buy:
                self.taker_v[-1] += qty
                self.taker_q[-1] += quote
            self.last_id[-1] = trade_id
            return
        offsets.append(offset)
        for column in (self.o, self.h, self.low, self.c):
            column.append(price)
        self.v.append(qty)
        self.q.append(quote)
        self.taker_v.append(qty if taker_buy else 0)
        self.taker_q.append(quote if taker_buy else 0)
        self.last_id.append(trade_id)
        if offset - offsets[0] > self.keep_seconds + max(60, self.keep_seconds // 8):
            self._trim(second - self.keep_seconds)

    def _trim(self, oldest: int) -> None:
        cut = self._index(oldest)
        if cut == 0:
            return
        self._first_id = self.last_id[cut - 1] + 1
        base_shift = self._offset[cut] if cut < len(self._offset) else 0
        columns = (self._offset, self.o, self.h, self.low, self.c, self.v, self.q,
                   self.taker_v, self.taker_q, self.last_id)  # fmt: skip
        for column in columns:
            del column[:cut]
        if base_shift:  # keep offsets small: rebase on the oldest bar kept
            self._base += base_shift
            self._offset = array("i", [offset - base_shift for offset in self._offset])

    def _index(self, second: int) -> int:
        """Index of the first bar at or after `second`."""
        return bisect.bisect_left(self._offset, second - self._base)

    def close_at(self, second: int) -> int | None:
        """Close (ticks) of the bar of `second`, None if nothing traded then (or forgotten)."""
        index = self._index(second)
        if index < len(self._offset) and self._offset[index] == second - self._base:
            return self.c[index]
        return None

    def close_before(self, second: int) -> int | None:
        """Close (ticks) of the last bar before `second`; None if none is kept."""
        index = self._index(second)
        return self.c[index - 1] if index else None

    def bar(self, index: int) -> Bar:
        """Bar at `index` (0 <= index < len) as an object."""
        first_id = self.last_id[index - 1] + 1 if index else self._first_id
        return Bar(
            self._base + self._offset[index],
            self.o[index],
            self.h[index],
            self.low[index],
            self.c[index],
            self.v[index],
            self.q[index],
            self.taker_v[index],
            self.taker_q[index],
            first_id,
            self.last_id[index],
        )

    def aggregate(self, interval: str, start: int, end: int, offset: int = 0) -> Iterator[Bar]:
        """Bars of `interval` built from the 1 s bars with seconds in [start, end], oldest first."""
        index = self._index(start)
        stop = bisect.bisect_right(self._offset, end - self._base)
        if SECONDS[interval] == 1:
            for i in range(index, stop):
                yield self.bar(i)
            return
        current: Bar | None = None
        current_next = 0
        for i in range(index, stop):
            second = self._base + self._offset[i]
            if current is not None and second < current_next:
                current.merge(self.bar(i))
                continue
            if current is not None:
                yield current
            current = self.bar(i)
            current.open = bucket_open(second, interval, offset)
            current_next = bucket_next(current.open, interval, offset)
        if current is not None:
            yield current

    def current(self, interval: str, second: int, offset: int = 0) -> Bar | None:
        """The `interval` bar holding `second` so far (for a new kline subscription)."""
        opened = bucket_open(second, interval, offset)
        bars = list(self.aggregate(interval, opened, second, offset))
        return bars[-1] if bars else None
