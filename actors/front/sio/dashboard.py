"""The dashboard's list dialect (docs/socketio.md §2).

subscribe {symbols} → initial_data {data, timestamp}, then subscribed {symbols, timestamp};
unsubscribe {symbols} → unsubscribed {symbols, timestamp}; get_historical {symbol} →
historical_data {symbol, intervalHour, intervalStartTime, data, timestamp}. The list-form
price_update and interval_update are sent by the hub. A refused call changes nothing.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from actors.front.sio.codec import EncodedEvent
from actors.front.sio.context import HubContext
from actors.front.sio.lists import ListSubscriptions
from actors.front.sio.payloads import (
    CurrentPrice,
    InitialItem,
    IntervalGroup,
    SeriesItem,
    history_items,
)
from actors.front.sio.requests import (
    SymbolRequest,
    SymbolsRequest,
    normalize_symbol,
    normalize_symbols,
    parse,
)
from actors.messages import IntervalAggregate
from actors.store.intervals import HOUR_MS

SERIES_POINTS = 60
SERIES_LOOKBACK_MS = 10 * 60_000
INTERVALS_PER_HOUR = 6
INITIAL_TTL = 1.0  # seconds an encoded initial_data is shared by sockets asking for the same set
MAX_SHARED_BYTES = 16 * 1024 * 1024  # encoded initial_data kept for sharing, in all
# The interval groups (36 aggregates a symbol, a store query each) are read at most this often;
# only the open interval's figures can be that much older, and interval_update follows its close.
INTERVALS_TTL = 10.0


class ListDialect:
    """Handlers of the list-form events; each raises RequestError on a bad request.

    initial_data is the expensive answer: each symbol's part is read at most once per
    INITIAL_TTL (behind the read gate), and the encoded answer is shared by every socket asking
    for the same *set* within INITIAL_TTL, whatever the order it lists the symbols in.
    """

    def __init__(self, ctx: HubContext, lists: ListSubscriptions) -> None:
        self.ctx = ctx
        self.lists = lists
        self._initial: dict[frozenset[str], tuple[float, asyncio.Future[EncodedEvent]]] = {}
        self._initial_bytes = 0
        self._items: dict[str, tuple[float, InitialItem]] = {}
        self._intervals: dict[str, tuple[float, list[IntervalGroup]]] = {}  # known symbols only

    async def subscribe(self, sid: str, payload: Any) -> None:
        symbols = normalize_symbols(parse(payload, SymbolsRequest).symbols)
        await self.ctx.symbols.require(symbols)
        if self.ctx.eio_sid(sid) is None:
            return
        await self.ctx.send_encoded(sid, await self._initial_data(frozenset(symbols), sid))
        await self.ctx.send(sid, "subscribed", {"symbols": symbols, "timestamp": self.ctx.now_ms()})
        # the socket may have gone during any await above: a subscription is kept only for a
        # socket connected now (nothing is awaited between this check and the add)
        eio_sid = self.ctx.eio_sid(sid)
        if eio_sid is None or not self.ctx.connected(sid):
            return
        self.lists.add(sid, eio_sid, symbols)

    async def unsubscribe(self, sid: str, payload: Any) -> None:
        symbols = normalize_symbols(parse(payload, SymbolsRequest).symbols)
        await self.ctx.symbols.require(symbols)
        eio_sid = self.ctx.eio_sid(sid)
        if eio_sid is not None and self.ctx.connected(sid):
            self.lists.discard(sid, eio_sid, symbols)
        await self.ctx.send(
            sid, "unsubscribed", {"symbols": symbols, "timestamp": self.ctx.now_ms()}
        )

    async def get_historical(self, sid: str, payload: Any) -> None:
        symbol = normalize_symbol(parse(payload, SymbolRequest).symbol)
        await self.ctx.symbols.require([symbol])
        now = self.ctx.now_ms()
        start, hour = self.ctx.scheme.tag(now)
        async with self.ctx.gate.slot(sid):  # reading and encoding are the expensive part
            points = await self.ctx.reader.series(symbol, start, now)
            if not points:
                points = await self.ctx.reader.series(symbol, now - HOUR_MS, now)
            answer = EncodedEvent(
                "historical_data",
                {
                    "symbol": symbol,
                    "intervalHour": hour,
                    "intervalStartTime": start,
                    "data": history_items(points, self.ctx.scheme),
                    "timestamp": now,
                },
            )
        await self.ctx.send_encoded(sid, answer)

    async def _initial_data(self, symbols: frozenset[str], sid: str) -> EncodedEvent:
        """initial_data for `symbols`, built and encoded once for every socket asking for the
        same set within INITIAL_TTL (a burst of dashboards subscribing to everything shares
        one); at most MAX_SHARED_BYTES of answers are kept for sharing."""
        now = time.monotonic()
        for key, (expires, shared) in list(self._initial.items()):
            if expires < now:
                del self._initial[key]
                if shared.done() and not shared.exception():
                    self._initial_bytes -= len(shared.result().frame)
        cached = self._initial.get(symbols)
        if cached is not None:
            return await asyncio.shield(cached[1])
        future: asyncio.Future[EncodedEvent] = asyncio.get_running_loop().create_future()
        self._initial[symbols] = (now + INITIAL_TTL, future)
        try:
            event = await self._build_initial(sorted(symbols), sid)
        except BaseException as exc:
            self._initial.pop(symbols, None)
            future.set_exception(exc)
            future.exception()  # retrieved here; the waiters re-raise it
            raise
        future.set_result(event)
        if self._initial_bytes + len(event.frame) > MAX_SHARED_BYTES:
            self._initial.pop(symbols, None)  # served to those waiting, not kept
        else:
            self._initial_bytes += len(event.frame)
        return event

    async def _build_initial(self, symbols: list[str], sid: str) -> EncodedEvent:
        now_mono = time.monotonic()
        for symbol, (expires, _) in list(self._items.items()):
            if expires < now_mono:
                del self._items[symbol]
        async with self.ctx.gate.slot(sid):
            have = {symbol: self._items[symbol][1] for symbol in symbols if symbol in self._items}
            missing = [symbol for symbol in symbols if symbol not in have]
            if missing:
                have.update(await self._read_items(missing))
            items = [have[symbol] for symbol in symbols]
            return EncodedEvent("initial_data", {"data": items, "timestamp": self.ctx.now_ms()})

    async def _read_items(self, symbols: list[str]) -> dict[str, InitialItem]:
        reader = self.ctx.reader
        now = self.ctx.now_ms()
        expires = time.monotonic() + INITIAL_TTL
        latest = await reader.latest(symbols)
        read: dict[str, InitialItem] = {}
        per_hour = INTERVALS_PER_HOUR * len(self.ctx.scheme.start_hours)
        for symbol in symbols:
            point = latest.get(symbol)
            current = (
                None if point is None else CurrentPrice(symbol, point.price, point.ts, point.pct)
            )
            series = await reader.series(symbol, now - SERIES_LOOKBACK_MS, now)
            newest = [SeriesItem(p.price, p.ts) for p in reversed(series[-SERIES_POINTS:])]
            intervals = self._intervals.get(symbol)
            if intervals is None or intervals[0] < time.monotonic():
                recent = await reader.recent_intervals(symbol, per_hour)
                intervals = (time.monotonic() + INTERVALS_TTL, self._by_hour(recent))
                self._intervals[symbol] = intervals
            item = read[symbol] = InitialItem(symbol, current, newest, intervals[1])
            self._items[symbol] = (expires, item)
        return read

    def _by_hour(self, recent: list[IntervalAggregate]) -> list[IntervalGroup]:
        groups = []
        for hour in self.ctx.scheme.start_hours:
            same = [agg for agg in recent if agg.interval_hour == hour]
            groups.append(IntervalGroup(hour, same[-INTERVALS_PER_HOUR:]))
        return groups
