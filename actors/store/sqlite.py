"""SqliteStore: the default store (docs/architecture.md §3) on stdlib sqlite3 in WAL mode.

One writer connection and two reader connections (point queries; the all-symbol 24-hour fold),
each on its own thread, so a long write never blocks the event loop and reads proceed while a
write is in progress; other processes may read the same file at the same time.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Sequence

from actors.messages import IntervalAggregate, NewSymbol, PricePoint, Stats24h, SymbolRecord, User
from actors.store.base import DuplicateError, StoreError
from actors.store.intervals import IntervalScheme
from actors.store.records import check_points, check_role, symbol_changes
from actors.store.sqlite_conn import READER_CACHE_KIB, ThreadConnection, Transaction, sqlite_path
from actors.store.sqlite_sealer import SeriesWriter
from actors.store.sqlite_series import SCHEMA as SERIES_SCHEMA
from actors.store.sqlite_series import SeriesReader, migrate, snapshot
from actors.store.sqlite_stats import fold_all

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    token_version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS symbols (
    id TEXT PRIMARY KEY,
    symbol TEXT NOT NULL UNIQUE,
    base_asset TEXT NOT NULL,
    quote_asset TEXT NOT NULL,
    is_active INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    admin_inactive INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS imported (
    symbol TEXT NOT NULL,
    first_sec INTEGER NOT NULL,
    last_sec INTEGER NOT NULL,
    PRIMARY KEY (symbol, first_sec)
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('symbols_version', 0);
"""

