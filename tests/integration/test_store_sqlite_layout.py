"""The packed SQLite layout against a plain model: random writes (late rewrites of sealed
seconds, duplicates within a batch, points exactly on boundaries), every query compared."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pytest

from actors.messages import IntervalAggregate, PricePoint, Stats24h
from actors.store import IntervalScheme, open_store
from actors.store.series import Ohlc
from actors.store.sqlite import SqliteStore

HOUR = 3_600_000
START = 1_707_177_600_000 - 2 * HOUR  # 22:00 UTC: the data crosses midnight and the 01:00 boundary
SCHEME = IntervalScheme()


class Model:
    """The contract, naively: a dict of the latest point per (symbol, second)."""

    def __init__(self) -> None:
        self.points: dict[tuple[str, int], PricePoint] = {}

    def write(self, points: list[PricePoint]) -> None:
        for p in points:
            self.points[(p.symbol, p.ts // 1000)] = p

    def series(self, symbol: str, lo: int, hi: int) -> list[PricePoint]:
        return sorted(
            (p for (s, _), p in self.points.items() if s == symbol and lo <= p.ts <= hi),
            key=lambda p: p.ts,
        )

    def fold(self, symbol: str, lo: int, hi: int) -> Ohlc | None:
        pts = self.series(symbol, lo, hi)
        return Ohlc.of([p.ts for p in pts], [p.price for p in pts])

    def aggregate(self, symbol: str, start: int) -> IntervalAggregate | None:
        ohlc = self.fold(symbol, start, SCHEME.end_of(start) - 1)
        return None if ohlc is None else ohlc.aggregate(symbol, SCHEME, start)

    def recent(self, symbol: str, count: int, hour: int | None) -> list[IntervalAggregate]:
        starts = sorted({SCHEME.start_of(p.ts) for (s, _), p in self.points.items() if s == symbol})
        if hour is not None:
            starts = [s for s in starts if SCHEME.hour_of(s) == hour]
        return (
            [a for a in (self.aggregate(symbol, s) for s in starts[-count:]) if a is not None]
            if count
            else []
        )

    def stats(self, now: int) -> list[Stats24h]:
        symbols = sorted({s for s, _ in self.points})
        folds = [(s, self.fold(s, now - 24 * HOUR + 1, now)) for s in symbols]
        return [ohlc.stats(s) for s, ohlc in folds if ohlc is not None]

    def prune(self, ts: int) -> None:
        self.points = {k: p for k, p in self.points.items() if p.ts >= ts}


def random_batch(rng: random.Random, symbols: list[str], now_sec: int) -> list[PricePoint]:
    batch = []
    for _ in range(rng.randint(1, 120)):
        roll = rng.random()
        if roll < 0.8:
            sec = now_sec - rng.randint(0, 20)  # recent
        elif roll < 0.95:
            sec = now_sec - rng.randint(60, 3 * 3600)  # late: lands in a sealed bucket
        else:
            sec = (now_sec // 3600 - rng.randint(0, 3)) * 3600  # exactly on an hour boundary
        ms = rng.choice([0, 999, rng.randint(0, 999)])
        pct = (
            None
            if rng.random() < 0.1
            else rng.choice([round(rng.uniform(-9, 9), 3), rng.uniform(-9, 9)])
        )
        price = rng.choice([round(rng.uniform(1, 100), 2), rng.uniform(0.001, 1), 0.1 + 0.2])
        batch.append(
            PricePoint(rng.choice(symbols), sec * 1000 + ms, price, pct, rng.random() < 0.05)
        )
    return batch


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_packed_layout_matches_model(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    url = f"sqlite:///{tmp_path / 'layout.db'}"
    store = SqliteStore(url, SCHEME, bucket_seconds=60, grace_seconds=5)
    await store.open()
    model = Model()
    symbols = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]
    try:
        now_sec = START // 1000
        for _ in range(150):
            now_sec += rng.randint(1, 200)
            batch = random_batch(rng, symbols, now_sec)
            await store.write_points(batch)
            model.write(batch)
        # A writer that never seals (another process, say) puts rows on top of sealed buckets:
        # reads must let them win, and the all-symbol fold must take its exact path.
        other = SqliteStore(url, SCHEME, packed=False)
        await other.open()
        try:
            batch = random_batch(rng, symbols, now_sec)
            await other.write_points(batch)
            model.write(batch)
        finally:
            await other.close()
        end = now_sec * 1000 + 1000
        for symbol in symbols:
            assert await store.points_between(symbol, 0, end) == model.series(symbol, 0, end)
            for _ in range(10):
                lo = rng.randint(START - HOUR, end)
                hi = lo + rng.randint(0, 3 * HOUR)
                assert await store.points_between(symbol, lo, hi) == model.series(symbol, lo, hi)
            latest = model.series(symbol, 0, end)
            assert await store.latest_point(symbol) == (latest[-1] if latest else None)
            start = SCHEME.start_of(START - 24 * HOUR)
            while start < end:
                assert await store.interval_aggregate(symbol, start) == model.aggregate(
                    symbol, start
                )
                start = SCHEME.end_of(start)
            for count, hour in [(6, None), (2, None), (3, 1), (5, 21), (1, 17)]:
                assert await store.recent_intervals(symbol, count, hour) == model.recent(
                    symbol, count, hour
                )
        # Windows whose edges fall inside the second of a stored point, just before or after it.
        near = [p.ts for p in rng.sample(sorted(model.points.values(), key=lambda p: p.ts), 3)]
        nows = [
            end,
            end - 3 * HOUR + 17,
            START + HOUR,
            *(rng.randint(START, end) for _ in range(2)),
        ]
        nows += [t + d for t in near for d in (-1, 0, 24 * HOUR - 1, 24 * HOUR)]
        for now in nows:
            assert await store.stats_24h(now) == model.stats(now)
        cut = rng.randint(START, end)
        await store.prune_before(cut)
        model.prune(cut)
        for symbol in symbols:
            assert await store.points_between(symbol, 0, end) == model.series(symbol, 0, end)
            assert await store.recent_intervals(symbol, 6) == model.recent(symbol, 6, None)
    finally:
        await store.close()


async def test_unsealed_rows_of_an_older_file_are_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE points (symbol TEXT NOT NULL, sec INTEGER NOT NULL, ms INTEGER NOT NULL, "
        "price REAL NOT NULL, pct REAL, backfill INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (symbol, sec)) WITHOUT ROWID"
    )
    old.execute("INSERT INTO points VALUES ('BTCUSDT', 1707220800, 123, 42000.5, 1.5, 1)")
    old.commit()
    old.close()
    store = SqliteStore(f"sqlite:///{path}", SCHEME)
    await store.open()
    try:
        expected = PricePoint("BTCUSDT", 1_707_220_800_123, 42000.5, 1.5, True)
        assert await store.latest_point("BTCUSDT") == expected
        await store.write_points([PricePoint("BTCUSDT", 1_707_220_801_000, 1.0)])
        assert len(await store.points_between("BTCUSDT", 0, 2**62)) == 2
    finally:
        await store.close()


async def test_a_users_table_without_token_versions_is_migrated(tmp_path: Path) -> None:
    """Files from before issue 12 get `token_version` (0 for every existing account)."""
    path = tmp_path / "old-users.db"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE users (id TEXT PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL UNIQUE,"
        " password_hash TEXT NOT NULL, role TEXT NOT NULL, created_at INTEGER NOT NULL,"
        " updated_at INTEGER NOT NULL)"
    )
    old.execute("INSERT INTO users VALUES ('u1', 'Old', 'old@example.com', 'h', 'user', 1, 1)")
    old.commit()
    old.close()
    store = open_store(f"sqlite:///{path}", IntervalScheme())
    await store.open()
    try:
        user = await store.get_user("u1")
        assert user is not None and user.token_version == 0
        promoted = await store.set_user_role("old@example.com", "admin")
        assert promoted is not None and promoted.token_version == 1
    finally:
        await store.close()


async def test_a_symbols_table_without_the_admin_flag_is_migrated(tmp_path: Path) -> None:
    """Files from before live listings get `admin_inactive` (0: no admin decision recorded)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE symbols (id TEXT PRIMARY KEY, symbol TEXT NOT NULL UNIQUE, "
            "base_asset TEXT NOT NULL, quote_asset TEXT NOT NULL, is_active INTEGER NOT NULL, "
            "created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)"
        )
        conn.execute("INSERT INTO symbols VALUES ('a1', 'AUSDT', 'A', 'USDT', 0, 1, 1)")
    store = open_store(f"sqlite:///{path}", SCHEME)
    await store.open()
    try:
        [old] = await store.list_symbols()
        assert old.symbol == "AUSDT" and not old.is_active and not old.admin_inactive
        assert await store.set_listed(["AUSDT"], True) == ["AUSDT"]
    finally:
        await store.close()
