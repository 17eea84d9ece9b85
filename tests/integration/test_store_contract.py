"""The Store contract (actors/store/base.py), run against SQLite and, when MONGODB_URL is set,
MongoDB. Every test here must pass on both."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from actors.messages import NewSymbol, PricePoint
from actors.store import DuplicateError, IntervalScheme, Store, StoreError, open_store
from actors.store.sqlite import SqliteStore

DAY = 86_400_000
HOUR = 3_600_000
MIDNIGHT = 1_707_177_600_000  # 2024-02-06T00:00:00Z
SCHEME = IntervalScheme(hours=4, offset_hours=1)


def _mongo_url_for_test() -> str:
    base = os.environ["MONGODB_URL"]
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/bs_test_{uuid.uuid4().hex[:10]}"))


@pytest.fixture(params=["sqlite", "sqlite-small-buckets", "sqlite-plain-rows", "mongo"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """The default SQLite store, two SQLite layout variants (buckets sealed almost at once; never
    sealed), and MongoDB when MONGODB_URL is set."""
    sqlite_url = f"sqlite:///{tmp_path / 'contract.db'}"
    opened: Store
    if request.param == "sqlite":
        opened = open_store(sqlite_url, SCHEME)
    elif request.param == "sqlite-small-buckets":
        opened = SqliteStore(sqlite_url, SCHEME, bucket_seconds=60, grace_seconds=0)
    elif request.param == "sqlite-plain-rows":
        opened = SqliteStore(sqlite_url, SCHEME, packed=False)
    else:
        if not os.environ.get("MONGODB_URL"):
            pytest.skip("MONGODB_URL not set")
        opened = open_store(_mongo_url_for_test(), SCHEME)
    await opened.open()
    yield opened
    if request.param == "mongo":
        await opened.drop_database()  # type: ignore[attr-defined]
    await opened.close()


def pt(
    symbol: str, ts: int, price: float, pct: float | None = None, backfill: bool = False
) -> PricePoint:
    return PricePoint(symbol, ts, price, pct, backfill)


def series(
    symbol: str, start: int, seconds: int, step_ms: int = 1000, base: float = 100.0
) -> list[PricePoint]:
    """One point per `step_ms` from `start`, prices rising by 0.01 (exact decimal prices)."""
    return [
        pt(symbol, start + i * step_ms + 123, round(base + i * 0.01, 2), 1.5)
        for i in range(seconds)
    ]


# users


async def test_users_unique_email_case_insensitive(store: Store) -> None:
    user = await store.create_user("Ann", "Ann@Example.COM", "hash1", "user")
    assert user.email == "ann@example.com" and user.role == "user" and isinstance(user.id, str)
    assert await store.get_user_by_email("ANN@example.com") == user
    assert await store.get_user(user.id) == user
    with pytest.raises(DuplicateError) as info:
        await store.create_user("Other", "ann@EXAMPLE.com", "hash2", "admin")
    assert info.value.field == "email"
    assert await store.get_user_by_email("nobody@example.com") is None
    assert await store.get_user("no-such-id") is None


async def test_set_user_role(store: Store) -> None:
    await store.create_user("Bob", "bob@example.com", "h", "user")
    changed = await store.set_user_role("BOB@example.com", "admin", "h2")
    assert changed is not None and changed.role == "admin" and changed.password_hash == "h2"
    kept = await store.set_user_role("bob@example.com", "user")
    assert kept is not None and kept.role == "user" and kept.password_hash == "h2"


async def test_every_role_or_password_change_bumps_the_token_version(store: Store) -> None:
    """Issue 12, attack 3: a token issued before a promotion must not outlive it."""
    created = await store.create_user("Eve", "eve@example.com", "h", "user")
    assert created.token_version == 0
    promoted = await store.set_user_role("eve@example.com", "admin")
    assert promoted is not None and promoted.token_version == 1
    repassworded = await store.set_user_role("eve@example.com", "admin", "h2")
    assert repassworded is not None and repassworded.token_version == 2
    assert await store.get_user(created.id) == repassworded
    assert await store.set_user_role("ghost@example.com", "admin") is None
    with pytest.raises(ValueError):
        await store.set_user_role("bob@example.com", "root")


# symbols


async def test_symbols_create_list_get(store: Store) -> None:
    version = await store.symbols_version()
    eth = await store.create_symbol(NewSymbol("ethusdt", "eth", "usdt"))
    btc = await store.create_symbol(NewSymbol("BTCUSDT", "BTC", "USDT", is_active=False))
    assert eth.symbol == "ETHUSDT" and eth.base_asset == "ETH" and eth.is_active
    assert eth.created_at == eth.updated_at > 0
    assert await store.symbols_version() != version
    assert [s.symbol for s in await store.list_symbols()] == ["BTCUSDT", "ETHUSDT"]
    assert [s.symbol for s in await store.list_symbols(active_only=True)] == ["ETHUSDT"]
    assert await store.get_symbol(btc.id) == btc
    assert await store.get_symbol_by_name("btcusdt") == btc
    assert await store.get_symbol("missing") is None
    with pytest.raises(DuplicateError) as info:
        await store.create_symbol(NewSymbol("ETHUSDT", "ETH", "USDT"))
    assert info.value.field == "symbol" and info.value.value == "ETHUSDT"


async def test_create_symbols_all_or_none(store: Store) -> None:
    await store.create_symbol(NewSymbol("BNBUSDT", "BNB", "USDT"))
    version = await store.symbols_version()
    with pytest.raises(DuplicateError) as info:
        await store.create_symbols(
            [NewSymbol("ADAUSDT", "ADA", "USDT"), NewSymbol("BNBUSDT", "BNB", "USDT")]
        )
    assert info.value.value == "BNBUSDT"
    with pytest.raises(DuplicateError):
        await store.create_symbols(
            [NewSymbol("XRPUSDT", "XRP", "USDT"), NewSymbol("xrpusdt", "XRP", "USDT")]
        )
    assert [s.symbol for s in await store.list_symbols()] == ["BNBUSDT"]
    assert await store.symbols_version() == version
    made = await store.create_symbols(
        [NewSymbol("ADAUSDT", "ADA", "USDT"), NewSymbol("XRPUSDT", "XRP", "USDT")]
    )
    assert [s.symbol for s in made] == ["ADAUSDT", "XRPUSDT"]
    assert len({s.id for s in made}) == 2


async def test_upsert_update_delete_symbols(store: Store) -> None:
    written = await store.upsert_symbols(
        [NewSymbol("SOLUSDT", "SOL", "USDT"), NewSymbol("DOTUSDT", "DOT", "USDT")]
    )
    assert written == 2
    version = await store.symbols_version()
    assert await store.upsert_symbols([NewSymbol("SOLUSDT", "SOL", "USDT")]) == 0
    assert await store.symbols_version() == version
    assert await store.upsert_symbols([NewSymbol("SOLUSDT", "SOL", "USDT", is_active=False)]) == 1
    sol = await store.get_symbol_by_name("SOLUSDT")
    assert sol is not None and not sol.is_active
    assert await store.symbols_version() != version

    version = await store.symbols_version()
    updated = await store.update_symbol(
        sol.id, {"isActive": True, "quoteAsset": "usdc", "symbol": "solusdc"}
    )
    assert (
        updated is not None
        and updated.is_active
        and updated.symbol == "SOLUSDC"
        and updated.quote_asset == "USDC"
    )
    assert updated.created_at == sol.created_at and updated.updated_at >= sol.updated_at
    assert await store.symbols_version() != version
    dot = await store.get_symbol_by_name("DOTUSDT")
    assert dot is not None
    with pytest.raises(DuplicateError):
        await store.update_symbol(dot.id, {"symbol": "SOLUSDC"})
    assert await store.get_symbol(dot.id) == dot
    assert await store.update_symbol("missing", {"isActive": False}) is None

    version = await store.symbols_version()
    assert await store.delete_symbol(dot.id)
    assert not await store.delete_symbol(dot.id)
    assert await store.get_symbol(dot.id) is None
    assert await store.symbols_version() != version


async def test_the_exchange_lists_and_delists_but_an_admins_deactivation_wins(
    store: Store,
) -> None:
    await store.upsert_symbols([NewSymbol(n, n[:-4], "USDT") for n in ("AUSDT", "BUSDT", "CUSDT")])
    b = await store.get_symbol_by_name("BUSDT")
    assert b is not None and not b.admin_inactive
    admin_off = await store.update_symbol(b.id, {"isActive": False})
    assert admin_off is not None and admin_off.admin_inactive and not admin_off.is_active
    version = await store.symbols_version()
    assert await store.set_listed(["AUSDT", "CUSDT"], False) == ["AUSDT", "CUSDT"]
    assert await store.symbols_version() != version
    version = await store.symbols_version()
    assert await store.set_listed(["AUSDT"], False) == []  # no change: no version bump
    assert await store.symbols_version() == version
    assert await store.set_listed(["AUSDT", "BUSDT", "CUSDT"], True) == ["AUSDT", "CUSDT"]
    listed = {s.symbol: s for s in await store.list_symbols()}
    assert listed["AUSDT"].is_active and not listed["BUSDT"].is_active  # the admin's decision
    assert await store.upsert_symbols([NewSymbol("BUSDT", "B", "USDT")]) == 0  # seed-symbols too
    assert not (await store.get_symbol_by_name("BUSDT") or b).is_active
    admin_on = await store.update_symbol(b.id, {"isActive": True})
    assert admin_on is not None and admin_on.is_active and not admin_on.admin_inactive
    created_off = await store.create_symbol(NewSymbol("DUSDT", "D", "USDT", is_active=False))
    assert created_off.admin_inactive
    assert await store.set_listed(["DUSDT"], True) == []


# price points


async def test_points_round_trip_exactly(store: Store) -> None:
    points = [
        pt("BTCUSDT", 1_707_220_800_123, 42_123.45, -1.234),
        pt("BTCUSDT", 1_707_220_801_999, 0.1 + 0.2, None, True),  # not a short decimal: still exact
        pt("BTCUSDT", 1_707_220_802_000, 1e-8, 12.5),
        pt("BTCUSDT", 1_707_220_803_001, 0.00001234, (43.2 - 41.7) / 41.7 * 100),
    ]
    assert await store.write_points(points) == 4
    got = await store.points_between("BTCUSDT", 1_707_220_800_000, 1_707_220_804_000)
    assert got == points
    assert await store.latest_point("BTCUSDT") == points[-1]
    assert await store.latest_point("ETHUSDT") is None


async def test_write_is_idempotent_per_second_and_later_wins(store: Store) -> None:
    first = series("ETHUSDT", MIDNIGHT + 5 * HOUR, 10)
    await store.write_points(first)
    await store.write_points(first)
    again = [
        pt("ETHUSDT", MIDNIGHT + 5 * HOUR + 3_700, 7.0),
        pt("ETHUSDT", MIDNIGHT + 5 * HOUR + 3_900, 8.0),
    ]
    await store.write_points(again)  # both fall in second 3; the later one wins
    got = await store.points_between("ETHUSDT", MIDNIGHT, MIDNIGHT + DAY)
    assert len(got) == 10
    assert got[3] == again[1]
    assert got[:3] == first[:3] and got[4:] == first[4:]


async def test_imported_ranges_are_kept_per_symbol_and_only_grow(store: Store) -> None:
    assert await store.imported_ranges("BTCUSDT") == []
    await store.mark_imported("BTCUSDT", 2_000, 2_999)
    await store.mark_imported("BTCUSDT", 1_000, 1_999)
    await store.mark_imported("BTCUSDT", 1_000, 1_500)  # a shorter record never shrinks one
    await store.mark_imported("ETHUSDT", 5, 9)
    assert await store.imported_ranges("BTCUSDT") == [(1_000, 1_999), (2_000, 2_999)]
    assert await store.imported_ranges("ETHUSDT") == [(5, 9)]


async def test_non_finite_prices_are_refused_and_nothing_is_written(store: Store) -> None:
    good = pt("ETHUSDT", MIDNIGHT, 1.0)
    for bad in (
        pt("ETHUSDT", MIDNIGHT + 1_000, float("nan")),
        pt("ETHUSDT", MIDNIGHT + 1_000, 2.0, float("inf")),
    ):
        with pytest.raises(ValueError):
            await store.write_points([good, bad])
    assert await store.latest_point("ETHUSDT") is None


async def test_points_between_bounds_order_limit(store: Store) -> None:
    pts = series("ADAUSDT", MIDNIGHT, 30)
    await store.write_points(list(reversed(pts)))
    await store.write_points(series("XRPUSDT", MIDNIGHT, 30))
    got = await store.points_between("ADAUSDT", pts[5].ts, pts[9].ts)
    assert got == pts[5:10]
    assert await store.points_between("ADAUSDT", pts[5].ts + 1, pts[9].ts - 1) == pts[6:9]
    assert await store.points_between("ADAUSDT", pts[0].ts, pts[-1].ts, limit=4) == pts[:4]
    assert await store.points_between("ADAUSDT", pts[-1].ts + 1, pts[-1].ts + HOUR) == []


async def test_a_limit_is_the_first_points_whatever_the_gaps(store: Store) -> None:
    """A limited range is the unlimited one cut at `limit`: across a dense run, a gap of hours,
    a run a minute apart and a lone late point (the SQLite store reads limited ranges in
    widening windows)."""
    dense = series("SOLUSDT", MIDNIGHT, 50)
    sparse = series("SOLUSDT", MIDNIGHT + 3 * HOUR, 20, step_ms=60_000)
    late = [pt("SOLUSDT", MIDNIGHT + 20 * HOUR + 5, 7.0)]
    await store.write_points(dense + sparse + late)
    whole = await store.points_between("SOLUSDT", MIDNIGHT + 10_500, MIDNIGHT + DAY - 1)
    assert whole == (dense + sparse + late)[11:]
    for limit in (1, 5, 39, 40, 41, 55, 59, 60, 1_000):
        got = await store.points_between("SOLUSDT", MIDNIGHT + 10_500, MIDNIGHT + DAY - 1, limit)
        assert got == whole[:limit], limit
    assert await store.points_between("SOLUSDT", 0, MIDNIGHT + DAY, 1) == dense[:1]


async def test_interval_aggregate_and_boundaries(store: Store) -> None:
    start = MIDNIGHT + 21 * HOUR  # the 21:00 interval ends at 01:00 the next day
    points = [
        pt("BNBUSDT", start - 1_000, 1.0),  # 20:59:59: previous interval
        pt("BNBUSDT", start, 10.0),  # exactly on the boundary: opens this interval
        pt("BNBUSDT", start + 2 * HOUR, 30.0),
        pt("BNBUSDT", MIDNIGHT + DAY + 30_000, 5.0),  # past midnight, still this interval
        pt("BNBUSDT", start + 4 * HOUR - 1_000, 20.0),  # 00:59:59 next day: last of this interval
        pt("BNBUSDT", start + 4 * HOUR, 99.0),  # 01:00: the next interval
    ]
    await store.write_points(points)
    agg = await store.interval_aggregate("BNBUSDT", start)
    assert agg is not None
    assert (agg.interval_start_time, agg.interval_end_time, agg.interval_hour) == (
        start,
        start + 4 * HOUR,
        21,
    )
    assert (agg.open, agg.high, agg.low, agg.close, agg.count) == (10.0, 30.0, 5.0, 20.0, 4)
    nxt = await store.interval_aggregate("BNBUSDT", start + 4 * HOUR)
    assert (
        nxt is not None
        and nxt.interval_hour == 1
        and nxt.count == 1
        and nxt.open == nxt.close == 99.0
    )
    assert await store.interval_aggregate("BNBUSDT", start - 8 * HOUR) is None
    assert await store.interval_aggregate("ETHUSDT", start) is None


async def test_recent_intervals(store: Store) -> None:
    # Points at 02:00 on day 0, 10:00 and 14:00 and 22:00 on day 1, and 03:00 day 2 (the open one).
    times = [
        MIDNIGHT + 2 * HOUR,
        MIDNIGHT + DAY + 10 * HOUR,
        MIDNIGHT + DAY + 14 * HOUR,
        MIDNIGHT + DAY + 22 * HOUR,
        MIDNIGHT + 2 * DAY + 3 * HOUR,
    ]
    await store.write_points([pt("SOLUSDT", t, float(i + 1)) for i, t in enumerate(times)])
    recent = await store.recent_intervals("SOLUSDT", 3)
    assert [a.interval_start_time for a in recent] == [
        MIDNIGHT + DAY + 13 * HOUR,
        MIDNIGHT + DAY + 21 * HOUR,
        MIDNIGHT + 2 * DAY + HOUR,
    ]
    assert [a.close for a in recent] == [3.0, 4.0, 5.0]
    every = await store.recent_intervals("SOLUSDT", 10)
    assert [a.interval_hour for a in every] == [1, 9, 13, 21, 1]
    only_one = await store.recent_intervals("SOLUSDT", 10, interval_hour=1)
    assert [a.interval_start_time for a in only_one] == [MIDNIGHT + HOUR, MIDNIGHT + 2 * DAY + HOUR]
    assert await store.recent_intervals("SOLUSDT", 10, interval_hour=9) == [every[1]]
    assert await store.recent_intervals("SOLUSDT", 10, interval_hour=17) == []
    assert await store.recent_intervals("SOLUSDT", 10, interval_hour=3) == []
    assert await store.recent_intervals("DOGEUSDT", 5) == []


async def test_stats_24h(store: Store) -> None:
    now = MIDNIGHT + DAY
    await store.write_points(
        [
            pt("ETHUSDT", now - DAY, 1.0),  # exactly 24 h ago: outside (now - 24 h, now]
            pt("ETHUSDT", now - DAY + 1_000, 100.0),
            pt("ETHUSDT", now - HOUR, 150.0),
            pt("ETHUSDT", now - 2 * HOUR, 50.0),
            pt("ETHUSDT", now, 110.0),
            pt("ETHUSDT", now + 1_000, 999.0),  # after now: outside
            pt("BTCUSDT", now - 10_000, 20.0),
            pt("ADAUSDT", now - 2 * DAY, 1.0),  # nothing inside the window
        ]
    )
    stats = await store.stats_24h(now)
    assert [s.symbol for s in stats] == ["BTCUSDT", "ETHUSDT"]
    eth = stats[1]
    assert (eth.open, eth.high, eth.low, eth.last, eth.count) == (100.0, 150.0, 50.0, 110.0, 4)
    assert eth.change == pytest.approx(10.0) and eth.change_percent == pytest.approx(10.0)
    btc = stats[0]
    assert (btc.open, btc.last, btc.change, btc.change_percent, btc.count) == (
        20.0,
        20.0,
        0.0,
        0.0,
        1,
    )


async def test_prune_before(store: Store) -> None:
    await store.write_points(series("DOTUSDT", MIDNIGHT, 100, step_ms=60_000))
    cut = MIDNIGHT + 50 * 60_000 + 123
    removed = await store.prune_before(cut)
    assert removed > 0
    left = await store.points_between("DOTUSDT", 0, MIDNIGHT + DAY)
    assert left[0].ts == cut and len(left) == 50
    assert await store.latest_point("DOTUSDT") == left[-1]


async def test_long_series_across_buckets_with_late_overwrites(store: Store) -> None:
    # Seven hours at 1 Hz: spans intervals and storage buckets; then rewrite old seconds.
    start = MIDNIGHT + 3 * HOUR
    pts = series("LTCUSDT", start, 7 * 3600)
    for i in range(0, len(pts), 5_000):
        await store.write_points(pts[i : i + 5_000])
    late = [
        pt("LTCUSDT", start + 10 * 1000 + 500, 1e6, None, True),
        pt("LTCUSDT", start + 7 * HOUR - 1000, 0.5),
    ]
    await store.write_points(late)
    expected = list(pts)
    expected[10] = late[0]
    expected[-1] = late[1]
    assert await store.points_between("LTCUSDT", start, start + 7 * HOUR) == expected
    agg = await store.interval_aggregate("LTCUSDT", MIDNIGHT + HOUR)
    assert (
        agg is not None and agg.count == 2 * 3600 and agg.high == 1e6 and agg.open == pts[0].price
    )
    recent = await store.recent_intervals("LTCUSDT", 6)
    assert [a.interval_start_time for a in recent] == [
        MIDNIGHT + HOUR,
        MIDNIGHT + 5 * HOUR,
        MIDNIGHT + 9 * HOUR,
    ]
    assert [a.count for a in recent] == [7200, 4 * 3600, 3600]
    assert recent[-1].close == 0.5 and recent[-1].low == 0.5
    stats = await store.stats_24h(start + 7 * HOUR)
    assert stats[0].count == 7 * 3600 and stats[0].high == 1e6 and stats[0].last == 0.5


# SQLite specifics


async def test_sqlite_second_store_reads_while_first_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    writer, reader = open_store(url, SCHEME), open_store(url, SCHEME)
    await writer.open()
    await reader.open()
    try:
        await writer.write_points(series("BTCUSDT", MIDNIGHT, 5))
        assert len(await reader.points_between("BTCUSDT", MIDNIGHT, MIDNIGHT + HOUR)) == 5
        await writer.create_symbol(NewSymbol("BTCUSDT", "BTC", "USDT"))
        assert await reader.get_symbol_by_name("BTCUSDT") is not None
    finally:
        await reader.close()
        await writer.close()


async def test_sqlite_unwritable_path_is_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = open_store(f"sqlite:///{blocker / 'sub' / 'x.db'}", SCHEME)
    with pytest.raises(StoreError):
        await store.open()
    await store.close()


async def test_sqlite_reads_are_not_blocked_by_an_open_write(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    store = open_store(f"sqlite:///{path}", SCHEME)
    await store.open()
    blocker = sqlite3.connect(path, isolation_level=None)
    try:
        committed = series("ETHUSDT", MIDNIGHT, 3)
        await store.write_points(committed)
        assert blocker.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock, mid-transaction
        blocker.execute("DELETE FROM points")
        got = await asyncio.wait_for(
            store.points_between("ETHUSDT", MIDNIGHT, MIDNIGHT + HOUR), 2.0
        )
        assert got == committed
        assert await asyncio.wait_for(store.latest_point("ETHUSDT"), 2.0) == committed[-1]
        blocker.execute("ROLLBACK")
    finally:
        blocker.close()
        await store.close()
