"""Folds over every symbol at once (the 24-hour figures), with the work pushed into SQLite.

Buckets wholly inside the window are folded by SQL aggregates over their summaries; only the
bucket the window's edge cuts through is decoded, and unsealed rows are folded by SQL too. A
symbol with rows written on top of a sealed bucket (a late rewrite not merged yet) takes the
exact per-bucket path of `SeriesReader.fold`, as does one with a row at an edge second.
"""

from __future__ import annotations

import sqlite3

from actors.store.packed import decode
from actors.store.series import Ohlc
from actors.store.sqlite_series import SLOT_SECONDS, SeriesReader, snapshot


def _merge(into: dict[str, Ohlc], symbol: str, part: Ohlc | None) -> None:
    if part is not None:
        found = into.get(symbol)
        into[symbol] = part if found is None else found.merge(part)


def fold_all(
    conn: sqlite3.Connection, reader: SeriesReader, lo_ms: int, hi_ms: int
) -> dict[str, Ohlc]:
    """Per symbol fold of points with lo_ms <= ts <= hi_ms."""
    size = reader.bucket_seconds
    first = lo_ms // 1000 - (lo_ms // 1000) % size
    last = hi_ms // 1000 - (hi_ms // 1000) % size
    first_inside = first if first * 1000 >= lo_ms else first + size
    last_inside = last if (last + size) * 1000 - 1 <= hi_ms else last - size
    edges = sorted({b for b in (first, last) if not first_inside <= b <= last_inside})
    out: dict[str, Ohlc] = {}
    with snapshot(conn):
        staged = reader.staged_folds(conn, lo_ms, hi_ms, None)
        oldest_staged = min((b for buckets in staged.values() for b in buckets), default=None)
        slow: set[str] = set()
        if oldest_staged is not None:
            for symbol, bucket in conn.execute(
                "SELECT symbol, bucket FROM buckets WHERE bucket BETWEEN ? AND ?",
                (oldest_staged, last),
            ):
                if bucket in staged.get(symbol, {}):
                    slow.add(symbol)
        # A row at the window's first or last second may lie just outside the window while the
        # blob's older version of that second lies inside: those symbols need the exact path.
        for sec, bucket in ((lo_ms // 1000, first), (hi_ms // 1000, last)):
            if bucket in edges:
                slow.update(
                    symbol
                    for (symbol,) in conn.execute(
                        "SELECT p.symbol FROM bucket_data AS d JOIN points AS p "
                        "ON p.slot = ? AND p.symbol = d.symbol AND p.sec = ? WHERE d.bucket = ?",
                        (sec // SLOT_SECONDS, sec, bucket),
                    )
                )
        if first_inside <= last_inside:
            inside = "FROM buckets WHERE bucket BETWEEN ? AND ? GROUP BY symbol"
            span = (first_inside, last_inside)
            opens = {
                s: (ts, p)
                for s, ts, p in conn.execute(f"SELECT symbol, min(first_ts), open {inside}", span)
            }
            closes = {
                s: (ts, p)
                for s, ts, p in conn.execute(f"SELECT symbol, max(last_ts), close {inside}", span)
            }
            for symbol, count, high, low in conn.execute(
                f"SELECT symbol, sum(n), max(high), min(low) {inside}", span
            ):
                (first_ts, open_), (last_ts, close) = opens[symbol], closes[symbol]
                _merge(out, symbol, Ohlc(first_ts, open_, last_ts, close, high, low, count))
        for edge in edges:
            for symbol, data in conn.execute(
                "SELECT symbol, data FROM bucket_data WHERE bucket = ?", (edge,)
            ):
                cols = decode(data, edge).slice_ms(lo_ms, hi_ms)
                _merge(out, symbol, Ohlc.of(cols.ts(), cols.prices))
        for symbol, buckets in staged.items():
            for part in buckets.values():
                _merge(out, symbol, part)
        for symbol in slow:  # overwrite whatever the fast path folded for these
            exact = reader.fold(conn, symbol, lo_ms, hi_ms)
            if exact is None:
                out.pop(symbol, None)
            else:
                out[symbol] = exact
    return out
