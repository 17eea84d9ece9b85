"""The price series in SQLite: one row per (symbol, second).

Every function takes the connection of the thread it runs on (see sqlite_conn.ThreadConnection).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from actors.messages import PricePoint
from actors.store.series import Ohlc
from actors.store.sqlite_conn import Transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    symbol TEXT NOT NULL,
    sec INTEGER NOT NULL,
    ms INTEGER NOT NULL,
    price REAL NOT NULL,
    pct REAL,
    backfill INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (symbol, sec)
) WITHOUT ROWID;
"""

_UPSERT = (
    "INSERT INTO points (symbol, sec, ms, price, pct, backfill) VALUES (?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (symbol, sec) DO UPDATE SET ms = excluded.ms, price = excluded.price, "
    "pct = excluded.pct, backfill = excluded.backfill"
)


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the series tables; idempotent."""
    conn.executescript(SCHEMA)


def write_points(conn: sqlite3.Connection, points: Sequence[PricePoint]) -> int:
    """Upsert points; within one call the later point of a second wins (executemany order)."""
    rows = [(p.symbol, p.ts // 1000, p.ts % 1000, p.price, p.pct, int(p.backfill)) for p in points]
    with Transaction(conn):
        conn.executemany(_UPSERT, rows)
    return len(rows)


def _point(
    symbol: str, sec: int, ms: int, price: float, pct: float | None, backfill: int
) -> PricePoint:
    return PricePoint(symbol, sec * 1000 + ms, price, pct, bool(backfill))


def points_between(
    conn: sqlite3.Connection, symbol: str, start_ms: int, end_ms: int, limit: int | None
) -> list[PricePoint]:
    """Points with start_ms <= ts <= end_ms, oldest first, at most `limit`."""
    sql = (
        "SELECT sec, ms, price, pct, backfill FROM points WHERE symbol = ? AND sec BETWEEN ? AND ? "
        "AND sec * 1000 + ms BETWEEN ? AND ? ORDER BY sec"
    )
    args: list[object] = [symbol, start_ms // 1000, end_ms // 1000, start_ms, end_ms]
    if limit is not None:
        sql += " LIMIT ?"
        args.append(max(limit, 0))
    return [_point(symbol, *row) for row in conn.execute(sql, args)]


def latest_point(conn: sqlite3.Connection, symbol: str) -> PricePoint | None:
    """The newest point of a symbol."""
    row = conn.execute(
        "SELECT sec, ms, price, pct, backfill FROM points WHERE symbol = ? "
        "ORDER BY sec DESC LIMIT 1",
        (symbol,),
    ).fetchone()
    return None if row is None else _point(symbol, *row)


def latest_before(conn: sqlite3.Connection, symbol: str, before_ms: int) -> int | None:
    """The ts of the newest point with ts < before_ms."""
    row = conn.execute(
        "SELECT sec * 1000 + ms FROM points WHERE symbol = ? AND sec <= ? AND sec * 1000 + ms < ? "
        "ORDER BY sec DESC LIMIT 1",
        (symbol, before_ms // 1000, before_ms),
    ).fetchone()
    return None if row is None else int(row[0])


def fold(conn: sqlite3.Connection, symbol: str, start_ms: int, end_ms: int) -> Ohlc | None:
    """The fold of a symbol's points with start_ms <= ts < end_ms."""
    lo, hi = start_ms, end_ms - 1
    where = "symbol = ? AND sec BETWEEN ? AND ? AND sec * 1000 + ms BETWEEN ? AND ?"
    args = (symbol, lo // 1000, hi // 1000, lo, hi)
    row = conn.execute(
        f"SELECT count(*), max(price), min(price), "
        f"(SELECT sec * 1000 + ms FROM points WHERE {where} ORDER BY sec LIMIT 1), "
        f"(SELECT price FROM points WHERE {where} ORDER BY sec LIMIT 1), "
        f"(SELECT sec * 1000 + ms FROM points WHERE {where} ORDER BY sec DESC LIMIT 1), "
        f"(SELECT price FROM points WHERE {where} ORDER BY sec DESC LIMIT 1) "
        f"FROM points WHERE {where}",
        args * 5,
    ).fetchone()
    if not row or not row[0]:
        return None
    count, high, low, first_ts, open_, last_ts, close = row
    return Ohlc(first_ts, open_, last_ts, close, high, low, count)


def fold_all(conn: sqlite3.Connection, start_ms: int, end_ms: int) -> dict[str, Ohlc]:
    """Per symbol fold of points with start_ms < ts <= end_ms, in one query."""
    sql = """
        WITH w AS (
            SELECT symbol, sec * 1000 + ms AS ts, price FROM points
            WHERE sec BETWEEN ? AND ? AND sec * 1000 + ms > ? AND sec * 1000 + ms <= ?
        ), r AS (
            SELECT symbol, ts, price,
                row_number() OVER (PARTITION BY symbol ORDER BY ts) AS up,
                row_number() OVER (PARTITION BY symbol ORDER BY ts DESC) AS down
            FROM w
        )
        SELECT symbol, count(*), max(price), min(price),
            max(CASE WHEN up = 1 THEN ts END), max(CASE WHEN up = 1 THEN price END),
            max(CASE WHEN down = 1 THEN ts END), max(CASE WHEN down = 1 THEN price END)
        FROM r GROUP BY symbol
    """
    out: dict[str, Ohlc] = {}
    for symbol, count, high, low, first_ts, open_, last_ts, close in conn.execute(
        sql, (start_ms // 1000, end_ms // 1000, start_ms, end_ms)
    ):
        out[symbol] = Ohlc(first_ts, open_, last_ts, close, high, low, count)
    return out


def prune_before(conn: sqlite3.Connection, ts_ms: int, chunk: int) -> int:
    """Delete up to `chunk` points older than ts_ms; returns how many went."""
    with Transaction(conn):
        cur = conn.execute(
            "DELETE FROM points WHERE (symbol, sec) IN "
            "(SELECT symbol, sec FROM points WHERE sec * 1000 + ms < ? LIMIT ?)",
            (ts_ms, chunk),
        )
    return cur.rowcount
