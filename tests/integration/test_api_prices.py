"""REST price data over real HTTP on SQLite, checked against the points the test stored."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from actors.front.errors import LONG_LIST_CHUNK
from actors.messages import NewSymbol, PricePoint
from actors.store.base import Store
from actors.store.intervals import HOUR_MS, IntervalScheme
from tests.integration.api_harness import Api, ServeApp, running_api

SCHEME = IntervalScheme()
MINUTE_MS = 60_000
BASE = "/api/v1/price-data"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


class Series:
    """The points stored for a test, and what the API should derive from them."""

    def __init__(self, now_ms: int) -> None:
        self.now = now_ms - now_ms % 1000
        self.points: dict[str, list[PricePoint]] = {
            # one point a minute for the last 23 hours, a wave with a trend
            "BTCUSDT": [
                PricePoint("BTCUSDT", self.now - i * MINUTE_MS, 100.0 + (i % 37) - i / 100)
                for i in range(23 * 60, -1, -1)
            ],
            "ETHUSDT": [PricePoint("ETHUSDT", self.now - 25 * HOUR_MS, 1.0)]  # outside 24 h
            + [
                PricePoint("ETHUSDT", self.now - i * 10 * MINUTE_MS, 50.0 + i)
                for i in range(30, -1, -1)
            ],
        }

    def between(self, symbol: str, start: int, end: int) -> list[PricePoint]:
        return [p for p in self.points[symbol] if start <= p.ts <= end]

    def intervals(self, symbol: str) -> dict[int, list[PricePoint]]:
        grouped: dict[int, list[PricePoint]] = defaultdict(list)
        for point in self.points[symbol]:
            grouped[SCHEME.start_of(point.ts)].append(point)
        return dict(sorted(grouped.items()))


def aggregate(symbol: str, start: int, points: list[PricePoint]) -> dict[str, object]:
    prices = [p.price for p in points]
    return {
        "symbol": symbol,
        "intervalStartTime": start,
        "intervalEndTime": SCHEME.end_of(start),
        "intervalHour": SCHEME.hour_of(start),
        "open": prices[0],
        "high": max(prices),
        "low": min(prices),
        "close": prices[-1],
        "count": len(prices),
    }


@pytest.fixture
async def series(sqlite_store: Store) -> Series:
    data = Series(int(time.time() * 1000))
    await sqlite_store.create_symbols(
        [
            NewSymbol("BTCUSDT", "BTC", "USDT"),
            NewSymbol("ETHUSDT", "ETH", "USDT"),
            NewSymbol("NEWUSDT", "NEW", "USDT"),
        ]
    )
    for points in data.points.values():
        await sqlite_store.write_points(points)
    return data


@pytest.fixture
async def api(sqlite_store: Store, serve_app: ServeApp, series: Series) -> AsyncIterator[Api]:
    async with running_api(sqlite_store, serve_app) as api:
        yield api


async def test_series_between_iso_or_epoch_bounds(api: Api, series: Series) -> None:
    start, end = series.now - 3 * HOUR_MS - 30_000, series.now - HOUR_MS
    expected = series.between("BTCUSDT", start, end)
    for bounds in (
        {"startTime": _iso(start), "endTime": _iso(end)},
        {"startTime": str(start), "endTime": str(end)},
    ):
        reply = await api.call("GET", f"{BASE}/btcusdt", params=bounds)
        assert reply.status == 200, reply.body
        assert [(p["timestamp"], p["price"]) for p in reply.data] == [
            (p.ts, p.price) for p in expected
        ]
    first = reply.data[0]
    assert set(first) == {"symbol", "price", "timestamp", "intervalStartTime", "intervalHour"}
    tag = SCHEME.tag(first["timestamp"])
    assert (first["symbol"], first["intervalStartTime"], first["intervalHour"]) == ("BTCUSDT", *tag)


async def test_a_long_series_is_whole_across_encoding_chunks(api: Api, series: Series) -> None:
    """A day of 1,381 points is built and encoded in chunks (envelope_long): nothing lost,
    doubled or reordered at a chunk's edge, every point tagged with its own interval."""
    start = series.now - 23 * HOUR_MS - 60_000
    reply = await api.call("GET", f"{BASE}/BTCUSDT", params={"startTime": str(start)})
    assert reply.status == 200 and reply.body["success"] is True
    expected = series.between("BTCUSDT", start, series.now)
    assert len(expected) > LONG_LIST_CHUNK
    assert [(p["timestamp"], p["price"]) for p in reply.data] == [(p.ts, p.price) for p in expected]
    assert all(
        (p["intervalStartTime"], p["intervalHour"]) == SCHEME.tag(p["timestamp"]) for p in reply.data
    )


