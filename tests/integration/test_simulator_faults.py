"""Simulator fault injection over real sockets: dropped connections, outages, serverShutdown,
stalled pings and data, malformed frames, REST 429s, and the periodic schedules of `Faults`."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import aiohttp
import msgspec
import pytest

from actors.simulator.exchange import ExchangeSimulator
from actors.simulator.faults import Faults
from tests.helpers import eventually
from tests.integration.simulator_support import Client, connect


async def _rest_status(sim: ExchangeSimulator) -> tuple[int, str | None]:
    async with aiohttp.ClientSession() as session:
        async with session.get(
            f"{sim.rest_url}/api/v3/ticker/price", params={"symbol": "BTCUSDT"}
        ) as resp:
            return resp.status, resp.headers.get("Retry-After")


async def test_drop_connections_closes_without_a_close_frame() -> None:
    async with ExchangeSimulator(symbols=3, rate=5.0) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as client:
            await client.data(1)
            await sim.drop_connections()
            msg = await client.closed()
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as client:  # reconnecting works
            await client.data(1)


async def test_outage_refuses_websockets_and_rest_then_recovers_with_the_gap_in_klines() -> None:
    async with ExchangeSimulator(symbols=3, rate=2.0) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as client:
            await client.data(1)
            outage_start = time.time()
            await sim.outage(1.5)
            await client.closed()
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
                await session.ws_connect(f"{sim.ws_url}/ws/btcusdt@trade")
            assert caught.value.status == 503
        assert (await _rest_status(sim))[0] == 503

        async def back() -> bool:
            return (await _rest_status(sim))[0] == 200

        await eventually(back, timeout=5, what="REST back after the outage")
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as client:
            await client.data(1)
        # the market kept trading: the outage's seconds are there to backfill
        assert sim.close_price("BTCUSDT", int(outage_start) + 1) is not None


async def _until_shutdown_event(client: Client) -> dict[str, Any]:
    for _ in range(200):
        frame = (await client.data(1))[0]
        if frame.get("e") == "serverShutdown" or frame.get("stream") == "!serverShutdown":
            return frame  # type: ignore[no-any-return]
    raise AssertionError("no serverShutdown event")


async def test_server_shutdown_event_raw_and_combined_then_closed_after_grace() -> None:
    async with ExchangeSimulator(symbols=3, rate=20.0, faults=Faults(shutdown_grace=1.0)) as sim:
        raw_url, combined_url = (
            f"{sim.ws_url}/ws/btcusdt@trade",
            f"{sim.ws_url}/stream?streams=btcusdt@trade",
        )
        async with connect(raw_url) as raw, connect(combined_url) as combined:
            await raw.data(1)
            await combined.data(1)
            await sim.send_server_shutdown()
            event = await _until_shutdown_event(raw)
            assert set(event) == {"e", "E"} and isinstance(event["E"], int)
            wrapped = await _until_shutdown_event(combined)
            assert wrapped["data"]["e"] == "serverShutdown" and wrapped["data"]["E"] == event["E"]
            assert (await raw.data(1))[0]["e"] == "trade"  # data keeps flowing during the grace
            await raw.closed(timeout=3)
            await combined.closed(timeout=3)


async def test_stall_pings_sends_no_pings_and_keeps_the_link() -> None:
    async with ExchangeSimulator(symbols=3, rate=5.0, ping_interval=0.2, pong_timeout=0.5) as sim:
        sim.stall_pings = True
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade", autoping=False) as client:
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:
                msg = await client.ws.receive(timeout=2)
                assert msg.type is aiohttp.WSMsgType.TEXT, msg
            sim.stall_pings = False
            msg = await client.ws.receive(timeout=2)
            while msg.type is aiohttp.WSMsgType.TEXT:
                msg = await client.ws.receive(timeout=2)
            assert msg.type is aiohttp.WSMsgType.PING


async def test_stall_data_keeps_pings_but_sends_no_data() -> None:
    async with ExchangeSimulator(symbols=3, rate=5.0, ping_interval=0.2) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade", autoping=False) as client:
            await client.data(1)
            sim.stall_data = True
            # frames queued before the switch are flushed ahead of the next ping: skip to it
            while (msg := await client.ws.receive(timeout=2)).type is aiohttp.WSMsgType.TEXT:
                pass
            kinds = set()
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    msg = await client.ws.receive(timeout=deadline - time.monotonic())
                except TimeoutError:
                    break
                kinds.add(msg.type)
                if msg.type is aiohttp.WSMsgType.PING:
                    await client.ws.pong(msg.data)
            assert kinds == {aiohttp.WSMsgType.PING}


def _classify(msg: aiohttp.WSMessage) -> str:
    if msg.type is aiohttp.WSMsgType.BINARY:
        return "binary"
    try:
        frame = msgspec.json.decode(msg.data)
    except msgspec.DecodeError:
        return "not-json"
    if frame["stream"] != "btcusdt@trade":
        return "unsubscribed"
    if not isinstance(frame["data"]["p"], str):
        return "wrong-type"
    return "good"


async def test_malformed_rate_replaces_that_fraction_with_each_kind_of_bad_frame() -> None:
    async with ExchangeSimulator(symbols=3, rate=200.0, faults=Faults(malformed_rate=0.5)) as sim:
        async with connect(f"{sim.ws_url}/stream?streams=btcusdt@trade") as client:
            kinds: dict[str, int] = {}
            for _ in range(400):
                kind = _classify(await client.ws.receive(timeout=5))
                kinds[kind] = kinds.get(kind, 0) + 1
            assert set(kinds) == {"binary", "not-json", "unsubscribed", "wrong-type", "good"}
            assert 120 < kinds["good"] < 280
            sim.malformed_rate = 0.0
            # the reply to a request is written after every frame queued before it: skip to it
            await client.send({"method": "LIST_SUBSCRIPTIONS", "id": "mark"})
            while True:
                msg = await client.ws.receive(timeout=5)
                if msg.type is aiohttp.WSMsgType.TEXT and '"id":"mark"' in msg.data:
                    break
            for _ in range(50):
                assert _classify(await client.ws.receive(timeout=5)) == "good"


async def test_rest_429_window_then_normal_again() -> None:
    async with ExchangeSimulator(symbols=3) as sim:
        sim.rest_429(1.0)
        status, retry_after = await _rest_status(sim)
        assert status == 429 and retry_after == "1"

        async def back() -> bool:
            return (await _rest_status(sim))[0] == 200

        await eventually(back, timeout=3, what="REST 200 after the 429 window")


async def test_rest_418_ban_window() -> None:
    async with ExchangeSimulator(symbols=3) as sim:
        sim.rest_418(2.0)
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"{sim.rest_url}/api/v3/klines", params={"symbol": "BTCUSDT"}
            ) as resp:
                body = await resp.json()
                assert resp.status == 418 and resp.headers["Retry-After"] == "2"
                assert body["code"] == -1003 and body["msg"].startswith(
                    "Way too much request weight used"
                )


async def test_periodic_faults_from_the_schedule() -> None:
    faults = Faults(drop_every=0.6, rest_429_every=0.6, rest_429_seconds=0.3)
    async with ExchangeSimulator(symbols=3, rate=5.0, faults=faults) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as client:
            msg = await client.closed(timeout=3)
            assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)

        async def throttled() -> bool:
            return (await _rest_status(sim))[0] == 429

        await eventually(throttled, timeout=3, interval=0.05, what="a scheduled 429 window")
    async with ExchangeSimulator(symbols=3, rate=20.0, faults=Faults(shutdown_every=0.4)) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade") as client:
            started = time.monotonic()
            await _until_shutdown_event(client)
            assert time.monotonic() - started < 1.5


def test_bad_fault_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="malformed_rate"):
        ExchangeSimulator(faults=Faults(malformed_rate=1.5))
    with pytest.raises(ValueError, match="drop_every"):
        ExchangeSimulator(faults=Faults(drop_every=-1))


async def test_a_client_that_stops_reading_is_dropped_and_counted() -> None:
    async with ExchangeSimulator(symbols=20, rate=1000.0) as sim:
        sim.hub.max_unsent = 64 * 1024
        host, port = sim.rest_url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep the window small
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
        streams = "/".join(f"{name.lower()}@trade" for name in sim.usdt_symbols())
        handshake = (
            f"GET /stream?streams={streams} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        await asyncio.get_running_loop().sock_sendall(sock, handshake.encode())
        try:  # and never read a byte

            async def dropped() -> bool:
                return sim.hub.slow_consumers_dropped == 1

            await eventually(dropped, timeout=20, what="the slow consumer dropped")
            assert not sim.hub.connections
        finally:
            sock.close()
