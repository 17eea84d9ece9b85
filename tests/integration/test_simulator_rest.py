"""Simulator REST over real sockets: exchangeInfo, klines (rows, ranges, limits, errors),
ticker/price, the weight header and 429 + Retry-After."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from multidict import CIMultiDictProxy

from actors.simulator.exchange import ExchangeSimulator
from tests.helpers import eventually

ROW_TYPES = (int, str, str, str, str, str, int, str, int, str, str, str)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(symbols=8, seed=4, rate=3.0, activity="uniform") as simulator:
        await eventually(_has_seconds(simulator, 4), timeout=10, what="4 s of history")
        yield simulator


def _has_seconds(sim: ExchangeSimulator, count: int) -> Any:
    async def probe() -> bool:
        return len(sim.market.by_symbol["BTCUSDT"].bars) >= count

    return probe


async def get(
    sim: ExchangeSimulator, path: str, **params: Any
) -> tuple[int, Any, CIMultiDictProxy[str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.rest_url}{path}", params=params) as resp,
    ):
        return resp.status, await resp.json(), resp.headers


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_exchange_info_lists_symbols_with_status_assets_and_price_filter(
    sim: ExchangeSimulator,
) -> None:
    status, body, headers = await get(sim, "/api/v3/exchangeInfo")
    assert status == 200 and body["timezone"] == "UTC" and isinstance(body["serverTime"], int)
    assert {"rateLimits", "exchangeFilters", "symbols"} <= set(body)
    eligible = [
        entry["symbol"]
        for entry in body["symbols"]
        if entry["status"] == "TRADING"
        and entry["quoteAsset"] == "USDT"
        and entry["isSpotTradingAllowed"]
    ]
    assert eligible == sim.usdt_symbols() and len(eligible) == 8
    assert len(body["symbols"]) > 8  # other quotes, halted and non-spot pairs too
    btc = body["symbols"][0]
    assert (btc["symbol"], btc["baseAsset"], btc["quoteAsset"]) == ("BTCUSDT", "BTC", "USDT")
    price_filter = next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")
    assert price_filter["tickSize"] == "0.01000000" and btc["permissions"] == []
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 20


async def test_exchange_info_for_some_symbols_or_one_status(sim: ExchangeSimulator) -> None:
    _, body, _ = await get(sim, "/api/v3/exchangeInfo", symbols='["ETHUSDT","BNBBTC"]')
    assert [entry["symbol"] for entry in body["symbols"]] == ["ETHUSDT", "BNBBTC"]
    _, body, _ = await get(sim, "/api/v3/exchangeInfo", symbolStatus="HALT")
    assert body["symbols"] and all(entry["status"] == "HALT" for entry in body["symbols"])
    status, body, _ = await get(sim, "/api/v3/exchangeInfo", symbol="NOPEUSDT")
    assert status == 400 and body == {"code": -1121, "msg": "Invalid symbol."}


async def test_klines_rows_are_12_typed_values_matching_ground_truth(
    sim: ExchangeSimulator,
) -> None:
    status, rows, _ = await get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="1s")
    assert status == 200 and len(rows) >= 4
    for row in rows:
        assert len(row) == 12 and tuple(type(value) for value in row) == ROW_TYPES
        assert row[6] == row[0] + 999 and row[11] == "0"
        assert float(row[2]) >= max(float(row[1]), float(row[4])) and float(row[3]) <= float(row[4])
        assert sim.close_price("BTCUSDT", row[0] // 1000) == float(row[4])
    assert [row[0] for row in rows] == sorted(row[0] for row in rows)
    assert rows[0][8] >= 1


async def test_klines_start_and_end_are_inclusive_and_limit_applies(sim: ExchangeSimulator) -> None:
    _, rows, _ = await get(sim, "/api/v3/klines", symbol="ETHUSDT", interval="1s")
    opens = [row[0] for row in rows]
    start, end = opens[1], opens[3]
    _, ranged, _ = await get(
        sim, "/api/v3/klines", symbol="ETHUSDT", interval="1s", startTime=start, endTime=end
    )
    assert [row[0] for row in ranged] == opens[1:4]
    _, first, _ = await get(
        sim, "/api/v3/klines", symbol="ETHUSDT", interval="1s", startTime=start, limit=2
    )
    assert [row[0] for row in first] == opens[1:3]
    _, mid, _ = await get(
        sim, "/api/v3/klines", symbol="ETHUSDT", interval="1s", startTime=start + 1, endTime=end
    )
    assert [row[0] for row in mid] == opens[2:4]  # open times strictly inside the range only
    _, last, _ = await get(
        sim, "/api/v3/klines", symbol="ETHUSDT", interval="1s", endTime=end, limit=2
    )
    assert [row[0] for row in last] == opens[2:4]


async def test_klines_of_longer_intervals_aggregate_the_seconds(sim: ExchangeSimulator) -> None:
    _, seconds, _ = await get(sim, "/api/v3/klines", symbol="BNBUSDT", interval="1s", limit=1000)
    _, minutes, _ = await get(sim, "/api/v3/klines", symbol="BNBUSDT", interval="1m")
    last = minutes[-1]
    inside = [row for row in seconds if row[0] >= last[0]]
    assert last[6] == last[0] + 60_000 - 1 and last[0] % 60_000 == 0
    assert last[8] >= sum(row[8] for row in inside)  # the minute holds at least those trades
    for interval in (
        "3m",
        "5m",
        "15m",
        "30m",
        "1h",
        "2h",
        "4h",
        "6h",
        "8h",
        "12h",
        "1d",
        "3d",
        "1w",
        "1M",
    ):
        status, rows, _ = await get(sim, "/api/v3/klines", symbol="BNBUSDT", interval=interval)
        assert status == 200 and len(rows) in (1, 2), interval


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "BTCUSDT", "interval": "2m"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "1S"}, -1120),
        ({"symbol": "BTCUSDT"}, -1102),
        ({"interval": "1m"}, -1102),
        ({"symbol": "NOPEUSDT", "interval": "1m"}, -1121),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "1001"}, -1130),
        ({"symbol": "BTCUSDT", "interval": "1m", "limit": "0"}, -1130),
        ({"symbol": "BTCUSDT", "interval": "1m", "startTime": "abc"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1m", "startTime": "10", "endTime": "5"}, -1023),
    ],
)
async def test_klines_errors(sim: ExchangeSimulator, params: dict[str, str], code: int) -> None:
    status, body, _ = await get(sim, "/api/v3/klines", **params)
    assert status == 400 and body["code"] == code and isinstance(body["msg"], str)
    if code == -1120:
        assert body["msg"] == "Invalid interval."


async def test_ticker_price_one_some_and_all(sim: ExchangeSimulator) -> None:
    status, one, _ = await get(sim, "/api/v3/ticker/price", symbol="BTCUSDT")
    assert status == 200 and set(one) == {"symbol", "price"} and isinstance(one["price"], str)
    assert float(one["price"]) > 0
    _, some, _ = await get(sim, "/api/v3/ticker/price", symbols='["BTCUSDT","ETHBTC"]')
    assert [item["symbol"] for item in some] == ["BTCUSDT", "ETHBTC"]
    _, every, _ = await get(sim, "/api/v3/ticker/price")
    assert len(every) > 8 and all(isinstance(item["price"], str) for item in every)
    status, body, _ = await get(sim, "/api/v3/ticker/price", symbol="NOPE")
    assert status == 400 and body["code"] == -1121


async def test_used_weight_header_counts_per_minute() -> None:
    async with ExchangeSimulator(symbols=3, weight_limit=1000) as sim:
        first = (await get(sim, "/api/v3/ticker/price", symbol="BTCUSDT"))[2]
        second = (await get(sim, "/api/v3/exchangeInfo"))[2]
        if int(second["X-MBX-USED-WEIGHT-1M"]) < int(first["X-MBX-USED-WEIGHT-1M"]):
            pytest.skip("crossed a minute boundary")  # pragma: no cover - 1 in ~100 runs
        assert int(second["X-MBX-USED-WEIGHT-1M"]) - int(first["X-MBX-USED-WEIGHT-1M"]) == 20
        assert second["x-mbx-used-weight"] == second["X-MBX-USED-WEIGHT-1M"]


async def test_weight_budget_exceeded_gives_429_with_retry_after() -> None:
    async with ExchangeSimulator(symbols=3, weight_limit=50) as sim:
        statuses = []
        for _ in range(3):
            status, body, headers = await get(sim, "/api/v3/exchangeInfo")
            statuses.append(status)
        assert statuses == [200, 200, 429]
        assert body["code"] == -1003 and "50 request weight per 1 MINUTE" in body["msg"]
        retry_after = int(headers["Retry-After"])
        assert 1 <= retry_after <= 60
        assert int(headers["X-MBX-USED-WEIGHT-1M"]) > 50
        assert retry_after >= 60 - time.time() % 60 - 1


async def test_ticker_24hr_full_and_mini(sim: ExchangeSimulator) -> None:
    status, full, _ = await get(sim, "/api/v3/ticker/24hr", symbol="BTCUSDT")
    assert status == 200 and full["symbol"] == "BTCUSDT" and len(full) == 21
    for key in ("priceChange", "priceChangePercent", "lastPrice", "bidPrice", "askQty", "volume"):
        assert isinstance(full[key], str), key
    for key in ("openTime", "closeTime", "firstId", "lastId", "count"):
        assert isinstance(full[key], int), key
    assert full["count"] == full["lastId"] - full["firstId"] + 1
    _, mini, _ = await get(sim, "/api/v3/ticker/24hr", symbols='["ETHUSDT"]', type="MINI")
    assert len(mini) == 1 and "priceChange" not in mini[0] and mini[0]["symbol"] == "ETHUSDT"
    status, _, _ = await get(sim, "/api/v3/ticker/24hr", type="BIG")
    assert status == 400


async def test_klines_from_a_start_time_long_ago_return_the_oldest_bars(
    sim: ExchangeSimulator,
) -> None:
    _, every, _ = await get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="1s", limit=1000)
    _, oldest, _ = await get(
        sim, "/api/v3/klines", symbol="BTCUSDT", interval="1s", startTime=0, limit=2
    )
    assert oldest == every[:2]


async def test_klines_time_zone_cuts_bars_in_that_zone(sim: ExchangeSimulator) -> None:
    _, utc, _ = await get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="1d")
    _, shifted, _ = await get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="1d", timeZone="8")
    assert utc[-1][0] % 86_400_000 == 0
    assert (shifted[-1][0] + 8 * 3_600_000) % 86_400_000 == 0 and shifted[-1][6] == shifted[-1][
        0
    ] + 86_400_000 - 1
    status, body, _ = await get(
        sim, "/api/v3/klines", symbol="BTCUSDT", interval="1d", timeZone="15"
    )
    assert status == 400 and body["code"] == -1100


async def test_microsecond_time_unit_header(sim: ExchangeSimulator) -> None:
    async with aiohttp.ClientSession(headers={"X-MBX-TIME-UNIT": "MICROSECOND"}) as session:
        params = {"symbol": "BTCUSDT", "interval": "1s", "limit": "2"}
        async with session.get(f"{sim.rest_url}/api/v3/klines", params=params) as resp:
            rows = await resp.json()
        async with session.get(f"{sim.rest_url}/api/v3/time") as resp:
            server_time = (await resp.json())["serverTime"]
    assert len(str(server_time)) == 16
    assert all(len(str(row[0])) == 16 and row[6] == row[0] + 999_999 for row in rows)
    _, ms_rows, _ = await get(
        sim, "/api/v3/klines", symbol="BTCUSDT", interval="1s", startTime=rows[0][0]
    )
    assert ms_rows[0][0] * 1000 == rows[0][0]  # a µs startTime is understood too
