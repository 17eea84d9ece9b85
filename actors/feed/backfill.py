"""Backfill: the seconds a connection was down, recovered from REST `1s` klines
(docs/exchange.md §5.2).

Holes are connection downtime, never a quiet symbol's silence: `plan(symbols, first, last)`
records that the connection carrying `symbols` was down, stalled or being replaced during
seconds [first, last]. Windows are merged per symbol while they wait, and each symbol's merged
windows are fetched with at most one klines request per 1,000 seconds they span (a second
outage of a symbol still queued costs nothing extra). A backfilled point is `ts = kline open
time, price = close, pct = None, backfill = True`; only seconds inside a window are kept (the
seconds between two windows were live). Requests go through the shared `RestGate` at the
live path's priority.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Sequence

import aiohttp
import msgspec

from actors import metrics
from actors.core.backoff import Backoff
from actors.feed.decoder import Gap
from actors.feed.protocol import KLINES_DECODER, KlineRow
from actors.feed.rest_gate import KLINES_WEIGHT, Priority, RestError, RestGate
from actors.logs import one_line
from actors.messages import PricePoint

KLINES_LIMIT = 1000
MAX_WINDOWS = 64  # per waiting symbol; past it the closest windows are joined
# What a klines request can fail with; the page is retried (backfill) or left for a rerun (import).
KLINES_FAULTS = (
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    RestError,
    msgspec.DecodeError,
    ValueError,
)
Window = tuple[int, int]  # first and last second, inclusive
# The exchange answers zero-volume bars for a traded symbol's silent seconds (docs/exchange.md
# §5.2), so a page whose bars stop short of a second that ended moments ago means that second's
# bar is not published yet (a busy exchange lags its klines): ask again rather than lose it.
LATE_KLINE_SECONDS = 10
LATE_KLINE_TRIES = 4


def kline_points(symbol: str, rows: Sequence[KlineRow], first: int, last: int) -> list[PricePoint]:
    """Points from kline rows opening in seconds [first, last]; ValueError on a bad close.

    A row with no trade (`n` = 0: the exchange returns one for every second, at the previous
    close, docs/exchange.md §5.2) adds no point: only seconds with a trade are stored, as live."""
    low, high = first * 1000, last * 1000
    return [
        PricePoint(symbol, row[0], float(row[4]), None, True)
        for row in rows
        if low <= row[0] <= high and row[8] > 0
    ]


async def request_klines(
    gate: RestGate,
    session: aiohttp.ClientSession,
    url: str,
    symbol: str,
    first: int,
    last: int,
    *,
    label: str,
    priority: Priority,
) -> list[KlineRow]:
    """One `1s` klines request for seconds [first, last] (at most KLINES_LIMIT) through `gate`."""
    params: dict[str, str | int] = {
        "symbol": symbol,
        "interval": "1s",
        "startTime": first * 1000,
        "endTime": last * 1000,
        "limit": min(KLINES_LIMIT, last - first + 1),
    }
    body = await gate.get(
        session, url, params, label=label, weight=KLINES_WEIGHT, priority=priority
    )
    return KLINES_DECODER.decode(body)


def merge_windows(windows: Iterable[Window]) -> list[Window]:
    """Sorted windows with overlapping or adjacent ones joined."""
    merged: list[Window] = []
    for first, last in sorted(windows):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def request_spans(windows: Iterable[Window], limit: int = KLINES_LIMIT) -> list[Window]:
    """The klines requests (first, last second) covering `windows`: each at most `limit` long,
    a window that fits in the previous request's `limit` seconds riding along with it."""
    spans: list[Window] = []
    for first, last in merge_windows(windows):
        if spans and last - spans[-1][0] + 1 <= limit:
            spans[-1] = (spans[-1][0], last)
            continue
        start = first
        while start <= last:
            end = min(last, start + limit - 1)
            spans.append((start, end))
            start = end + 1
    return spans


