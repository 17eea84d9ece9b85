"""Typed Socket.IO request payloads of both dialects, validated at the edge with msgspec.

Every parser takes the raw payload python-socketio decoded and returns a typed request or
raises `RequestError` with a one-line message for the client's `error` event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import msgspec

MAX_SYMBOLS_PER_REQUEST = 1000  # docs/socketio.md §4: more than this is an error, nothing changed
MAX_INTERVALS = 500
MAX_TIME_MS = 2**63 - 1  # int64, what every store keeps a time in
MAX_TIME_TEXT = 64

_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,30}$")

SymbolText = Annotated[str, msgspec.Meta(min_length=1, max_length=30)]
SymbolList = Annotated[list[SymbolText], msgspec.Meta(max_length=MAX_SYMBOLS_PER_REQUEST)]


class RequestError(Exception):
    """A refused request; the message goes to the client as is."""


class SymbolRequest(msgspec.Struct, frozen=True):
    """`{symbol: "BTCUSDT"}`: subscribe, unsubscribe, get_historical."""

    symbol: SymbolText


class SubscribeRequest(msgspec.Struct, frozen=True):
    """`{symbol, since?}`: documented subscribe; `since` (epoch ms) asks for the points after
    it instead of the last 4 hours."""

    symbol: SymbolText
    since: Annotated[int, msgspec.Meta(ge=0)] | None = None


class SymbolsRequest(msgspec.Struct, frozen=True):
    """`{symbols: ["BTCUSDT", ...]}`: get_multiple_prices and the list dialect."""

    symbols: SymbolList


class IntervalRequest(msgspec.Struct, frozen=True, rename="camel"):
    """`{symbol, intervalStartTime, intervalHour?}`: get_interval_data."""

    symbol: SymbolText
    interval_start_time: str | int
    interval_hour: Annotated[int, msgspec.Meta(ge=0, le=23)] | None = None


class RecentIntervalsRequest(msgspec.Struct, frozen=True):
    """`{symbol, count?}`: get_recent_intervals."""

    symbol: SymbolText
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_INTERVALS)] = 6


T = TypeVar("T", bound=msgspec.Struct)


def parse(payload: Any, kind: type[T]) -> T:
    """Convert and validate; strings of symbols come back upper-cased and checked."""
    if not isinstance(payload, dict):
        raise RequestError(f"payload must be an object, got {_json_type(payload)}")
    try:
        request = msgspec.convert(payload, kind)
    except msgspec.ValidationError as exc:
        raise RequestError(str(exc).replace("$.", "")) from None
    return request


def normalize_symbol(text: str) -> str:
    """Upper-cased symbol; raises RequestError when it cannot be a trading pair's name."""
    symbol = text.strip().upper()
    if not _SYMBOL_RE.match(symbol):
        raise RequestError(f"invalid symbol {text!r}")
    return symbol


def normalize_symbols(texts: list[str]) -> list[str]:
    """Upper-cased, de-duplicated, in the order given."""
    return list(dict.fromkeys(normalize_symbol(text) for text in texts))


def parse_time_ms(value: str | int, field: str) -> int:
    """Epoch ms from epoch ms (ASCII digits within int64) or an ISO 8601 string (naive means
    UTC); anything else is a RequestError naming `field`."""
    if isinstance(value, int):
        return _time_in_range(value, field)
    text = value.strip()
    if len(text) > MAX_TIME_TEXT:
        raise RequestError(f"{field} is too long ({len(text)} characters)")
    if text.isascii() and text.isdigit():
        return _time_in_range(int(text), field)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RequestError(f"{field} must be an ISO 8601 time or epoch milliseconds") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return _time_in_range(int(moment.timestamp() * 1000), field)


def _time_in_range(ms: int, field: str) -> int:
    if not 0 <= ms <= MAX_TIME_MS:
        raise RequestError(f"{field} must be epoch milliseconds from 0 to {MAX_TIME_MS}")
    return ms


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
