"""REST market data (docs/exchange.md §5): exchangeInfo, klines, ticker/price, ping, time,
with the per-minute request-weight budget and its headers."""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import web

from actors.simulator import exchange_info, tickers
from actors.simulator.frames import decimal_text
from actors.simulator.intervals import SECONDS, parse_time_zone
from actors.simulator.klines import kline_rows
from actors.simulator.market import Market, SymbolState

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
MAX_KLINES = 1000
MAX_BAN_SECONDS = 3 * 86400.0
_MICROSECOND_TIMES = 10**14  # a time parameter this large is in µs (ms ones are 13 digits)


class ApiError(Exception):
    """A Binance error body `{"code":-1121,"msg":"Invalid symbol."}` with its HTTP status."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


class WeightBudget:
    """REQUEST_WEIGHT per calendar minute, as Binance counts it (6000 by default).

    A client that keeps asking after 429s is banned with 418 (docs/exchange.md §5.5): more than
    `ban_after` refusals in one minute start a ban of `ban_seconds`, doubled for each repeat up
    to 3 days. Refused requests still count their weight, as they do on the exchange.
    """

    def __init__(self, limit: int, *, ban_after: int = 10, ban_seconds: float = 120.0) -> None:
        self.limit = limit
        self.ban_after = ban_after
        self.ban_seconds = ban_seconds
        self._minute = -1
        self.used = 0
        self.refused = 0  # 429s answered this minute
        self.bans = 0
        self.banned_until = 0.0
        self.forced_until = 0.0  # injected refusals until this wall time ...
        self.forced_status = 429  # ... with this status (429, or 418 for a ban)

    def charge(self, weight: int, now: float) -> tuple[int, float] | None:
        """Count `weight`; None if within budget, else (status, Retry-After seconds)."""
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self.used, self.refused = minute, 0, 0
        if now < self.banned_until:
            return 418, self.banned_until - now
        if now < self.forced_until:
            return self.forced_status, self.forced_until - now
        self.used += weight
        if self.used <= self.limit:
            return None
        self.refused += 1
        if self.refused > self.ban_after:
            self.bans += 1
            self.refused = 0
            self.banned_until = now + min(MAX_BAN_SECONDS, self.ban_seconds * 2 ** (self.bans - 1))
            return 418, self.banned_until - now
        return 429, (minute + 1) * 60 - now

    def used_now(self, now: float) -> int:
        """Weight used in the current minute (the X-MBX-USED-WEIGHT-1M value)."""
        return self.used if int(now // 60) == self._minute else 0


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=msgspec.json.encode(body), content_type="application/json"
    )


def _int_param(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    if not text.lstrip("-").isdigit() or len(text) > 20:
        raise ApiError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.",
        )
    return int(text)


def _symbols_param(request: web.Request) -> list[str] | None:
    text = request.query.get("symbols")
    if text is None:
        return None
    try:
        names = msgspec.json.decode(text, type=list[str])
    except msgspec.DecodeError:
        raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.") from None
    return names


class RestApi:
    """Handlers and middleware over one Market; `refusing` says whether an outage is on."""

    def __init__(self, market: Market, budget: WeightBudget, refusing: Callable[[], bool]) -> None:
        self.market = market
        self.budget = budget
        self.refusing = refusing
        self.served: Counter[str] = Counter()  # requests by path tail ("klines"), refused too
        self._info = exchange_info.Catalogue(
            [state.listing for state in market.states], budget.limit
        )

    def refresh(self, state: SymbolState) -> None:
        """exchangeInfo follows a listing or a status change of `state`."""
        self._info.update(state.listing)

    def routes(self) -> list[web.RouteDef]:
        """The REST routes."""
        return [
            web.get("/api/v3/exchangeInfo", self.exchange_info),
            web.get("/api/v3/klines", self.klines),
            web.get("/api/v3/uiKlines", self.klines),
            web.get("/api/v3/ticker/price", self.ticker_price),
            web.get("/api/v3/ticker/24hr", self.ticker_24hr),
            web.get("/api/v3/ping", self.ping),
            web.get("/api/v3/time", self.time),
        ]

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Outage 503s, weight accounting, 429/418 refusals, error bodies and weight headers."""
        now = time.time()
        if not request.path.startswith("/api/"):
            return await handler(request)
        self.served[request.path.rsplit("/", 1)[-1]] += 1
        if self.refusing():
            response: web.StreamResponse = _json(
                {"code": -1000, "msg": "Service unavailable."}, 503
            )
        else:
            refused = self.budget.charge(_weight(request), now)
            if refused is not None:
                status, retry_after = refused
                response = _json(
                    {"code": -1003, "msg": self._refusal(status, now + retry_after)}, status
                )
                response.headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
            else:
                try:
                    response = await handler(request)
                except ApiError as exc:
                    response = _json({"code": exc.code, "msg": exc.msg}, exc.status)
        used = str(self.budget.used_now(now))
        response.headers[WEIGHT_HEADER] = used
        response.headers["x-mbx-used-weight"] = used
        return response

    def _refusal(self, status: int, until: float) -> str:
        if status == 418:
            return (
                f"Way too much request weight used; IP banned until {int(until * 1000)}. "
                "Please use WebSocket Streams for live updates to avoid bans."
            )
        return (
            f"Too much request weight used; current limit is {self.budget.limit} request weight "
            "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."
        )

    def _state(self, symbol: str | None) -> SymbolState:
        if not symbol:
            raise ApiError(
                -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
            )
        state = self.market.by_symbol.get(symbol)
        if state is None:
            raise ApiError(-1121, "Invalid symbol.")
        return state

    async def ping(self, request: web.Request) -> web.Response:
        """`GET /api/v3/ping`."""
        return _json({})

    async def time(self, request: web.Request) -> web.Response:
        """`GET /api/v3/time`."""
        return _json({"serverTime": int(time.time() * 1000) * _unit(request)})

    async def exchange_info(self, request: web.Request) -> web.Response:
        """`GET /api/v3/exchangeInfo` (symbol, symbols or symbolStatus)."""
        names: list[str] | None = None
        if "symbol" in request.query:
            names = [request.query["symbol"]]
        elif "symbols" in request.query:
            names = _symbols_param(request)
        status = request.query.get("symbolStatus")
        if names is not None:
            if status is not None:
                raise ApiError(-1106, "Parameter 'symbolStatus' sent when not required.")
            if any(name not in self.market.by_symbol for name in names):
                raise ApiError(-1121, "Invalid symbol.")
        body = self._info.render(int(time.time() * 1000) * _unit(request), names, status)
        return web.Response(body=body, content_type="application/json")

    async def ticker_price(self, request: web.Request) -> web.Response:
        """`GET /api/v3/ticker/price` (symbol, symbols or all; symbolStatus)."""

        def item(state: SymbolState) -> dict[str, str]:
            return {
                "symbol": state.symbol,
                "price": decimal_text(state.price, state.listing.price_decimals),
            }

        status = request.query.get("symbolStatus")
        if "symbol" in request.query:
            state = self._state(request.query["symbol"])
            if status is not None and state.listing.status != status:
                raise ApiError(
                    -1220, "The symbol's status does not match the requested symbolStatus."
                )
            return _json(item(state))
        names = _symbols_param(request)
        states = self.market.states if names is None else [self._state(name) for name in names]
        return _json(
            [item(state) for state in states if status is None or state.listing.status == status]
        )

    async def ticker_24hr(self, request: web.Request) -> web.Response:
        """`GET /api/v3/ticker/24hr` (symbol, symbols or all; type FULL or MINI)."""
        kind = request.query.get("type", "FULL")
        if kind not in ("FULL", "MINI"):
            raise ApiError(-1100, "Illegal characters found in parameter 'type'.")
        if "symbol" in request.query:
            state = self._state(request.query["symbol"])
            return _json(tickers.ticker_24hr(state, kind, _unit(request)))
        names = _symbols_param(request)
        states = self.market.states if names is None else [self._state(name) for name in names]
        return _json([tickers.ticker_24hr(state, kind, _unit(request)) for state in states])

    async def klines(self, request: web.Request) -> web.Response:
        """`GET /api/v3/klines` and `uiKlines`."""
        state = self._state(request.query.get("symbol"))
        interval = request.query.get("interval")
        if not interval:
            raise ApiError(
                -1102, "Mandatory parameter 'interval' was not sent, was empty/null, or malformed."
            )
        if interval not in SECONDS:
            raise ApiError(-1120, "Invalid interval.")
        limit = _int_param(request, "limit")
        limit = 500 if limit is None else limit
        if not 1 <= limit <= MAX_KLINES:
            raise ApiError(-1130, "Data sent for parameter 'limit' is not valid.")
        start_ms, end_ms = _int_param(request, "startTime"), _int_param(request, "endTime")
        # microsecond times (16 digits) are accepted too, as Binance does since 2024-12
        if start_ms is not None and start_ms >= _MICROSECOND_TIMES:
            start_ms = -(-start_ms // 1000)
        if end_ms is not None and end_ms >= _MICROSECOND_TIMES:
            end_ms //= 1000
        if start_ms is not None and end_ms is not None and start_ms > end_ms:
            raise ApiError(-1023, "Start time is greater than end time.")
        offset = parse_time_zone(request.query.get("timeZone", "0"))
        if offset is None:
            raise ApiError(-1100, "Illegal characters found in parameter 'timeZone'.")
        rows = kline_rows(
            state, interval, offset, start_ms, end_ms, limit, 1000 * _unit(request),
            now_second=int(time.time()),
        )  # fmt: skip
        return web.Response(body=msgspec.json.encode(rows), content_type="application/json")


def _unit(request: web.Request) -> int:
    """1, or 1000 when `X-MBX-TIME-UNIT: MICROSECOND` asks for µs times (from ms)."""
    return 1000 if request.headers.get("X-MBX-TIME-UNIT", "").upper() == "MICROSECOND" else 1


def _weight(request: web.Request) -> int:
    path = request.path
    if path.endswith("/exchangeInfo"):
        return 20
    if path.endswith("/ticker/price"):
        return 2 if "symbol" in request.query else 4
    if path.endswith("/ticker/24hr"):
        if "symbol" in request.query:
            return 2
        count = request.query.get("symbols", "").count(",") + 1 if "symbols" in request.query else 0
        return 2 if 1 <= count <= 20 else 40 if 1 <= count <= 100 else 80
    if path.endswith("Klines") or path.endswith("/klines"):
        return 2
    return 1
