"""The price series in SQLite, read side.

Layout: new points land as plain rows in `points` (one per symbol and second, keyed by 10 s
time slot first, upserted, so a 5 s flush is cheap and idempotent). The writer later seals each (symbol, bucket) of
`bucket_seconds` into one packed blob in `bucket_data` (actors/store/packed.py) plus a summary
row in `buckets` (count, open/high/low/close, the interval tag), and deletes the rows. A row
written for a second that is already sealed is newer and wins over the blob until the writer
merges it in. Every read therefore merges blobs and rows in one snapshot.

Functions take the connection of the thread they run on (sqlite_conn.ThreadConnection).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import repeat

from actors.messages import PricePoint
from actors.store.intervals import IntervalScheme
from actors.store.packed import Columns, decode
from actors.store.series import Ohlc, walk_start, wants_intervals
from actors.store.sqlite_conn import Transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS points (
    slot INTEGER NOT NULL,
    symbol TEXT NOT NULL,
    sec INTEGER NOT NULL,
    ms INTEGER NOT NULL,
    price REAL NOT NULL,
    pct REAL,
    backfill INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (slot, symbol, sec)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS buckets (
    symbol TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_hour INTEGER NOT NULL,
    n INTEGER NOT NULL,
    first_ts INTEGER NOT NULL,
    open REAL NOT NULL,
    last_ts INTEGER NOT NULL,
    close REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    PRIMARY KEY (symbol, bucket)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS buckets_by_time ON buckets (bucket);
CREATE TABLE IF NOT EXISTS bucket_data (
    id INTEGER PRIMARY KEY,
    symbol TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    data BLOB NOT NULL,
    UNIQUE (symbol, bucket)
);
CREATE INDEX IF NOT EXISTS bucket_data_by_time ON bucket_data (bucket);
"""

_ROW = "sec, ms, price, pct, backfill"
# Unsealed rows are clustered by time slot first, so a flush of every symbol's latest seconds
# dirties a few pages at the end of the table instead of one page per symbol.
SLOT_SECONDS = 10
_SUMMARY = "bucket, n, first_ts, open, last_ts, close, high, low"
Summary = tuple[int, int, int, float, int, float, float, float]  # as _SUMMARY


def migrate(conn: sqlite3.Connection) -> None:
    """Move unsealed rows of a file from before time slots into the slotted table."""
    columns = [row[1] for row in conn.execute("PRAGMA table_info(points)")]
    if columns and "slot" not in columns:
        with Transaction(conn):
            conn.execute("ALTER TABLE points RENAME TO points_unslotted")
            conn.execute(SCHEMA.split(";")[0])  # the points table
            conn.execute(
                f"INSERT INTO points (slot, symbol, {_ROW}) "
                f"SELECT sec / {SLOT_SECONDS}, symbol, {_ROW} FROM points_unslotted"
            )
            conn.execute("DROP TABLE points_unslotted")


