"""The typed shapes of REST bodies, queries and answers (msgspec Structs).

The same types validate requests (`msgspec.json.decode` / `msgspec.convert`) and generate the
OpenAPI document (`actors.front.openapi`), so the two cannot drift apart.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, Meta, UnsetType

from actors.bus.loss import LossView
from actors.front.errors import ApiError

MAX_BULK_SYMBOLS = 1000
MAX_RANGE_MS = 24 * 3_600_000
DEFAULT_RANGE_MS = 3_600_000

Name = Annotated[str, Meta(min_length=1, max_length=100, description="Display name")]
# No whitespace or control characters, spelled out: Python's `\s` and JSON Schema's (ECMA-262)
# differ (\x1c-\x1f, \x85, \ufeff), and the document must accept exactly what the server does.
_EMAIL_PART = r"[^@\s\x00-\x1f\x7f-\x9f\ufeff]+"
Email = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=254,
        pattern=rf"^{_EMAIL_PART}@{_EMAIL_PART}\.{_EMAIL_PART}$",
        description="Email address",
    ),
]
Password = Annotated[
    str, Meta(min_length=6, max_length=72, description="6 to 72 characters (bcrypt's limit)")
]
LoginPassword = Annotated[str, Meta(min_length=1, max_length=1024)]
SymbolName = Annotated[
    str,
    Meta(pattern=r"^[A-Za-z0-9]{2,30}$", description="Trading pair, e.g. BTCUSDT (upper-cased)"),
]
Asset = Annotated[
    str, Meta(pattern=r"^[A-Za-z0-9]{1,20}$", description="Asset code, e.g. BTC (upper-cased)")
]
TimeParam = Annotated[
    str,
    Meta(
        description="ISO 8601 (2024-02-06T09:00:00Z) or epoch milliseconds (1707210000000)",
        examples=["2024-02-06T09:00:00Z", "1707210000000"],
    ),
]
Hour = Annotated[
    int, Meta(ge=0, le=23, description="UTC hour an interval starts at (1, 5, 9, 13, 17, 21)")
]
EpochMs = Annotated[int, Meta(description="Epoch milliseconds")]


# ---- bodies ---------------------------------------------------------------------------------


class RegisterBody(msgspec.Struct, frozen=True):
    """POST /users/register and /users/create."""

    name: Name
    email: Email
    password: Password
    role: Annotated[
        str | None, Meta(description="Ignored: new accounts always get role `user`")
    ] = None


class LoginBody(msgspec.Struct, frozen=True):
    """POST /users/login."""

    email: Annotated[str, Meta(min_length=1, max_length=254)]
    password: LoginPassword


class SymbolBody(msgspec.Struct, frozen=True, rename="camel"):
    """POST /symbols, and each item of POST /symbols/bulk."""

    symbol: SymbolName
    base_asset: Asset
    quote_asset: Asset
    is_active: bool = True


class SymbolBulkBody(msgspec.Struct, frozen=True):
    """POST /symbols/bulk as an object; a bare array of symbols is accepted too."""

    symbols: Annotated[list[SymbolBody], Meta(min_length=1, max_length=MAX_BULK_SYMBOLS)]


SymbolBulk = (
    Annotated[list[SymbolBody], Meta(min_length=1, max_length=MAX_BULK_SYMBOLS)] | SymbolBulkBody
)


class SymbolPatch(msgspec.Struct, frozen=True, rename="camel"):
    """PATCH /symbols/{id}: any of the fields, at least one."""

    symbol: SymbolName | UnsetType = UNSET
    base_asset: Asset | UnsetType = UNSET
    quote_asset: Asset | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET


# What the document says of a PATCH body: at least one of the known fields (unknown ones are
# ignored, so `minProperties` would let `{"x": 1}` pass the schema yet be refused).
SymbolPatchBody = Annotated[
    SymbolPatch,
    Meta(
        extra_json_schema={
            "anyOf": [
                {"required": [name]} for name in ("symbol", "baseAsset", "quoteAsset", "isActive")
            ]
        }
    ),
]


# ---- queries --------------------------------------------------------------------------------


class SymbolsQuery(msgspec.Struct, frozen=True, rename="camel"):
    """GET /symbols."""

    include_inactive: Annotated[bool, Meta(description="Also list inactive symbols")] = False


class PriceRangeQuery(msgspec.Struct, frozen=True, rename="camel"):
    """GET /price-data/{symbol}: at most 24 hours; the last hour by default."""

    start_time: TimeParam | None = None
    end_time: TimeParam | None = None
    limit: Annotated[
        int,
        Meta(ge=1, description="At most this many points, oldest first (PRICE_DATA_MAX_POINTS)"),
    ] | None = None


class IntervalsQuery(msgspec.Struct, frozen=True):
    """GET /price-data/{symbol}/intervals."""

    intervals: Annotated[int, Meta(ge=1, le=500, description="How many recent intervals")] = 6


class AggregatedQuery(msgspec.Struct, frozen=True, rename="camel"):
    """GET /price-data/{symbol}/aggregated: one interval, by its start."""

    interval_start_time: TimeParam
    interval_hour: Hour | None = None


class RecentQuery(msgspec.Struct, frozen=True, rename="camel"):
    """GET /price-data/recent and /price-data/aggregated (the dashboard's form)."""

    symbol: SymbolName
    interval_hour: Hour | None = None
    limit: Annotated[int, Meta(ge=1, le=1000, description="How many recent intervals")] = 100


# ---- answers --------------------------------------------------------------------------------


class UserView(msgspec.Struct, frozen=True, rename="camel"):
    """A user as the API shows it (never the password hash)."""

    id: str
    name: str
    email: str
    role: str
    created_at: EpochMs
    updated_at: EpochMs


class TokenView(msgspec.Struct, frozen=True, rename="camel"):
    """Login answer: a JWT carrying userId, name, email, role, iat, exp."""

    access_token: str


class PriceItem(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """One stored price; `timestamp` is the exchange event time."""

    symbol: str
    price: float
    timestamp: EpochMs
    interval_start_time: EpochMs
    interval_hour: int


class HealthView(msgspec.Struct, frozen=True):
    """GET /system/health."""

    status: str
    timestamp: EpochMs


class ServiceState(msgspec.Struct, frozen=True):
    """A dependency's state in /system/status."""

    connected: bool
    status: str


class SocketStats(msgspec.Struct, frozen=True, rename="camel"):
    """Socket.IO figures in /system/status."""

    active_subscriptions: int
    connected_clients: int


class Services(msgspec.Struct, frozen=True, rename="camel"):
    """The services block of /system/status."""

    binance_web_socket: ServiceState
    redis: ServiceState
    socket_io: SocketStats = msgspec.field(name="socketIO")


class StatusView(msgspec.Struct, frozen=True):
    """GET /system/status."""

    server: str
    timestamp: EpochMs
    services: Services


class Readiness(msgspec.Struct, frozen=True, rename={"bus_losses": "busLosses"}):
    """GET /readyz: each check by name; 503 when any fails. `busLosses`: per bus group, the
    points it lost past the bus's bound (informative: a loss does not fail readiness)."""

    status: str
    checks: dict[str, bool]
    bus_losses: dict[str, LossView] = msgspec.field(default_factory=dict)


# ---- time parameters ------------------------------------------------------------------------

_EPOCH_MS = re.compile(r"^\d{1,15}$")
# An unencoded "+01:00" in a query string arrives as " 01:00".
_PLUS_AS_SPACE = re.compile(r"(?<=\d) (\d{2}(?::?\d{2})?)$")


def parse_time(path: str, text: str) -> int:
    """Epoch ms from ISO 8601 (naive means UTC) or epoch-ms digits; else a 400 naming `path`."""
    value = _PLUS_AS_SPACE.sub(r"+\1", text.strip())
    if _EPOCH_MS.match(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError.field(
            400, path, f"{path} must be an ISO 8601 date-time or epoch milliseconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ms = int(moment.timestamp() * 1000)
    if ms < 0:
        raise ApiError.field(400, path, f"{path} must not be before 1970")
    return ms


def resolve_range(query: PriceRangeQuery, now_ms: int) -> tuple[int, int]:
    """[start, end] in ms from optional bounds: the last hour by default, at most 24 hours."""
    end = parse_time("endTime", query.end_time) if query.end_time is not None else None
    start = parse_time("startTime", query.start_time) if query.start_time is not None else None
    if start is None:
        start = (end if end is not None else now_ms) - DEFAULT_RANGE_MS
    if end is None:
        end = max(now_ms, start)
    if start > end:
        raise ApiError.field(400, "startTime", "startTime must not be after endTime")
    if end - start > MAX_RANGE_MS:
        field = "endTime" if query.end_time is not None else "startTime"
        raise ApiError.field(
            400, field, "the range from startTime to endTime must be at most 24 hours"
        )
    return start, end