async def test_series_defaults_to_the_last_hour(api: Api, series: Series) -> None:
    reply = await api.call("GET", f"{BASE}/BTCUSDT")
    assert reply.status == 200
    stamps = [p["timestamp"] for p in reply.data]
    assert stamps == sorted(stamps) and len(stamps) in (60, 61)
    assert stamps[-1] == series.now


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"startTime": "yesterday"}, "startTime"),
        ({"endTime": "2024-13-45T00:00:00Z"}, "endTime"),
        ({"startTime": "2024-02-06T10:00:00Z", "endTime": "2024-02-06T09:00:00Z"}, "startTime"),
        ({"startTime": "2024-02-01T00:00:00Z", "endTime": "2024-02-06T00:00:00Z"}, "endTime"),
        ({"startTime": "2024-02-01T00:00:00Z"}, "startTime"),
    ],
)
async def test_series_bad_times_are_400_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    reply = await api.call("GET", f"{BASE}/BTCUSDT", params=params)
    assert reply.status == 400 and reply.body["success"] is False and reply.paths == [field]


@pytest.mark.parametrize(
    "path",
    ["/NOPEUSDT", "/NOPEUSDT/latest", "/NOPEUSDT/intervals", "/current/NOPEUSDT", "/BAD%20SYM"],
)
async def test_unknown_symbol_is_404(api: Api, path: str) -> None:
    reply = await api.call("GET", BASE + path)
    assert reply.status == 404 and reply.body["success"] is False
    recent = await api.call("GET", f"{BASE}/recent", params={"symbol": "NOPEUSDT"})
    assert recent.status == 404


@pytest.mark.parametrize("path", ["/BTCUSDT/latest", "/current/BTCUSDT"])
async def test_latest_price(api: Api, series: Series, path: str) -> None:
    reply = await api.call("GET", BASE + path)
    last = series.points["BTCUSDT"][-1]
    start, hour = SCHEME.tag(last.ts)
    assert reply.status == 200
    assert reply.data == {
        "symbol": "BTCUSDT",
        "price": last.price,
        "timestamp": last.ts,
        "intervalStartTime": start,
        "intervalHour": hour,
    }
    empty = await api.call("GET", BASE + path.replace("BTCUSDT", "NEWUSDT"))
    assert empty.status == 404


async def test_recent_intervals_default_six(api: Api, series: Series) -> None:
    grouped = series.intervals("BTCUSDT")
    expected = [aggregate("BTCUSDT", start, pts) for start, pts in grouped.items()]
    reply = await api.call("GET", f"{BASE}/BTCUSDT/intervals")
    assert reply.status == 200 and reply.data == expected[-6:]
    two = await api.call("GET", f"{BASE}/BTCUSDT/intervals", params={"intervals": "2"})
    assert two.data == expected[-2:]
    for bad in ("abc", "0", "501"):
        wrong = await api.call("GET", f"{BASE}/BTCUSDT/intervals", params={"intervals": bad})
        assert wrong.status == 400 and wrong.paths == ["intervals"]


async def test_aggregated_interval(api: Api, series: Series) -> None:
    grouped = series.intervals("BTCUSDT")
    start = list(grouped)[-2]
    hour = SCHEME.hour_of(start)
    expected = aggregate("BTCUSDT", start, grouped[start])
    for when in (_iso(start), str(start), _iso(start + 5 * MINUTE_MS)):
        reply = await api.call(
            "GET",
            f"{BASE}/BTCUSDT/aggregated",
            params={"intervalStartTime": when, "intervalHour": str(hour)},
        )
        assert reply.status == 200 and reply.data == expected
    mismatch = await api.call(
        "GET",
        f"{BASE}/BTCUSDT/aggregated",
        params={"intervalStartTime": str(start), "intervalHour": str((hour + 4) % 24)},
    )
    assert mismatch.status == 400 and mismatch.paths == ["intervalHour"]
    odd_hour = await api.call(
        "GET",
        f"{BASE}/BTCUSDT/aggregated",
        params={"intervalStartTime": str(start), "intervalHour": "2"},
    )
    assert odd_hour.status == 400 and odd_hour.paths == ["intervalHour"]
    missing = await api.call("GET", f"{BASE}/BTCUSDT/aggregated")
    assert missing.status == 400 and missing.paths == ["intervalStartTime"]
    garbled = await api.call(
        "GET", f"{BASE}/BTCUSDT/aggregated", params={"intervalStartTime": "soon"}
    )
    assert garbled.status == 400 and garbled.paths == ["intervalStartTime"]
    empty = await api.call(
        "GET",
        f"{BASE}/BTCUSDT/aggregated",
        params={"intervalStartTime": str(start - 10 * 86_400_000)},
    )
    assert empty.status == 404


