"""Simulator live control over real sockets: SUBSCRIBE & co., their replies and error bodies,
the combined property, the 1024-stream and 5-messages-per-second limits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from actors.simulator.exchange import ExchangeSimulator
from tests.integration.simulator_support import connect


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(symbols=10, seed=2, rate=20.0) as simulator:
        yield simulator


async def test_subscribe_list_unsubscribe_on_a_bare_raw_connection(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        await client.send(
            {"method": "SUBSCRIBE", "params": ["btcusdt@trade", "ethusdt@trade"], "id": 1}
        )
        assert await client.reply(1) == {"result": None, "id": 1}
        frames = await client.data(6)
        assert {frame["s"] for frame in frames} == {"BTCUSDT", "ETHUSDT"}  # raw: bare payloads
        await client.send({"method": "LIST_SUBSCRIPTIONS", "id": "list1"})
        assert await client.reply("list1") == {
            "result": ["btcusdt@trade", "ethusdt@trade"],
            "id": "list1",
        }
        await client.send({"method": "UNSUBSCRIBE", "params": ["btcusdt@trade"], "id": 312})
        assert await client.reply(312) == {"result": None, "id": 312}
        later = await client.data(30)
        assert later[-1]["s"] == "ETHUSDT"
        assert all(frame["s"] == "ETHUSDT" for frame in later[-20:])


async def test_combined_property_toggles_the_wrapper(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/ws/btcusdt@aggTrade") as client:
        await client.send({"method": "GET_PROPERTY", "params": ["combined"], "id": 2})
        assert await client.reply(2) == {"result": False, "id": 2}
        await client.send({"method": "SET_PROPERTY", "params": ["combined", True], "id": 5})
        assert await client.reply(5) == {"result": None, "id": 5}
        frame = (await client.data(1))[0]
        assert frame["stream"] == "btcusdt@aggTrade" and frame["data"]["e"] == "aggTrade"
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt@aggTrade") as client:
        await client.send({"method": "GET_PROPERTY", "params": ["combined"], "id": 3})
        assert await client.reply(3) == {"result": True, "id": 3}


@pytest.mark.parametrize(
    ("request_text", "error"),
    [
        (
            '{"method":"SUBSCRIBE","params":["btcusdt@nope"],"id":9}',
            {"code": 2, "msg": "Invalid request: invalid stream"},
        ),
        (
            '{"method":"SET_PROPERTY","params":["color",true],"id":9}',
            {"code": 0, "msg": "Unknown property"},
        ),
        (
            '{"method":"SET_PROPERTY","params":["combined",1],"id":9}',
            {"code": 1, "msg": "Invalid value type: expected Boolean"},
        ),
        (
            '{"method":"GET_PROPERTY","params":[1],"id":9}',
            {"code": 2, "msg": "Invalid request: property name must be a string"},
        ),
        (
            '{"method":"GET_PROPERTY","params":["combined","x"],"id":9}',
            {"code": 2, "msg": "Invalid request: too many parameters"},
        ),
    ],
)
async def test_documented_error_bodies_on_the_wire(
    sim: ExchangeSimulator, request_text: str, error: object
) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        await client.ws.send_str(request_text)
        assert await client.reply(9) == {"error": error, "id": 9}
        # the connection stays usable after an error
        await client.send({"method": "LIST_SUBSCRIPTIONS", "id": 10})
        assert await client.reply(10) == {"result": [], "id": 10}


async def test_bad_json_and_bad_method_error_bodies(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        await client.ws.send_str("{nope")
        assert await client.reply(None) == {
            "error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 2"},
            "id": None,
        }
        await client.ws.send_str('{"method":"PING","id":4}')
        body = await client.reply(4)
        assert body["error"]["code"] == 2 and "unknown variant `PING`" in body["error"]["msg"]


async def test_uppercase_and_unknown_symbols_are_accepted_but_silent(
    sim: ExchangeSimulator,
) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        await client.send(
            {"method": "SUBSCRIBE", "params": ["BTCUSDT@trade", "xrpxrp@miniTicker"], "id": 1}
        )
        assert await client.reply(1) == {"result": None, "id": 1}
        await client.send({"method": "SUBSCRIBE", "params": ["ethusdt@trade"], "id": 2})
        await client.reply(2)
        frames = await client.data(10)
        assert {frame["s"] for frame in frames} == {"ETHUSDT"}


async def test_url_encoded_stream_names_are_accepted(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt%40miniTicker") as client:
        frame = (await client.data(1))[0]
        assert frame["stream"] == "btcusdt@miniTicker"
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt@kline_1h@+08:00") as client:
        frame = (await client.data(1))[0]
        assert frame["stream"] == "btcusdt@kline_1h@+08:00"


async def test_1024_stream_limit_on_subscribe_and_on_the_url(sim: ExchangeSimulator) -> None:
    names = [f"s{i}@trade" for i in range(1024)]  # 256 of them fit the ~4 KB request size
    async with connect(f"{sim.ws_url}/ws") as client:
        for batch, start in enumerate(range(0, 1024, 256)):
            await client.send(
                {"method": "SUBSCRIBE", "params": names[start : start + 256], "id": batch}
            )
            assert await client.reply(batch) == {"result": None, "id": batch}
        await client.send({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 99})
        body = await client.reply(99)
        assert body["error"]["code"] == 2 and "1024" in body["error"]["msg"]
    url = f"{sim.ws_url}/stream?streams=" + "/".join(f"s{i}@trade" for i in range(1025))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
            await session.ws_connect(url)
        assert caught.value.status == 400


async def test_more_than_5_messages_a_second_closes_with_1008(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        for request_id in range(6):
            await client.send({"method": "LIST_SUBSCRIPTIONS", "id": request_id})
        msg = await client.closed()
        assert msg.type is aiohttp.WSMsgType.CLOSE
        assert msg.data == 1008 and msg.extra == "Too many requests"


async def test_five_messages_a_second_are_fine(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        for request_id in range(5):  # a burst of 5
            await client.send({"method": "LIST_SUBSCRIPTIONS", "id": request_id})
        for request_id in range(5):
            assert (await client.reply(request_id))["result"] == []
        await asyncio.sleep(1.0)
        for request_id in range(5, 12):  # then a steady 5 per second
            await client.send({"method": "LIST_SUBSCRIPTIONS", "id": request_id})
            assert (await client.reply(request_id))["result"] == []
            await asyncio.sleep(0.21)