def slot_list(conn: sqlite3.Connection, lo_sec: int, hi_sec: int) -> str | None:
    """The SQL list of slots that may hold rows with lo_sec <= sec <= hi_sec (None: no row can)."""
    # Two subqueries: SQLite answers a lone min() or max() from the index end, not both at once.
    low, high = conn.execute(
        "SELECT (SELECT min(slot) FROM points), (SELECT max(slot) FROM points)"
    ).fetchone()
    if low is None:
        return None
    first, last = max(lo_sec // SLOT_SECONDS, low), min(hi_sec // SLOT_SECONDS, high)
    return ",".join(map(str, range(first, last + 1))) if first <= last else None


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """Run several reads against one consistent state (a read transaction), re-entrantly."""
    if conn.in_transaction:
        yield
        return
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


@dataclass(frozen=True)
class SeriesReader:
    """Queries over the merged series; `bucket_seconds` must match the writer's."""

    bucket_seconds: int

    def _bucket(self, sec: int) -> int:
        return sec - sec % self.bucket_seconds

    def staged(self, conn: sqlite3.Connection, symbol: str, lo_sec: int, hi_sec: int) -> Columns:
        """Unsealed rows of a symbol with lo_sec <= sec <= hi_sec."""
        slots = slot_list(conn, lo_sec, hi_sec)
        if slots is None:
            return Columns.empty()
        return Columns.of_rows(
            conn.execute(
                f"SELECT {_ROW} FROM points WHERE slot IN ({slots}) AND symbol = ? "
                f"AND sec BETWEEN ? AND ? ORDER BY sec",
                (symbol, lo_sec, hi_sec),
            )
        )

    def sealed(self, conn: sqlite3.Connection, symbol: str, lo_sec: int, hi_sec: int) -> Columns:
        """Decoded blobs of the buckets of a symbol overlapping [lo_sec, hi_sec] (whole buckets)."""
        cols = Columns.empty()
        for bucket, data in conn.execute(
            "SELECT bucket, data FROM bucket_data WHERE symbol = ? AND bucket BETWEEN ? AND ? "
            "ORDER BY bucket",
            (symbol, self._bucket(lo_sec), hi_sec),
        ):
            part = decode(data, bucket)
            cols.secs += part.secs
            cols.ms += part.ms
            cols.prices += part.prices
            cols.pcts += part.pcts
            cols.backfill += part.backfill
        return cols

    def columns(self, conn: sqlite3.Connection, symbol: str, lo_ms: int, hi_ms: int) -> Columns:
        """The merged points of a symbol with lo_ms <= ts <= hi_ms."""
        lo_sec, hi_sec = lo_ms // 1000, hi_ms // 1000
        with snapshot(conn):
            cols = self.sealed(conn, symbol, lo_sec, hi_sec).merged(
                self.staged(conn, symbol, lo_sec, hi_sec)
            )
        return cols.slice_ms(lo_ms, hi_ms)

    def points_between(
        self, conn: sqlite3.Connection, symbol: str, lo_ms: int, hi_ms: int, limit: int | None
    ) -> list[PricePoint]:
        """Points with lo_ms <= ts <= hi_ms, oldest first, at most `limit`."""
        if hi_ms < lo_ms or (limit is not None and limit <= 0):
            return []
        if limit is None:
            return self._points(self.columns(conn, symbol, lo_ms, hi_ms), symbol)
        # A series holds at most one point a second, so the first `limit` points of a whole
        # series lie within `limit` seconds: a 24 h range capped at 10,000 points decodes about
        # 10,000, not 86,400. Windows double while gaps leave them short, so a sparse series
        # takes a few queries, never one per second.
        points: list[PricePoint] = []
        span = limit
        with snapshot(conn):
            while len(points) < limit and lo_ms <= hi_ms:
                upper = min(hi_ms, (lo_ms // 1000 + span) * 1000 - 1)
                points += self._points(self.columns(conn, symbol, lo_ms, upper), symbol)
                lo_ms, span = upper + 1, span * 2
        return points[:limit]

    @staticmethod
    def _points(cols: Columns, symbol: str) -> list[PricePoint]:
        return list(map(PricePoint, repeat(symbol), cols.ts(), cols.prices, cols.pcts, cols.backfill))

    def latest_sec_before(
        self, conn: sqlite3.Connection, symbol: str, before_sec: int
    ) -> int | None:
        """The second of the newest point with sec < before_sec."""
        with snapshot(conn):
            slots = slot_list(conn, -(2**62), before_sec - 1)
            row = (
                conn.execute(
                    f"SELECT max(sec) FROM points WHERE slot IN ({slots}) AND symbol = ? AND sec < ?",
                    (symbol, before_sec),
                ).fetchone()
                if slots is not None
                else None
            )
            best: int | None = row[0] if row else None
            bound = before_sec
            while True:  # each pass moves to an older bucket, so this ends
                found = conn.execute(
                    "SELECT bucket, last_ts FROM buckets WHERE symbol = ? AND bucket < ? "
                    "ORDER BY bucket DESC LIMIT 1",
                    (symbol, bound),
                ).fetchone()
                if found is None or (best is not None and best >= found[0] + self.bucket_seconds):
                    return best
                bucket, last_ts = found
                if last_ts // 1000 < bound:
                    candidate: int | None = last_ts // 1000
                else:
                    earlier = [
                        s for s in self.sealed(conn, symbol, bucket, bucket).secs if s < bound
                    ]
                    candidate = earlier[-1] if earlier else None
                if candidate is not None:
                    return candidate if best is None else max(best, candidate)
                bound = bucket

    def latest_point(self, conn: sqlite3.Connection, symbol: str) -> PricePoint | None:
        """The newest point of a symbol."""
        with snapshot(conn):
            sec = self.latest_sec_before(conn, symbol, 2**62)
            if sec is None:
                return None
            cols = self.sealed(conn, symbol, sec, sec).merged(self.staged(conn, symbol, sec, sec))
        i = cols.secs.index(sec)
        return PricePoint(
            symbol, cols.secs[i] * 1000 + cols.ms[i], cols.prices[i], cols.pcts[i], cols.backfill[i]
        )

    def _fold_symbol(
        self,
        conn: sqlite3.Connection,
        symbol: str,
        lo_ms: int,
        hi_ms: int,
        summaries: dict[int, Summary],
        staged: dict[int, Ohlc],
    ) -> Ohlc | None:
        """Fold one symbol over [lo_ms, hi_ms] from bucket summaries and staged-row folds, decoding
        only buckets that are cut by the range or have newer rows on top of their blob."""
        size = self.bucket_seconds
        result: Ohlc | None = None
        for bucket in sorted(summaries.keys() | staged.keys()):
            inside = bucket * 1000 >= lo_ms and (bucket + size) * 1000 - 1 <= hi_ms
            summary = summaries.get(bucket)
            part: Ohlc | None
            if summary is not None and bucket not in staged and inside:
                _, n, first_ts, open_, last_ts, close, high, low = summary
                part = Ohlc(first_ts, open_, last_ts, close, high, low, n)
            elif summary is not None:
                end = bucket + size - 1
                cols = self.sealed(conn, symbol, bucket, end).merged(
                    self.staged(conn, symbol, bucket, end)
                )
                cols = cols.slice_ms(lo_ms, hi_ms)
                part = Ohlc.of(cols.ts(), cols.prices)
            else:
                part = staged[bucket]
            if part is not None:
                result = part if result is None else result.merge(part)
        return result

    def staged_folds(
        self, conn: sqlite3.Connection, lo_ms: int, hi_ms: int, symbol: str | None
    ) -> dict[str, dict[int, Ohlc]]:
        """Per symbol and bucket, the fold of staged rows with lo_ms <= ts <= hi_ms."""
        where = "sec BETWEEN ? AND ? AND sec * 1000 + ms BETWEEN ? AND ?"
        args: tuple[object, ...] = (lo_ms // 1000, hi_ms // 1000, lo_ms, hi_ms)
        if symbol is None:
            span = (lo_ms // 1000 // SLOT_SECONDS, hi_ms // 1000 // SLOT_SECONDS)
            where, args = f"slot BETWEEN ? AND ? AND {where}", (*span, *args)
        else:
            slots = slot_list(conn, lo_ms // 1000, hi_ms // 1000)
            if slots is None:
                return {}
            where, args = f"slot IN ({slots}) AND symbol = ? AND {where}", (symbol, *args)
        group = f"sec - sec % {self.bucket_seconds:d}"
        out: dict[str, dict[int, Ohlc]] = {}
        # The first and last rows of each group are found by primary-key joins, not a rescan.
        for sym, bucket, count, high, low, first_ts, open_, last_ts, close in conn.execute(
            f"SELECT g.symbol, g.bucket, g.n, g.high, g.low, f.sec * 1000 + f.ms, f.price, "
            f"l.sec * 1000 + l.ms, l.price FROM ("
            f"SELECT symbol, {group} AS bucket, count(*) AS n, max(price) AS high, min(price) AS low, "
            f"min(sec) AS first_sec, max(sec) AS last_sec FROM points WHERE {where} "
            f"GROUP BY symbol, bucket) AS g "
            f"JOIN points AS f ON f.slot = g.first_sec / {SLOT_SECONDS} "
            f"AND f.symbol = g.symbol AND f.sec = g.first_sec "
            f"JOIN points AS l ON l.slot = g.last_sec / {SLOT_SECONDS} "
            f"AND l.symbol = g.symbol AND l.sec = g.last_sec",
            args,
        ):
            out.setdefault(sym, {})[bucket] = Ohlc(
                first_ts, open_, last_ts, close, high, low, count
            )
        return out

    def fold(self, conn: sqlite3.Connection, symbol: str, lo_ms: int, hi_ms: int) -> Ohlc | None:
        """The fold of a symbol's points with lo_ms <= ts <= hi_ms."""
        with snapshot(conn):
            summaries = {
                row[0]: row
                for row in conn.execute(
                    f"SELECT {_SUMMARY} FROM buckets WHERE symbol = ? AND bucket BETWEEN ? AND ?",
                    (symbol, self._bucket(lo_ms // 1000), hi_ms // 1000),
                )
            }
            staged = self.staged_folds(conn, lo_ms, hi_ms, symbol).get(symbol, {})
            return self._fold_symbol(conn, symbol, lo_ms, hi_ms, summaries, staged)

    def recent_intervals(
        self,
        conn: sqlite3.Connection,
        scheme: IntervalScheme,
        symbol: str,
        count: int,
        interval_hour: int | None,
    ) -> list[tuple[int, Ohlc]]:
        """(start, fold) of the `count` most recent non-empty intervals, oldest first."""
        if not wants_intervals(scheme, count, interval_hour):
            return []
        found: list[tuple[int, Ohlc]] = []
        bound_sec = 2**62
        with snapshot(conn):
            while len(found) < count:  # each pass moves back at least one interval
                sec = self.latest_sec_before(conn, symbol, bound_sec)
                if sec is None:
                    break
                start = walk_start(scheme, sec * 1000, interval_hour)
                ohlc = self.fold(conn, symbol, start, scheme.end_of(start) - 1)
                if ohlc is not None:
                    found.append((start, ohlc))
                bound_sec = start // 1000
        found.reverse()
        return found
