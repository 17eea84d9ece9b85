"""The simulator as the real exchange behaves, over real sockets: quiet pairs push only when they
trade, klines of silent seconds, listings and delistings, the connection-attempt limit, REST
weight with 429 then a 418 ban, and pre-history for backfill."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import pytest

from actors.simulator.exchange import ExchangeSimulator
from tests.helpers import eventually
from tests.integration.simulator_support import connect

pytestmark = pytest.mark.asyncio


async def _get(sim: ExchangeSimulator, path: str, **params: Any) -> tuple[int, Any, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.rest_url}{path}", params=params) as resp,
    ):
        return resp.status, await resp.json(), resp.headers


async def _post(sim: ExchangeSimulator, path: str, body: bytes) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{sim.rest_url}{path}", data=body) as resp,
    ):
        return resp.status, await resp.json()


async def test_default_profile_pushes_only_changed_symbols_busy_every_second() -> None:
    async with ExchangeSimulator(symbols=40, seed=2) as sim:
        assert sim.activity == "realistic"
        quiet = sim.usdt_symbols()[-1]
        assert sim.activity_of("BTCUSDT") == 1.0 and sim.activity_of(quiet) < 0.02
        streams = f"!miniTicker@arr/btcusdt@miniTicker/{quiet.lower()}@miniTicker"
        async with connect(f"{sim.ws_url}/stream?streams={streams}") as client:
            frames = await client.data(16, timeout=10)
        arrays = [frame["data"] for frame in frames if frame["stream"] == "!miniTicker@arr"]
        btc = [frame for frame in frames if frame["stream"] == "btcusdt@miniTicker"]
        assert len(arrays) >= 4 and len(btc) >= 4
        # every array carries only what changed that second: never all 40 USDT pairs
        assert all(len(array) < 40 for array in arrays)
        assert all("BTCUSDT" in {entry["s"] for entry in array} for array in arrays[1:])
        seen = {entry["s"] for array in arrays for entry in array}
        assert quiet not in seen or sum(
            quiet in {e["s"] for e in a} for a in arrays
        ) <= len(arrays) // 2


async def test_uniform_profile_pushes_every_symbol_every_second() -> None:
    async with ExchangeSimulator(symbols=12, seed=2, activity="uniform") as sim:
        async with connect(f"{sim.ws_url}/stream?streams=!miniTicker@arr") as client:
            _, second = await client.data(2, timeout=5)
        assert set(sim.usdt_symbols()) <= {entry["s"] for entry in second["data"]}


async def test_klines_of_silent_seconds_are_zero_volume_bars_at_the_previous_close() -> None:
    async with ExchangeSimulator(symbols=40, seed=2, prehistory_seconds=600) as sim:
        quiet = sim.usdt_symbols()[-1]
        now = int(time.time())
        status, rows, _ = await _get(
            sim,
            "/api/v3/klines",
            symbol=quiet,
            interval="1s",
            startTime=(now - 590) * 1000,
            endTime=(now - 1) * 1000,
            limit=1000,
        )
        assert status == 200
        opens = [row[0] // 1000 for row in rows]
        traded = [row for row in rows if row[8] > 0]
        silent = [row for row in rows if row[8] == 0]
        first_traded = opens.index(traded[0][0] // 1000)
        # a row for every second since the first trade (none before it), most of them silent
        assert opens[first_traded:] == list(range(opens[first_traded], now))
        assert len(silent) > len(traded)
        previous = None
        for row in rows[first_traded:]:
            if row[8] == 0:
                assert row[1] == row[2] == row[3] == row[4] == previous and row[5] == "0"
            else:
                assert float(row[5]) > 0
            previous = row[4]
        for row in traded:
            assert sim.close_price(quiet, row[0] // 1000) == float(row[4])
        minute_status, minutes, _ = await _get(
            sim, "/api/v3/klines", symbol=quiet, interval="1m", limit=5
        )
        assert minute_status == 200 and len(minutes) == 5  # the bars of every minute


async def test_listing_and_delisting_on_request() -> None:
    async with ExchangeSimulator(symbols=20, seed=2) as sim:
        async with connect(f"{sim.ws_url}/stream?streams=newusdt@miniTicker") as client:
            status, body = await _post(
                sim, "/sim/listings", b'{"symbol":"NEWUSDT","price":2.5,"activity":1.0}'
            )
            assert status == 200, body
            _, info, _ = await _get(sim, "/api/v3/exchangeInfo", symbol="NEWUSDT")
            assert info["symbols"][0]["status"] == "TRADING"
            assert "NEWUSDT" in sim.usdt_symbols()
            (frame,) = await client.data(1, timeout=5)  # subscribed before the listing
            assert frame["data"]["s"] == "NEWUSDT"

            status, body = await _post(sim, "/sim/delistings", b'{"symbol":"NEWUSDT"}')
            assert status == 200, body
            _, info, _ = await _get(sim, "/api/v3/exchangeInfo", symbol="NEWUSDT")
            assert info["symbols"][0]["status"] == "BREAK"
            assert "NEWUSDT" not in sim.usdt_symbols()
            await asyncio.sleep(0)  # frames already queued may still arrive ...
            trailing = 0
            with pytest.raises(TimeoutError):
                while True:  # ... but within a second nothing more comes
                    await client.next_json(timeout=1.5)
                    trailing += 1
            assert trailing <= 2
        status, rows, _ = await _get(sim, "/api/v3/klines", symbol="NEWUSDT", interval="1s")
        assert status == 200 and any(row[8] > 0 for row in rows)  # history stays
        sim.list_symbol("NEWUSDT")  # listed again: trading resumes
        _, info, _ = await _get(sim, "/api/v3/exchangeInfo", symbol="NEWUSDT")
        assert info["symbols"][0]["status"] == "TRADING" and "NEWUSDT" in sim.usdt_symbols()
        async with connect(f"{sim.ws_url}/ws/newusdt@miniTicker") as client:
            (again,) = await client.data(1, timeout=5)
        assert again["s"] == "NEWUSDT"


@pytest.mark.parametrize(
    ("path", "body", "words"),
    [
        ("/sim/listings", b'{"symbol":"btcusdt"}', "upper-case USDT pair"),
        ("/sim/listings", b'{"symbol":"BTCUSDT"}', "already listed"),
        ("/sim/listings", b'{"symbol":"ABCUSDT","activity":2}', "activity"),
        ("/sim/listings", b"{", "truncated"),
        ("/sim/delistings", b'{"symbol":"NOPEUSDT"}', "not listed"),
        ("/sim/delistings", b'{"symbol":"BTCUSDT","status":"TRADING"}', "status"),
    ],
)
async def test_listing_control_refuses_bad_requests(path: str, body: bytes, words: str) -> None:
    async with ExchangeSimulator(symbols=5, seed=2) as sim:
        status, answer = await _post(sim, path, body)
        assert status == 400 and words in answer["msg"]
        assert sim.usdt_symbols() == [s for s in sim.usdt_symbols() if s != "ABCUSDT"]


async def test_connection_attempts_over_the_limit_get_429_on_the_handshake() -> None:
    async with (
        ExchangeSimulator(symbols=3, connection_limit=4, connection_window=300) as sim,
        aiohttp.ClientSession() as session,
    ):
        url = f"{sim.ws_url}/ws/btcusdt@miniTicker"
        for _ in range(4):
            async with session.ws_connect(url):
                pass
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url)
        assert refused.value.status == 429
        assert refused.value.headers is not None
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 300
        assert sim.connection_attempts.refused == 1 and sim.connection_attempts.total == 5


async def test_rest_weights_429_then_418_ban_for_a_client_that_keeps_asking() -> None:
    async with ExchangeSimulator(symbols=3, weight_limit=30) as sim:
        sim.budget.ban_after = 2
        sim.budget.ban_seconds = 120
        _, _, headers = await _get(sim, "/api/v3/klines", symbol="BTCUSDT", interval="1s")
        first = int(headers["X-MBX-USED-WEIGHT-1M"])
        _, _, headers = await _get(sim, "/api/v3/exchangeInfo")
        if int(headers["X-MBX-USED-WEIGHT-1M"]) < first:
            pytest.skip("crossed a minute boundary")  # pragma: no cover
        assert first == 2 and int(headers["X-MBX-USED-WEIGHT-1M"]) == 22
        assert sim.rest_requests == {"klines": 1, "exchangeInfo": 1}
        statuses = []
        for _ in range(5):
            status, body, headers = await _get(sim, "/api/v3/exchangeInfo")
            statuses.append(status)
        assert statuses[:3] == [429, 429, 418] and statuses[3:] == [418, 418]
        assert "banned until" in body["msg"] and 100 <= int(headers["Retry-After"]) <= 120


async def test_prehistory_gives_klines_for_the_seconds_before_start() -> None:
    started = time.time()
    async with ExchangeSimulator(symbols=20, seed=2, prehistory_seconds=3600) as sim:
        assert time.time() - started < 20
        await eventually(
            lambda: asyncio.sleep(0, sim.close_price("BTCUSDT", int(started) - 3599) is not None),
            timeout=1,
            what="a bar an hour back",
        )
        status, rows, _ = await _get(
            sim,
            "/api/v3/klines",
            symbol="BTCUSDT",
            interval="1s",
            startTime=(int(started) - 3600) * 1000,
            limit=1000,
        )
        assert status == 200 and len(rows) == 1000
        assert all(row[8] > 0 for row in rows)  # BTC trades every second
