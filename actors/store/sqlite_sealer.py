"""The price series in SQLite, write side: upsert rows, seal finished buckets into packed blobs,
prune old data in short chunks. See sqlite_series.py for the layout.

A `SeriesWriter` lives on the writer connection's thread. Its memory (the sealing frontier and
the queue of buckets to seal) is only a schedule: losing it never loses or hides a point,
because reads merge rows and blobs and the next frontier advance finds every unsealed row.
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Sequence

from actors.messages import PricePoint
from actors.store.intervals import IntervalScheme
from actors.store.packed import Columns, encode
from actors.store.sqlite_conn import Transaction
from actors.store.sqlite_series import SLOT_SECONDS, SeriesReader, slot_list

_UPSERT = (
    "INSERT INTO points (slot, symbol, sec, ms, price, pct, backfill) VALUES (?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (slot, symbol, sec) DO UPDATE SET ms = excluded.ms, price = excluded.price, "
    "pct = excluded.pct, backfill = excluded.backfill"
)
_SAVE_SUMMARY = "INSERT OR REPLACE INTO buckets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SAVE_DATA = "INSERT OR REPLACE INTO bucket_data (symbol, bucket, data) VALUES (?, ?, ?)"
Row = tuple[
    int, str, int, int, float, float | None, int
]  # slot, symbol, sec, ms, price, pct, backfill
FUTURE_SLACK_SECONDS = 3600
PRUNE_BUCKETS = 256  # buckets deleted per prune transaction
PRUNE_ROWS = 20_000  # rows deleted per prune transaction
RESEAL_BUCKETS = 32  # cut buckets rewritten per prune transaction


class SeriesWriter:
    """Writes points and seals every bucket that ended `grace_seconds` before the newest point."""

    def __init__(
        self, scheme: IntervalScheme, bucket_seconds: int, packed: bool, grace_seconds: int = 120
    ) -> None:
        if bucket_seconds <= 0 or 3600 % bucket_seconds:
            raise ValueError(
                "bucket_seconds must divide 3600, so buckets never straddle an interval"
            )
        self.scheme = scheme
        self.size = bucket_seconds
        self.packed = packed
        self.grace = grace_seconds
        self.reader = SeriesReader(bucket_seconds)
        self._newest_sec: int | None = None
        self._frontier = 0  # buckets starting before this second are due for sealing
        self._due: deque[tuple[str, int]] = deque()

    def _bucket(self, sec: int) -> int:
        return sec - sec % self.size

    def write(self, conn: sqlite3.Connection, points: Sequence[PricePoint]) -> int:
        """Upsert points (the later point of a second wins), seal some due buckets; atomically."""
        rows = [
            (
                p.ts // 1000 // SLOT_SECONDS,
                p.symbol,
                p.ts // 1000,
                p.ts % 1000,
                p.price,
                p.pct,
                int(p.backfill),
            )
            for p in points
        ]
        try:
            with Transaction(conn):
                conn.executemany(_UPSERT, rows)
                if self.packed and rows:
                    self._seal_some(conn, rows)
        except BaseException:
            self._forget_schedule()
            raise
        return len(rows)

    def _forget_schedule(self) -> None:
        self._frontier = 0
        self._due.clear()

    def _seal_some(self, conn: sqlite3.Connection, rows: list[Row]) -> None:
        # A bogus far-future time must not seal the live buckets (correct, but every flush
        # would then rewrite blobs), so the clock caps what counts as newest.
        newest = min(max(row[2] for row in rows), int(time.time()) + FUTURE_SLACK_SECONDS)
        if self._newest_sec is None or newest > self._newest_sec:
            self._newest_sec = newest
        late = {(row[1], self._bucket(row[2])) for row in rows if row[2] < self._frontier}
        frontier = self._bucket(self._newest_sec - self.grace)
        if frontier > self._frontier:
            self._due.extend(
                conn.execute(
                    f"SELECT DISTINCT symbol, sec - sec % {self.size:d} FROM points "
                    f"WHERE slot <= ? AND sec < ?",
                    (frontier // SLOT_SECONDS, frontier),
                )
            )
            self._frontier = frontier
        for symbol, bucket in late:  # rare: a rewrite of an old second goes straight into its blob
            self.seal(conn, symbol, bucket)
        budget = max(20_000, 4 * len(rows))  # keeps sealing work in proportion to writing work
        while self._due and budget > 0:
            budget -= self.seal(conn, *self._due.popleft())

    def seal(self, conn: sqlite3.Connection, symbol: str, bucket: int) -> int:
        """Merge a bucket's rows into its blob (rows win) and delete them; returns rows sealed."""
        end = bucket + self.size - 1
        staged = self.reader.staged(conn, symbol, bucket, end)
        if not staged.secs:
            return 0
        cols = self.reader.sealed(conn, symbol, bucket, end).merged(staged)
        self._save(conn, symbol, bucket, cols)
        slots = slot_list(conn, bucket, end)
        conn.execute(
            f"DELETE FROM points WHERE slot IN ({slots}) AND symbol = ? AND sec BETWEEN ? AND ?",
            (symbol, bucket, end),
        )
        return len(staged)

    def _save(self, conn: sqlite3.Connection, symbol: str, bucket: int, cols: Columns) -> None:
        if not cols.secs:
            conn.execute("DELETE FROM buckets WHERE symbol = ? AND bucket = ?", (symbol, bucket))
            conn.execute(
                "DELETE FROM bucket_data WHERE symbol = ? AND bucket = ?", (symbol, bucket)
            )
            return
        start, hour = self.scheme.tag(bucket * 1000)
        ts, prices = cols.ts(), cols.prices
        conn.execute(_SAVE_DATA, (symbol, bucket, encode(cols, bucket)))
        conn.execute(
            _SAVE_SUMMARY,
            (
                symbol,
                bucket,
                start,
                hour,
                len(ts),
                ts[0],
                prices[0],
                ts[-1],
                prices[-1],
                max(prices),
                min(prices),
            ),
        )

    def prune_chunk(self, conn: sqlite3.Connection, ts_ms: int) -> tuple[int, bool]:
        """Delete one short transaction's worth of points older than ts_ms: whole buckets first,
        then buckets the cut goes through, then rows. Returns (points deleted, all done)."""
        whole_before = self._bucket(ts_ms // 1000)  # buckets before this one end before ts_ms
        with Transaction(conn):
            doomed = conn.execute(
                "SELECT symbol, bucket, n FROM buckets WHERE bucket < ? LIMIT ?",
                (whole_before, PRUNE_BUCKETS),
            ).fetchall()
            if doomed:
                keys = [(symbol, bucket) for symbol, bucket, _ in doomed]
                conn.executemany("DELETE FROM buckets WHERE symbol = ? AND bucket = ?", keys)
                conn.executemany("DELETE FROM bucket_data WHERE symbol = ? AND bucket = ?", keys)
                return sum(n for _, _, n in doomed), False
            cut = conn.execute(
                "SELECT symbol, bucket, n FROM buckets WHERE bucket = ? AND first_ts < ? LIMIT ?",
                (whole_before, ts_ms, RESEAL_BUCKETS),
            ).fetchall()
            if cut:
                removed = 0
                for symbol, bucket, n in cut:
                    cols = self.reader.sealed(conn, symbol, bucket, bucket)
                    kept = cols.slice_ms(ts_ms, 2**62)
                    self._save(conn, symbol, bucket, kept)
                    removed += n - len(kept)
                return removed, False
            gone = conn.execute(
                "DELETE FROM points WHERE (slot, symbol, sec) IN (SELECT slot, symbol, sec "
                "FROM points WHERE slot <= ? AND sec * 1000 + ms < ? LIMIT ?)",
                (ts_ms // 1000 // SLOT_SECONDS, ts_ms, PRUNE_ROWS),
            ).rowcount
            return gone, gone < PRUNE_ROWS
