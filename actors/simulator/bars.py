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

    Columns are `array`s (about 80 bytes a bar) so hours of history for hundreds of symbols
    stay affordable; bars older than `keep_seconds` are cut in amortised batches.
    """

    def __init__(self, keep_seconds: int) -> None:
        self.keep_seconds = keep_seconds
        self.sec = array("q")
        self.o = array("i")
        self.h = array("i")
        self.low = array("i")
        self.c = array("i")
        self.v = array("q")
        self.q = array("q")
        self.taker_v = array("q")
        self.taker_q = array("q")
        self.first_id = array("q")
        self.last_id = array("q")

    def __len__(self) -> int:
        return len(self.sec)

    def add_trade(
        self, second: int, price: int, qty: int, quote: int, taker_buy: bool, trade_id: int
    ) -> None:
        """Fold a trade into the bar of `second` (a new bar if the second moved on)."""
        sec = self.sec
        if sec and sec[-1] == second:
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
        sec.append(second)
        for column in (self.o, self.h, self.low, self.c):
            column.append(price)
        self.v.append(qty)
        self.q.append(quote)
        self.taker_v.append(qty if taker_buy else 0)
        self.taker_q.append(quote if taker_buy else 0)
        self.first_id.append(trade_id)
        self.last_id.append(trade_id)
        if second - sec[0] > self.keep_seconds + max(60, self.keep_seconds // 8):
            self._trim(second - self.keep_seconds)

    def _trim(self, oldest: int) -> None:
        cut = bisect.bisect_left(self.sec, oldest)
        for column in self._columns():
            del column[:cut]

    def _columns(self) -> tuple[array[int], ...]:
        return (
            self.sec,
            self.o,
            self.h,
            self.low,
            self.c,
            self.v,
            self.q,
            self.taker_v,
            self.taker_q,
            self.first_id,
            self.last_id,
        )

    def close_at(self, second: int) -> int | None:
        """Close (ticks) of the bar of `second`, None if nothing traded then (or forgotten)."""
        index = bisect.bisect_left(self.sec, second)
        if index < len(self.sec) and self.sec[index] == second:
            return self.c[index]
        return None

    def bar(self, index: int) -> Bar:
        """Bar at `index` as an object."""
        return Bar(
            self.sec[index],
            self.o[index],
            self.h[index],
            self.low[index],
            self.c[index],
            self.v[index],
            self.q[index],
            self.taker_v[index],
            self.taker_q[index],
            self.first_id[index],
            self.last_id[index],
        )

    def index_at_or_after(self, second: int) -> int:
        return bisect.bisect_left(self.sec, second)

    def aggregate(self, interval: str, start: int, end: int, offset: int = 0) -> Iterator[Bar]:
        """Bars of `interval` built from the 1 s bars with seconds in [start, end], oldest first."""
        index = bisect.bisect_left(self.sec, start)
        stop = bisect.bisect_right(self.sec, end)
        if SECONDS[interval] == 1:
            for i in range(index, stop):
                yield self.bar(i)
            return
        current: Bar | None = None
        current_next = 0
        for i in range(index, stop):
            second = self.sec[i]
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