class Backfiller:
    """Downtime windows per symbol and the workers that fill them; `sink` gets the points."""

    def __init__(
        self,
        rest_url: str,
        gate: RestGate,
        sink: Callable[[list[PricePoint]], None],
        *,
        label: str = "",
        max_seconds: int = 3600,
        max_symbols: int = 100_000,
        retries: int = 5,
        retry_base: float = 0.5,
        priority: Priority = Priority.LIVE,
        settle: float = 0.5,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.url = rest_url.rstrip("/") + "/api/v3/klines"
        self.gate = gate
        self.sink = sink
        self.label = label
        self.max_seconds = max_seconds
        self.max_symbols = max_symbols
        self.retries = retries
        self.retry_base = retry_base
        self.priority = priority
        self.settle = settle
        self.wall_clock = wall_clock
        self.pending: dict[str, list[Window]] = {}
        self.queue: asyncio.Queue[str] = asyncio.Queue()  # each pending symbol once
        self.log = logging.LoggerAdapter(logging.getLogger(f"actors.{label}"), {"actor": label})
        self.filled = 0
        self.lost = 0
        self.in_flight = 0
        self.requests = 0
        self._capped: list[str] = []
        self._overflowed: list[str] = []
        self._backfilled = metrics.FEED_BACKFILLED.labels(label)

    def plan(self, symbols: Iterable[str], first: int, last: int) -> None:
        """Seconds [first, last] were missed by these symbols' connection: queue them."""
        if last < first:
            return
        if last - first + 1 > self.max_seconds:
            first = last - self.max_seconds + 1
            capped = True
        else:
            capped = False
        for symbol in symbols:
            windows = self.pending.get(symbol)
            if windows is not None:
                windows.append((first, last))
                merged = merge_windows(windows)
                while len(merged) > MAX_WINDOWS:  # join the two closest: one request, not two
                    i = min(range(len(merged) - 1), key=lambda k: merged[k + 1][0] - merged[k][1])
                    merged[i : i + 2] = [(merged[i][0], merged[i + 1][1])]
                self.pending[symbol] = merged
            elif len(self.pending) >= self.max_symbols:
                self.lost += last - first + 1
                self._overflowed.append(symbol)
                continue
            else:
                self.pending[symbol] = [(first, last)]
                self.queue.put_nowait(symbol)
            if capped:
                self._capped.append(symbol)

    def request(self, gap: Gap) -> None:
        """One symbol's missed seconds (the decoder's `silence_gaps` rule, for the benchmark)."""
        symbol, first, last = gap
        self.plan((symbol,), first, last)

    def report(self) -> None:
        """One warning line for the windows capped or dropped since the last report."""
        if self._capped:
            self.log.warning(
                "%d symbols missed more than the %ds backfill cap (e.g. %s): "
                "only their last %ds recovered",
                len(self._capped),
                self.max_seconds,
                self._capped[0],
                self.max_seconds,
            )
            self._capped = []
        if self._overflowed:
            self.log.warning(
                "backfill plan full: %d symbols' windows dropped (e.g. %s)",
                len(self._overflowed),
                self._overflowed[0],
            )
            self._overflowed = []

    @property
    def idle(self) -> bool:
        return self.queue.empty() and self.in_flight == 0

    async def run(self, session: aiohttp.ClientSession) -> None:
        """One worker: fill waiting symbols until cancelled (a symbol cut short waits again)."""
        while True:
            symbol = await self.queue.get()
            self.in_flight += 1
            try:
                await self._fill_symbol(session, symbol)
            finally:
                self.in_flight -= 1
                self.queue.task_done()

    async def drain(self, session: aiohttp.ClientSession, timeout: float) -> None:
        """On a stop: fill what is still waiting, for at most `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                while self.pending:
                    await self._fill_symbol(session, next(iter(self.pending)))
        except TimeoutError:
            self.log.warning("stopping with %d symbols' backfill not done", len(self.pending))

    async def _fill_symbol(self, session: aiohttp.ClientSession, symbol: str) -> None:
        windows = self.pending.pop(symbol, [])
        done: list[Window] = []
        try:
            if windows:  # a second's 1 s kline is final only once that second is over
                ends = windows[-1][1] + 1 + self.settle - self.wall_clock()
                if ends > 0:
                    await asyncio.sleep(min(ends, 5.0))
            for span in request_spans(windows):
                await self._fill(session, symbol, span, windows)
                done.append(span)
        except asyncio.CancelledError:
            left = [w for w in windows if not any(s[0] <= w[0] and w[1] <= s[1] for s in done)]
            if left:  # cut short (a stop, a restart): the rest waits for the next worker
                self._requeue(symbol, left)
            raise

    def _requeue(self, symbol: str, windows: list[Window]) -> None:
        queued = symbol in self.pending
        self.pending[symbol] = merge_windows(self.pending.get(symbol, []) + windows)
        if not queued:
            self.queue.put_nowait(symbol)

    async def _fill(
        self, session: aiohttp.ClientSession, symbol: str, span: Window, windows: list[Window]
    ) -> None:
        first, last = span
        backoff = Backoff(base=self.retry_base, cap=10.0)
        start = first
        late_tries = 0
        for _ in range(self.retries + LATE_KLINE_TRIES + (last - first) // KLINES_LIMIT + 1):
            if start > last:
                return
            try:
                rows, following = await self.fetch_page(session, symbol, start, last)
                if late_tries < LATE_KLINE_TRIES and self._short_of_recent(rows, start, last):
                    late_tries += 1
                    await asyncio.sleep(max(self.settle, 0.1) * late_tries)
                    continue
                start = following
            except KLINES_FAULTS as exc:
                if backoff.attempts >= self.retries:
                    self.lost += last - start + 1
                    self.log.warning(
                        "%s: backfill of %d..%d abandoned: %s", symbol, start, last, one_line(exc)
                    )
                    return
                self.log.warning(
                    "%s: backfill request failed (%s); retrying", symbol, one_line(exc)
                )
                await asyncio.sleep(backoff.next())
                continue
            points = [
                p
                for w_first, w_last in windows
                if w_last >= first and w_first <= last
                for p in kline_points(symbol, rows, max(w_first, first), min(w_last, last))
            ]
            if points:
                self.filled += len(points)
                self._backfilled.inc(len(points))
                self.sink(points)

    def _short_of_recent(self, rows: Sequence[KlineRow], start: int, last: int) -> bool:
        """True when this last page ends before `last` and `last` closed a moment ago."""
        if last - start + 1 > KLINES_LIMIT:
            return False  # a full page before the last one
        if not rows:
            return False  # no bar at all: a pair that has not traded yet, not a late one
        if rows[-1][0] // 1000 >= last:
            return False
        return self.wall_clock() - (last + 1) < LATE_KLINE_SECONDS

    async def fetch_page(
        self, session: aiohttp.ClientSession, symbol: str, start: int, last: int
    ) -> tuple[list[KlineRow], int]:
        """One klines request from `start`; its rows and the next second to ask for."""
        count = min(KLINES_LIMIT, last - start + 1)
        self.requests += 1
        rows = await request_klines(
            self.gate, session, self.url, symbol, start, last,
            label=self.label, priority=self.priority,
        )  # fmt: skip
        for row in rows:
            float(row[4])  # ValueError on a bad close: retried like any bad answer
        if len(rows) < count:  # a quiet symbol's seconds without trades have no kline
            return rows, last + 1
        return rows, max(start + 1, rows[-1][0] // 1000 + 1)