_SYMBOL_SELECT = (
    "SELECT id, symbol, base_asset, quote_asset, is_active, created_at, updated_at, "
    "admin_inactive FROM symbols"
)
_SYMBOL_INSERT = (
    "INSERT INTO symbols (id, symbol, base_asset, quote_asset, is_active, created_at, "
    "updated_at, admin_inactive) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
# seed-symbols: an admin-deactivated symbol keeps its is_active
_UPSERT_SYMBOL = (
    _SYMBOL_INSERT + " ON CONFLICT (symbol) DO UPDATE SET "
    "base_asset = excluded.base_asset, quote_asset = excluded.quote_asset, "
    "is_active = CASE WHEN admin_inactive THEN is_active ELSE excluded.is_active END, "
    "updated_at = excluded.updated_at "
    "WHERE base_asset IS NOT excluded.base_asset OR quote_asset IS NOT excluded.quote_asset "
    "OR (is_active IS NOT excluded.is_active AND NOT admin_inactive)"
)
_USER_COLUMNS = "id, name, email, password_hash, role, created_at, updated_at, token_version"
_SYMBOL_COLUMNS = {
    "symbol": "symbol",
    "baseAsset": "base_asset",
    "quoteAsset": "quote_asset",
    "isActive": "is_active",
}


def _now_ms() -> int:
    return int(time.time() * 1000)


def _new_id() -> str:
    return secrets.token_hex(12)


def _migrate_users(conn: sqlite3.Connection) -> None:
    """Files made before token versions get the column (every existing token stays at 0)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(users)")}
    if columns and "token_version" not in columns:
        conn.execute("ALTER TABLE users ADD COLUMN token_version INTEGER NOT NULL DEFAULT 0")


def _migrate_symbols(conn: sqlite3.Connection) -> None:
    """Files made before live listings get the admin flag (no symbol was deactivated by one)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(symbols)")}
    if columns and "admin_inactive" not in columns:
        conn.execute("ALTER TABLE symbols ADD COLUMN admin_inactive INTEGER NOT NULL DEFAULT 0")


def _user(row: tuple[str, str, str, str, str, int, int, int]) -> User:
    return User(*row)


def _symbol(row: tuple[str, str, str, str, int, int, int, int]) -> SymbolRecord:
    sid, symbol, base, quote, active, created, updated, admin_inactive = row
    return SymbolRecord(
        sid, symbol, base, quote, bool(active), created, updated, bool(admin_inactive)
    )


def _bump_symbols(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'symbols_version'")


class SqliteStore:
    """The Store on a SQLite file (`sqlite:///./data/binance_statistics.db`)."""

    def __init__(
        self,
        url: str,
        scheme: IntervalScheme,
        *,
        bucket_seconds: int = 900,
        grace_seconds: int = 120,
        packed: bool = True,
        synchronous: str = "normal",
    ) -> None:
        """Points are sealed into packed buckets of `bucket_seconds` once the newest point is
        `grace_seconds` past a bucket's end; `packed=False` keeps plain rows (a baseline);
        `synchronous` is the PRAGMA of every connection (`normal` or `full`)."""
        self.path = sqlite_path(url)
        self.scheme = scheme
        self._series_writer = SeriesWriter(scheme, bucket_seconds, packed, grace_seconds)
        self._series = SeriesReader(bucket_seconds)
        self._writer = ThreadConnection(self.path, "sqlite-writer", synchronous=synchronous)
        self._reader = ThreadConnection(
            self.path, "sqlite-reader", synchronous=synchronous, cache_kib=READER_CACHE_KIB
        )
        # The all-symbol fold takes a while: its own connection keeps it from queueing point reads.
        self._bulk_reader = ThreadConnection(
            self.path, "sqlite-bulk-reader", synchronous=synchronous, cache_kib=READER_CACHE_KIB
        )

    async def open(self) -> None:
        """Open both connections and create the schema; idempotent."""
        await self._writer.open()
        await self._writer.run(migrate)
        await self._writer.run(lambda conn: conn.executescript(SCHEMA + SERIES_SCHEMA))
        await self._writer.run(_migrate_users)
        await self._writer.run(_migrate_symbols)
        await self._reader.open()
        await self._bulk_reader.open()

    async def close(self) -> None:
        await self._bulk_reader.close()
        await self._reader.close()
        await self._writer.close()

    async def ping(self) -> bool:
        try:
            return bool(await self._reader.run(lambda conn: conn.execute("SELECT 1").fetchone()))
        except StoreError:
            return False

    # users

    async def create_user(self, name: str, email: str, password_hash: str, role: str) -> User:
        check_role(role)
        now = _now_ms()
        user = User(_new_id(), name, email.strip().lower(), password_hash, role, now, now)

        def insert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    user.id,
                    user.name,
                    user.email,
                    user.password_hash,
                    user.role,
                    user.created_at,
                    user.updated_at,
                    user.token_version,
                ),
            )

        try:
            await self._writer.run(insert)
        except sqlite3.IntegrityError as exc:
            raise DuplicateError("email", user.email) from exc
        return user

    async def _one_user(self, where: str, value: str) -> User | None:
        row = await self._reader.run(
            lambda conn: conn.execute(
                f"SELECT {_USER_COLUMNS} FROM users WHERE {where} = ?",
                (value,),
            ).fetchone()
        )
        return None if row is None else _user(row)

    async def get_user_by_email(self, email: str) -> User | None:
        return await self._one_user("email", email.strip().lower())

    async def get_user(self, user_id: str) -> User | None:
        return await self._one_user("id", user_id)

    async def set_user_role(
        self, email: str, role: str, password_hash: str | None = None
    ) -> User | None:
        check_role(role)
        address = email.strip().lower()

        def update(conn: sqlite3.Connection) -> int:
            if password_hash is None:
                cur = conn.execute(
                    "UPDATE users SET role = ?, updated_at = ?, "
                    "token_version = token_version + 1 WHERE email = ?",
                    (role, _now_ms(), address),
                )
            else:
                cur = conn.execute(
                    "UPDATE users SET role = ?, password_hash = ?, updated_at = ?, "
                    "token_version = token_version + 1 WHERE email = ?",
                    (role, password_hash, _now_ms(), address),
                )
            return cur.rowcount

        if not await self._writer.run(update):
            return None
        return await self._one_user("email", address)

    # symbols

    async def list_symbols(self, active_only: bool = False) -> list[SymbolRecord]:
        where = "WHERE is_active = 1" if active_only else ""
        rows = await self._reader.run(
            lambda conn: conn.execute(f"{_SYMBOL_SELECT} {where} ORDER BY symbol").fetchall()
        )
        return [_symbol(row) for row in rows]

    async def _one_symbol(self, where: str, value: str) -> SymbolRecord | None:
        row = await self._reader.run(
            lambda conn: conn.execute(f"{_SYMBOL_SELECT} WHERE {where} = ?", (value,)).fetchone()
        )
        return None if row is None else _symbol(row)

    async def get_symbol(self, symbol_id: str) -> SymbolRecord | None:
        return await self._one_symbol("id", symbol_id)

    async def get_symbol_by_name(self, symbol: str) -> SymbolRecord | None:
        return await self._one_symbol("symbol", symbol.strip().upper())

    async def create_symbol(self, new: NewSymbol) -> SymbolRecord:
        return (await self.create_symbols([new]))[0]

    async def create_symbols(self, new: Sequence[NewSymbol]) -> list[SymbolRecord]:
        now = _now_ms()
        records = [
            SymbolRecord(
                _new_id(),
                n.symbol.strip().upper(),
                n.base_asset.strip().upper(),
                n.quote_asset.strip().upper(),
                n.is_active,
                now,
                now,
                not n.is_active,  # created inactive by an admin
            )
            for n in new
        ]
        seen: set[str] = set()
        for record in records:
            if record.symbol in seen:
                raise DuplicateError("symbol", record.symbol)
            seen.add(record.symbol)

        def insert(conn: sqlite3.Connection) -> None:
            with Transaction(conn):
                for r in records:
                    try:
                        conn.execute(
                            _SYMBOL_INSERT,
                            (
                                r.id,
                                r.symbol,
                                r.base_asset,
                                r.quote_asset,
                                int(r.is_active),
                                r.created_at,
                                r.updated_at,
                                int(r.admin_inactive),
                            ),
                        )
                    except sqlite3.IntegrityError as exc:
                        raise DuplicateError(
                            "symbol", r.symbol
                        ) from exc  # rolls the whole batch back
                if records:
                    _bump_symbols(conn)

        await self._writer.run(insert)
        return records

    async def upsert_symbols(self, new: Sequence[NewSymbol]) -> int:
        now = _now_ms()
        rows = [
            (
                _new_id(),
                n.symbol.strip().upper(),
                n.base_asset.strip().upper(),
                n.quote_asset.strip().upper(),
                int(n.is_active),
                now,
                now,
                0,
            )
            for n in new
        ]

        def upsert(conn: sqlite3.Connection) -> int:
            written = 0
            with Transaction(conn):
                for row in rows:
                    written += conn.execute(
                        _UPSERT_SYMBOL,
                        row,
                    ).rowcount
                if written:
                    _bump_symbols(conn)
            return written

        return await self._writer.run(upsert)

    async def update_symbol(
        self, symbol_id: str, changes: dict[str, object]
    ) -> SymbolRecord | None:
        values = {
            _SYMBOL_COLUMNS[key]: int(value) if isinstance(value, bool) else value
            for key, value in symbol_changes(changes).items()
        }
        if "is_active" in values:  # an admin's decision, kept against the listing check
            values["admin_inactive"] = 1 - int(values["is_active"])

        def update(conn: sqlite3.Connection) -> int:
            assignments = ", ".join(f"{column} = ?" for column in values)
            sets = f"{assignments}, updated_at = ?" if assignments else "updated_at = ?"
            with Transaction(conn):
                count = conn.execute(
                    f"UPDATE symbols SET {sets} WHERE id = ?",
                    (*values.values(), _now_ms(), symbol_id),
                ).rowcount
                if count:
                    _bump_symbols(conn)
            return count

        try:
            found = await self._writer.run(update)
        except sqlite3.IntegrityError as exc:
            raise DuplicateError("symbol", str(values.get("symbol"))) from exc
        return await self.get_symbol(symbol_id) if found else None

    async def set_listed(self, names: Sequence[str], active: bool) -> list[str]:
        wanted = [name.strip().upper() for name in names]
        now = _now_ms()

        def update(conn: sqlite3.Connection) -> list[str]:
            changed = []
            with Transaction(conn):
                for name in wanted:
                    count = conn.execute(
                        "UPDATE symbols SET is_active = ?, updated_at = ? WHERE symbol = ? "
                        "AND admin_inactive = 0 AND is_active != ?",
                        (int(active), now, name, int(active)),
                    ).rowcount
                    if count:
                        changed.append(name)
                if changed:
                    _bump_symbols(conn)
            return changed

        return await self._writer.run(update)

    async def delete_symbol(self, symbol_id: str) -> bool:
        def delete(conn: sqlite3.Connection) -> int:
            with Transaction(conn):
                count = conn.execute("DELETE FROM symbols WHERE id = ?", (symbol_id,)).rowcount
                if count:
                    _bump_symbols(conn)
            return count

        return bool(await self._writer.run(delete))

    async def symbols_version(self) -> int:
        row = await self._reader.run(
            lambda conn: conn.execute(
                "SELECT value FROM meta WHERE key = 'symbols_version'"
            ).fetchone()
        )
        return int(row[0]) if row else 0

    # price points

    async def write_points(self, points: Sequence[PricePoint]) -> int:
        if not points:
            return 0
        check_points(points)
        return await self._writer.run(self._series_writer.write, points)

    async def points_between(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[PricePoint]:
        return await self._reader.run(self._series.points_between, symbol, start_ms, end_ms, limit)

    async def latest_point(self, symbol: str) -> PricePoint | None:
        return await self._reader.run(self._series.latest_point, symbol)

    async def interval_aggregate(
        self, symbol: str, interval_start_ms: int
    ) -> IntervalAggregate | None:
        start = interval_start_ms
        ohlc = await self._reader.run(
            self._series.fold, symbol, start, self.scheme.end_of(start) - 1
        )
        return None if ohlc is None else ohlc.aggregate(symbol, self.scheme, start)

    async def recent_intervals(
        self, symbol: str, count: int, interval_hour: int | None = None
    ) -> list[IntervalAggregate]:
        found = await self._reader.run(
            self._series.recent_intervals, self.scheme, symbol, count, interval_hour
        )
        return [ohlc.aggregate(symbol, self.scheme, start) for start, ohlc in found]

    async def stats_24h(self, now_ms: int) -> list[Stats24h]:
        folds = await self._bulk_reader.run(
            fold_all, self._series, now_ms - 24 * 3_600_000 + 1, now_ms
        )
        return [folds[symbol].stats(symbol) for symbol in sorted(folds)]

    async def imported_ranges(self, symbol: str) -> list[tuple[int, int]]:
        rows = await self._reader.run(
            lambda conn: conn.execute(
                "SELECT first_sec, last_sec FROM imported WHERE symbol = ? ORDER BY first_sec",
                (symbol,),
            ).fetchall()
        )
        return [(int(first), int(last)) for first, last in rows]

    async def mark_imported(self, symbol: str, first: int, last: int) -> None:
        def mark(conn: sqlite3.Connection) -> None:
            with Transaction(conn):
                conn.execute(
                    "INSERT INTO imported VALUES (?, ?, ?) ON CONFLICT (symbol, first_sec) "
                    "DO UPDATE SET last_sec = max(last_sec, excluded.last_sec)",
                    (symbol, first, last),
                )

        await self._writer.run(mark)

    async def checkpoint(self) -> None:
        """Fold the write-ahead log back into the database file (to measure its size)."""
        await self._writer.run(
            lambda conn: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        )

    async def layout_counts(self) -> tuple[int, int]:
        """(points sealed in packed buckets, points still plain rows)."""

        def count(conn: sqlite3.Connection) -> tuple[int, int]:
            with snapshot(conn):
                sealed = conn.execute("SELECT coalesce(sum(n), 0) FROM buckets").fetchone()[0]
                rows = conn.execute("SELECT count(*) FROM points").fetchone()[0]
            return int(sealed), int(rows)

        return await self._reader.run(count)

    async def prune_before(self, ts_ms: int) -> int:
        total, done = 0, False
        while not done:
            # One short transaction per call, so queued writes run between chunks.
            removed, done = await self._writer.run(self._series_writer.prune_chunk, ts_ms)
            total += removed
        return total
