"""Binance wire shapes the feed reads (docs/exchange.md §1.2, §1.5, §2.4, §3, §5).

Every field is typed as the protocol sends it (prices are JSON strings, times numbers), so a
frame whose field has another JSON type fails to decode and is counted as malformed.
"""

from __future__ import annotations

from typing import Any

import msgspec


class MiniTicker(msgspec.Struct, tag_field="e", tag="24hrMiniTicker"):
    """`<symbol>@miniTicker` payload, pushed every second::

    {"e":"24hrMiniTicker","E":1672515782136,"s":"BNBBTC","c":"0.0025","o":"0.0010",
     "h":"0.0025","l":"0.0010","v":"10000","q":"18"}
    """

    E: int
    s: str
    c: str
    o: str
    h: str
    l: str  # noqa: E741 - the protocol's field name
    v: str
    q: str


class Heartbeat(msgspec.Struct, tag_field="e", tag="24hrTicker"):
    """The liveness canary's `<symbol>@ticker` payload; only its event time is read."""

    E: int
    s: str


class ServerShutdown(msgspec.Struct, tag_field="e", tag="serverShutdown"):
    """The node is about to stop: ``{"e":"serverShutdown","E":1770123456789}``."""

    E: int


class ErrorBody(msgspec.Struct):
    """Inner error of a control reply: ``{"code":2,"msg":"Invalid request: invalid stream"}``."""

    code: int
    msg: str


class Frame(msgspec.Struct):
    """Any text frame of a combined connection, decoded in one pass.

    Data: ``{"stream":"btcusdt@miniTicker","data":{...MiniTicker...}}``;
    shutdown: ``{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":...}}`` (or bare,
    ``{"e":"serverShutdown","E":...}``); control replies: ``{"result":null,"id":1}`` and
    ``{"error":{"code":2,"msg":"..."},"id":2}``.
    """

    stream: str | None = None
    data: MiniTicker | Heartbeat | ServerShutdown | None = None
    result: Any = None
    id: int | str | None = None
    error: ErrorBody | None = None
    e: str | None = None
    E: int | None = None

    @property
    def is_shutdown(self) -> bool:
        return type(self.data) is ServerShutdown or self.e == "serverShutdown"

    @property
    def is_control_reply(self) -> bool:
        return (
            self.stream is None
            and self.data is None
            and self.e is None
            and (self.id is not None or self.error is not None)
        )


class ControlRequest(msgspec.Struct, omit_defaults=True):
    """``{"method":"SUBSCRIBE","params":["btcusdt@miniTicker"],"id":1}``."""

    method: str
    id: int
    params: list[str] = msgspec.field(default_factory=list)


class SymbolInfo(msgspec.Struct):
    """One exchangeInfo symbol entry, only the fields discovery reads (docs/exchange.md §5.1)."""

    symbol: str
    status: str
    baseAsset: str
    quoteAsset: str
    isSpotTradingAllowed: bool = False


class ExchangeInfo(msgspec.Struct):
    """`GET /api/v3/exchangeInfo` body, trimmed to its symbol list."""

    symbols: list[SymbolInfo]


# A `GET /api/v3/klines` row: open time, o, h, l, c, volume, close time, quote volume,
# trades, taker-buy base, taker-buy quote, unused.
KlineRow = tuple[int, str, str, str, str, str, int, str, int, str, str, str]

FRAME_DECODER = msgspec.json.Decoder(Frame)
KLINES_DECODER = msgspec.json.Decoder(list[KlineRow])
EXCHANGE_INFO_DECODER = msgspec.json.Decoder(ExchangeInfo)
CONTROL_ENCODER = msgspec.json.Encoder()

STREAM_SUFFIX = "@miniTicker"
# A busy stream on every connection whose frames prove the connection alive while all of its
# symbols are quiet (docs/exchange.md §7, "Liveness"); it never becomes a point.
CANARY_STREAM = "btcusdt@ticker"


def stream_name(symbol: str) -> str:
    """The miniTicker stream of a symbol; the symbol part must be lowercase (docs/exchange.md §1.3)."""
    return symbol.lower() + STREAM_SUFFIX


def encode_control(method: str, request_id: int, params: list[str] | None = None) -> str:
    """A SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS request, as the text of a frame."""
    return CONTROL_ENCODER.encode(ControlRequest(method, request_id, params or [])).decode()
