"""The typed structs that cross actor and process boundaries."""

from __future__ import annotations

import msgspec


class PricePoint(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One price of one symbol for one second: `ts` is the exchange event time in epoch ms.

    Atomic fields only, so `gc=False` is safe (and builds points ~30% faster).
    `pct` is the exchange's own 24-hour change in percent (miniTicker `(c-o)/o`, ticker `P`),
    None where unknown (backfilled points). `backfill` marks points recovered from REST klines.
    """

    symbol: str
    ts: int
    price: float
    pct: float | None = None
    backfill: bool = False

    @property
    def second(self) -> int:
        """The epoch second this point stands for; points are unique per (symbol, second)."""
        return self.ts // 1000


class IntervalAggregate(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """OHLC of one symbol over one 4-hour interval (docs/architecture.md §4); times in epoch ms."""

    symbol: str
    interval_start_time: int
    interval_end_time: int
    interval_hour: int
    open: float
    high: float
    low: float
    close: float
    count: int


class SymbolRecord(msgspec.Struct, frozen=True, rename="camel"):
    """A tracked trading pair; `id` is an opaque string, times are epoch ms."""

    id: str
    symbol: str
    base_asset: str
    quote_asset: str
    is_active: bool
    created_at: int
    updated_at: int
    # an admin made it inactive: the listing check never reactivates it (an admin's decision wins)
    admin_inactive: bool = False


class NewSymbol(msgspec.Struct, frozen=True, rename="camel"):
    """A symbol to create or upsert (seed-symbols, POST /symbols)."""

    symbol: str
    base_asset: str
    quote_asset: str
    is_active: bool = True


class User(msgspec.Struct, frozen=True, rename="camel"):
    """A registered account; `password_hash` is a bcrypt hash and never leaves the server."""

    id: str
    name: str
    email: str
    password_hash: str
    role: str
    created_at: int
    updated_at: int
    # bumped on every role or password change: tokens carrying an older one are refused
    token_version: int = 0


class Stats24h(msgspec.Struct, frozen=True, rename="camel"):
    """A symbol's figures over the last 24 hours of the stored series."""

    symbol: str
    open: float
    high: float
    low: float
    last: float
    change: float
    change_percent: float
    count: int