@pytest.mark.parametrize("path", ["/recent", "/aggregated"])
async def test_dashboard_recent_intervals(api: Api, series: Series, path: str) -> None:
    grouped = series.intervals("BTCUSDT")
    expected = [aggregate("BTCUSDT", start, pts) for start, pts in grouped.items()]
    reply = await api.call("GET", BASE + path, params={"symbol": "btcusdt"})
    assert reply.status == 200 and reply.data == expected  # limit 100 covers them all
    limited = await api.call("GET", BASE + path, params={"symbol": "BTCUSDT", "limit": "3"})
    assert limited.data == expected[-3:]
    hour = expected[-1]["intervalHour"]
    only = await api.call(
        "GET", BASE + path, params={"symbol": "BTCUSDT", "intervalHour": str(hour)}
    )
    assert only.data == [a for a in expected if a["intervalHour"] == hour]
    missing = await api.call("GET", BASE + path, params={"limit": "3"})
    assert missing.status == 400 and missing.paths == ["symbol"]
    assert (
        await api.call("GET", BASE + path, params={"symbol": "BTCUSDT", "intervalHour": "3"})
    ).status == 400
    assert (
        await api.call("GET", BASE + path, params={"symbol": "BTCUSDT", "limit": "0"})
    ).status == 400


async def test_stats_24h_match_the_stored_points(api: Api, series: Series) -> None:
    reply = await api.call("GET", f"{BASE}/stats/24h")
    assert reply.status == 200
    by_symbol = {item["symbol"]: item for item in reply.data}
    assert set(by_symbol) == {"BTCUSDT", "ETHUSDT"}  # NEWUSDT has no points
    for symbol, item in by_symbol.items():
        window = [p for p in series.points[symbol] if p.ts > series.now - 24 * HOUR_MS]
        prices = [p.price for p in window]
        change = prices[-1] - prices[0]
        assert item["open"] == prices[0] and item["last"] == prices[-1]
        assert item["high"] == max(prices) and item["low"] == min(prices)
        assert item["count"] == len(window)
        assert item["change"] == pytest.approx(change)
        assert item["changePercent"] == pytest.approx(change / prices[0] * 100)


async def test_latest_prefers_the_cache_over_the_store(api: Api, series: Series) -> None:
    fresh = PricePoint("BTCUSDT", series.now + 1000, 123.5)  # cached, not yet flushed to the store
    await api.cache.put_points([fresh])
    reply = await api.call("GET", f"{BASE}/BTCUSDT/latest")
    assert reply.status == 200
    assert (reply.data["price"], reply.data["timestamp"]) == (123.5, fresh.ts)
    eth = await api.call("GET", f"{BASE}/current/ETHUSDT")
    assert eth.data["price"] == series.points["ETHUSDT"][-1].price  # store fallback


async def test_series_is_capped_in_points_and_a_larger_limit_is_400(
    sqlite_store: Store, serve_app: ServeApp, series: Series
) -> None:
    """Issue 12, attack 7: a 24-hour range answers at most PRICE_DATA_MAX_POINTS points."""
    async with running_api(sqlite_store, serve_app, PRICE_DATA_MAX_POINTS="100") as api:
        day = {"startTime": str(series.now - 23 * HOUR_MS - 60_000), "endTime": str(series.now)}
        reply = await api.call("GET", f"{BASE}/BTCUSDT", params=day)
        assert reply.status == 200
        assert len(reply.data) == 100  # the oldest 100 of 1,381
        first = series.between("BTCUSDT", int(day["startTime"]), series.now)[:100]
        assert [p["timestamp"] for p in reply.data] == [p.ts for p in first]
        reply = await api.call("GET", f"{BASE}/BTCUSDT", params={**day, "limit": "10"})
        assert len(reply.data) == 10
        for limit in ("101", "0", "x"):
            reply = await api.call("GET", f"{BASE}/BTCUSDT", params={**day, "limit": limit})
            assert reply.status == 400 and reply.paths == ["limit"], reply.body
