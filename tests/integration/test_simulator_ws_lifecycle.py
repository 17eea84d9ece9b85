"""Simulator connection lifecycle over real sockets: server pings, the pong deadline, and what
does (an echoed pong) or does not (an unsolicited pong) keep a connection alive."""

from __future__ import annotations

import asyncio
import itertools
import time

import aiohttp

from actors.simulator.exchange import ExchangeSimulator
from tests.integration.simulator_support import connect

PING, PONG_TIMEOUT = 0.3, 0.8


async def _pings(ws: aiohttp.ClientWebSocketResponse, seconds: float, answer: bool) -> list[float]:
    """Arrival times of server pings during `seconds` (answering each if `answer`)."""
    seen: list[float] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = await ws.receive(timeout=left)
        except TimeoutError:
            break
        if msg.type is aiohttp.WSMsgType.PING:
            seen.append(time.monotonic())
            if answer:
                await ws.pong(msg.data)
        elif msg.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"connection ended: {msg}")
    return seen


async def test_pings_every_interval_and_echoed_pongs_keep_the_link() -> None:
    async with ExchangeSimulator(
        symbols=3, rate=2.0, ping_interval=PING, pong_timeout=PONG_TIMEOUT
    ) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade", autoping=False) as client:
            seen = await _pings(client.ws, 3 * PONG_TIMEOUT, answer=True)
            assert len(seen) >= 5
            gaps = [b - a for a, b in itertools.pairwise(seen)]
            assert all(0.2 < gap < 0.6 for gap in gaps), gaps
            assert not client.ws.closed


async def test_no_pong_within_the_deadline_disconnects() -> None:
    async with ExchangeSimulator(
        symbols=3, rate=2.0, ping_interval=PING, pong_timeout=PONG_TIMEOUT
    ) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade", autoping=False) as client:
            started = time.monotonic()
            msg = await client.closed(timeout=5.0)
            waited = time.monotonic() - started
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.extra == "Pong timeout"
            assert PING + PONG_TIMEOUT - 0.1 < waited < PING + PONG_TIMEOUT + 1.0


async def test_unsolicited_pongs_do_not_keep_the_link() -> None:
    async with ExchangeSimulator(
        symbols=3, rate=2.0, ping_interval=PING, pong_timeout=PONG_TIMEOUT
    ) as sim:
        async with connect(f"{sim.ws_url}/ws/btcusdt@trade", autoping=False) as client:

            async def unsolicited() -> None:
                for _ in range(20):
                    await client.ws.pong(b"")
                    await asyncio.sleep(0.25)

            sender = asyncio.create_task(unsolicited())
            try:
                msg = await client.closed(timeout=5.0)
            finally:
                sender.cancel()
            assert msg.type is aiohttp.WSMsgType.CLOSE and msg.extra == "Pong timeout"


async def test_client_pings_are_answered() -> None:
    async with ExchangeSimulator(symbols=3, rate=2.0) as sim:
        async with connect(f"{sim.ws_url}/ws", autoping=False) as client:
            await client.ws.ping(b"hello")
            msg = await client.ws.receive(timeout=5)
            assert msg.type is aiohttp.WSMsgType.PONG and msg.data == b"hello"
