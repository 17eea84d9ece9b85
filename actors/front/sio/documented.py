"""The documented Socket.IO dialect (docs/socketio.md §1): per-symbol rooms.

subscribe {symbol} → subscription_confirmed {symbol}, then historical_data {symbol, data}
(the last 4 hours, oldest first; with `since` (epoch ms), the points after it within those 4
hours: what a client that cannot use connection recovery missed); unsubscribe {symbol}; get_all_symbols → all_symbols;
get_multiple_prices {symbols} → multiple_prices; get_interval_data and get_recent_intervals →
interval_data {symbol, intervals}. A refused request gets `error` and changes nothing.
"""

from __future__ import annotations

from typing import Any

from actors.cache.base import SERIES_WINDOW_MS
from actors.front.sio.codec import EncodedEvent
from actors.front.sio.context import NAMESPACE, HubContext
from actors.front.sio.payloads import history_items, price_item
from actors.front.sio.requests import (
    IntervalRequest,
    RecentIntervalsRequest,
    RequestError,
    SubscribeRequest,
    SymbolRequest,
    SymbolsRequest,
    normalize_symbol,
    normalize_symbols,
    parse,
    parse_time_ms,
)

# a client clock this far ahead of ours still gets an answer (the points after our now: none)
SINCE_SLACK_MS = 60_000


class DocumentedDialect:
    """Handlers of the documented events; each raises RequestError on a bad request."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx

    async def subscribe(self, sid: str, payload: Any) -> None:
        request = parse(payload, SubscribeRequest)
        symbol = normalize_symbol(request.symbol)
        end = self.ctx.now_ms()
        start = end - SERIES_WINDOW_MS
        if request.since is not None:
            if request.since > end + SINCE_SLACK_MS:
                raise RequestError(f"since {request.since} is in the future (now is {end})")
            start = max(start, request.since + 1)  # what the client has not seen yet
        await self.ctx.symbols.require([symbol])
        async with self.ctx.gate.slot(sid):  # reading and encoding are the expensive part
            points = await self.ctx.reader.series(symbol, start, end)
            history = EncodedEvent(
                "historical_data",
                {"symbol": symbol, "data": history_items(points, self.ctx.scheme)},
            )
        # Join the room only after the history is read: what the client gets first is the
        # confirmation and the history, then live updates.
        await self.ctx.send(sid, "subscription_confirmed", {"symbol": symbol})
        await self.ctx.send_encoded(sid, history)
        if self.ctx.connected(sid):  # it may have gone during the awaits above
            await self.ctx.sio.enter_room(sid, self.ctx.room_of(sid, symbol), namespace=NAMESPACE)

    async def unsubscribe(self, sid: str, payload: Any) -> None:
        symbol = normalize_symbol(parse(payload, SymbolRequest).symbol)
        await self.ctx.symbols.require([symbol])
        if self.ctx.connected(sid):
            await self.ctx.sio.leave_room(sid, self.ctx.room_of(sid, symbol), namespace=NAMESPACE)

    async def get_all_symbols(self, sid: str, payload: Any) -> None:
        names = await self.ctx.symbols.names()
        await self.ctx.send(sid, "all_symbols", {"symbols": list(names)})

    async def get_multiple_prices(self, sid: str, payload: Any) -> None:
        symbols = normalize_symbols(parse(payload, SymbolsRequest).symbols)
        await self.ctx.symbols.require(symbols)
        latest = await self.ctx.reader.latest(symbols)
        prices = [price_item(latest[symbol]) for symbol in symbols if symbol in latest]
        await self.ctx.send(sid, "multiple_prices", {"prices": prices})

    async def get_interval_data(self, sid: str, payload: Any) -> None:
        request = parse(payload, IntervalRequest)
        symbol = normalize_symbol(request.symbol)
        await self.ctx.symbols.require([symbol])
        start = self.ctx.scheme.start_of(
            parse_time_ms(request.interval_start_time, "intervalStartTime")
        )
        if request.interval_hour is not None and request.interval_hour != self.ctx.scheme.hour_of(
            start
        ):
            raise RequestError(
                f"intervalHour {request.interval_hour} does not match intervalStartTime "
                f"(an interval starting at hour {self.ctx.scheme.hour_of(start)})"
            )
        aggregate = await self.ctx.reader.interval(symbol, start)
        intervals = [aggregate] if aggregate is not None else []
        await self.ctx.send(sid, "interval_data", {"symbol": symbol, "intervals": intervals})

    async def get_recent_intervals(self, sid: str, payload: Any) -> None:
        request = parse(payload, RecentIntervalsRequest)
        symbol = normalize_symbol(request.symbol)
        await self.ctx.symbols.require([symbol])
        intervals = await self.ctx.reader.recent_intervals(symbol, request.count)
        await self.ctx.send(sid, "interval_data", {"symbol": symbol, "intervals": intervals})
