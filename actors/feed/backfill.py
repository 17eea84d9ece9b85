"""Gap backfill: the seconds a symbol missed, recovered from REST `1s` klines (§5.2).

A backfilled point is `ts = kline open time, price = close, pct = None, backfill = True`.
Gaps wait in a bounded queue (overflow: dropped and counted); a few workers fetch them
through the shared `RestGate`, at most 1000 klines per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

import aiohttp
import msgspec

from actors import metrics
from actors.core.backoff import Backoff
from actors.feed.decoder import Gap
from actors.feed.protocol import KLINES_DECODER, KlineRow
from actors.feed.rest_gate import RestError, RestGate
from actors.messages import PricePoint

KLINES_LIMIT = 1000
FAULTS = (aiohttp.ClientError, OSError, TimeoutError, RestError, msgspec.DecodeError, ValueError)


def kline_points(symbol: str, rows: Sequence[KlineRow], first: int, last: int) -> list[PricePoint]:
    """Points from kline rows opening in seconds [first, last]; ValueError on a bad close."""
    low, high = first * 1000, last * 1000
    return [
        PricePoint(symbol, row[0], float(row[4]), None, True)
        for row in rows
        if low <= row[0] <= high
    ]


class Backfiller:
    """Queue of gaps and the workers that fill them; `sink` receives the recovered points."""

    def __init__(
        self,
        rest_url: str,
        gate: RestGate,
        sink: Callable[[list[PricePoint]], None],
        *,
        label: str = "",
        max_seconds: int = 3600,
        max_queued: int = 100_000,
        retries: int = 5,
        retry_base: float = 0.5,
    ) -> None:
        self.url = rest_url.rstrip("/") + "/api/v3/klines"
        self.gate = gate
        self.sink = sink
        self.label = label
        self.max_seconds = max_seconds
        self.retries = retries
        self.retry_base = retry_base
        self.queue: asyncio.Queue[Gap] = asyncio.Queue(maxsize=max_queued)
        self.log = logging.LoggerAdapter(logging.getLogger(f"actors.{label}"), {"actor": label})
        self.filled = 0
        self.lost = 0
        self.in_flight = 0
        self._capped: list[str] = []
        self._overflowed: list[str] = []
        self._backfilled = metrics.FEED_BACKFILLED.labels(label)

    def request(self, gap: Gap) -> None:
        """Queue a gap; a gap longer than `max_seconds` keeps only its most recent part."""
        symbol, first, last = gap
        if last < first:
            return
        if last - first + 1 > self.max_seconds:
            dropped = last - first + 1 - self.max_seconds
            self.lost += dropped
            self._capped.append(symbol)
            first = last - self.max_seconds + 1
        try:
            self.queue.put_nowait((symbol, first, last))
        except asyncio.QueueFull:
            self.lost += last - first + 1
            self._overflowed.append(symbol)

    def report(self) -> None:
        """One warning line for the gaps capped or dropped since the last report (not one per symbol)."""
        if self._capped:
            self.log.warning(
                "%d gaps longer than the %ds backfill cap (e.g. %s): only their last %ds recovered",
                len(self._capped),
                self.max_seconds,
                self._capped[0],
                self.max_seconds,
            )
            self._capped = []
        if self._overflowed:
            self.log.warning(
                "backfill queue full: %d gaps dropped (e.g. %s)",
                len(self._overflowed),
                self._overflowed[0],
            )
            self._overflowed = []

    @property
    def idle(self) -> bool:
        return self.queue.empty() and self.in_flight == 0

    async def run(self, session: aiohttp.ClientSession) -> None:
        """One worker: fill gaps until cancelled."""
        while True:
            gap = await self.queue.get()
            self.in_flight += 1
            try:
                await self._fill(session, gap)
            finally:
                self.in_flight -= 1
                self.queue.task_done()

    async def _fill(self, session: aiohttp.ClientSession, gap: Gap) -> None:
        symbol, first, last = gap
        backoff = Backoff(base=self.retry_base, cap=10.0)
        start = first
        for _ in range(self.retries + (last - first) // KLINES_LIMIT + 1):
            if start > last:
                return
            try:
                points, start = await self.fetch_page(session, symbol, start, last)
            except FAULTS as exc:
                if backoff.attempts >= self.retries:
                    self.lost += last - start + 1
                    self.log.warning(
                        "%s: backfill of %d..%d abandoned: %s", symbol, start, last, _one_line(exc)
                    )
                    return
                self.log.warning(
                    "%s: backfill request failed (%s); retrying", symbol, _one_line(exc)
                )
                await asyncio.sleep(backoff.next())
                continue
            if points:
                self.filled += len(points)
                self._backfilled.inc(len(points))
                self.sink(points)

    async def fetch_page(
        self, session: aiohttp.ClientSession, symbol: str, start: int, last: int
    ) -> tuple[list[PricePoint], int]:
        """One klines request from `start`; returns its points and the next second to ask for."""
        count = min(KLINES_LIMIT, last - start + 1)
        params: dict[str, str | int] = {
            "symbol": symbol,
            "interval": "1s",
            "startTime": start * 1000,
            "endTime": last * 1000,
            "limit": count,
        }
        body = await self.gate.get(session, self.url, params, label=self.label)
        rows = KLINES_DECODER.decode(body)
        points = kline_points(symbol, rows, start, last)
        if not rows:
            return points, last + 1  # nothing more the exchange can give for this range
        return points, max(start + 1, rows[-1][0] // 1000 + 1)


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
