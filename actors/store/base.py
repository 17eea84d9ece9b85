"""The async store interface (docs/architecture.md §3): users, symbols and the 1 Hz price series.

Two implementations pass one contract suite (tests/integration/test_store_contract.py):
`SqliteStore` (default) and `MongoStore`. Writes of price points are idempotent per
(symbol, second): delivering a point twice stores it once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from actors.messages import IntervalAggregate, NewSymbol, PricePoint, Stats24h, SymbolRecord, User


class StoreError(Exception):
    """The store could not be reached or refused the operation (retryable)."""


class DuplicateError(Exception):
    """A unique key (email, symbol) already exists."""

    def __init__(self, field: str, value: str) -> None:
        super().__init__(f"{field} {value!r} already exists")
        self.field = field
        self.value = value


class Store(Protocol):
    """What every store implements. All times are epoch milliseconds."""

    async def open(self) -> None:
        """Connect, create tables/indexes; idempotent."""

    async def close(self) -> None: ...

    async def ping(self) -> bool:
        """True when the store answers (for /readyz)."""

    # users
    async def create_user(self, name: str, email: str, password_hash: str, role: str) -> User:
        """Insert a user; raises DuplicateError('email', ...) when the email exists."""

    async def get_user_by_email(self, email: str) -> User | None: ...

    async def get_user(self, user_id: str) -> User | None: ...

    async def set_user_role(
        self, email: str, role: str, password_hash: str | None = None
    ) -> User | None:
        """Change a user's role (and optionally password) and bump its token version (tokens
        issued before are refused from now on); None when no such user."""

    # symbols
    async def list_symbols(self, active_only: bool = False) -> list[SymbolRecord]:
        """Symbols sorted by name."""

    async def get_symbol(self, symbol_id: str) -> SymbolRecord | None: ...

    async def get_symbol_by_name(self, symbol: str) -> SymbolRecord | None: ...

    async def create_symbol(self, new: NewSymbol) -> SymbolRecord:
        """Insert; raises DuplicateError('symbol', ...) when it exists."""

    async def create_symbols(self, new: Sequence[NewSymbol]) -> list[SymbolRecord]:
        """Insert all or none; raises DuplicateError naming the first duplicate."""

    async def upsert_symbols(self, new: Sequence[NewSymbol]) -> int:
        """Insert or update by symbol name (seed-symbols); returns how many were written."""

    async def update_symbol(
        self, symbol_id: str, changes: dict[str, object]
    ) -> SymbolRecord | None:
        """Apply `symbol`/`baseAsset`/`quoteAsset`/`isActive` changes; None when no such id.

        These are an admin's: `isActive` also sets `adminInactive` to its opposite."""

    async def delete_symbol(self, symbol_id: str) -> bool: ...

    async def set_listed(self, names: Sequence[str], active: bool) -> list[str]:
        """The exchange listed (`active`) or delisted these symbols: set `isActive` on those an
        admin did not deactivate; returns the names whose flag changed (history is kept)."""

    async def symbols_version(self) -> int:
        """A number that changes whenever the symbol set changes (feeds poll it cheaply)."""

    # price points
    async def write_points(self, points: Sequence[PricePoint]) -> int:
        """Store points idempotently per (symbol, second); the later write of a second wins."""

    async def points_between(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[PricePoint]:
        """Points with start_ms <= ts <= end_ms, oldest first."""

    async def latest_point(self, symbol: str) -> PricePoint | None: ...

    async def interval_aggregate(
        self, symbol: str, interval_start_ms: int
    ) -> IntervalAggregate | None:
        """The aggregate of one interval; None when it holds no point."""

    async def recent_intervals(
        self, symbol: str, count: int, interval_hour: int | None = None
    ) -> list[IntervalAggregate]:
        """The `count` most recent non-empty intervals (the open one included), oldest first."""

    async def stats_24h(self, now_ms: int) -> list[Stats24h]:
        """Per symbol figures over (now - 24 h, now], in one query, sorted by symbol."""

    # history import (`binance-stats backfill`)
    async def imported_ranges(self, symbol: str) -> list[tuple[int, int]]:
        """Epoch-second ranges [first, last] of `symbol` already imported, by first second."""

    async def mark_imported(self, symbol: str, first: int, last: int) -> None:
        """Record that every kline of `symbol` in seconds [first, last] is stored."""

    async def prune_before(self, ts_ms: int) -> int:
        """Delete points older than ts_ms; returns how many (approximately, for bucketed layouts)."""
