"""Shared parts of the BroadcastHub tests: a running hub on a real aiohttp server over a real
SQLite store and an in-memory bus, and a Socket.IO client that records what it receives."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from aiohttp import web

from actors.bus.memory import MemoryBus
from actors.cache.base import CacheError
from actors.cache.reader import PriceReader
from actors.front.hub import BroadcastHub
from actors.messages import IntervalAggregate, NewSymbol, PricePoint
from actors.store import IntervalScheme, Store
from tests.helpers import eventually, make_settings

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT")


class DownCache:
    """A cache that is unreachable: every read falls back to the store (a real code path)."""

    async def put_points(self, points: Sequence[PricePoint]) -> None:
        raise CacheError("down")

    async def put_aggregates(self, aggregates: Sequence[IntervalAggregate]) -> None:
        raise CacheError("down")

    async def latest(self, symbols: Sequence[str]) -> dict[str, PricePoint]:
        raise CacheError("down")

    async def series(self, symbol: str, start_ms: int, end_ms: int) -> list[PricePoint]:
        raise CacheError("down")

    async def aggregate(self, symbol: str, interval_start_ms: int) -> IntervalAggregate | None:
        raise CacheError("down")

    async def ping(self) -> bool:
        return False

    async def close(self) -> None:
        return None


@dataclass
class HubEnv:
    """A started hub and what feeds it."""

    hub: BroadcastHub
    bus: MemoryBus
    store: Store
    url: str
    clients: list[Recorder] = field(default_factory=list)

    async def client(self, transports: list[str] | None = None) -> Recorder:
        recorder = Recorder()
        await recorder.sio.connect(self.url, transports=transports or ["websocket"], wait_timeout=5)
        self.clients.append(recorder)
        return recorder

    async def publish(self, *points: PricePoint) -> None:
        await self.bus.publish(points)


class Recorder:
    """A real socketio.AsyncClient that keeps every event it receives, with receipt times."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[tuple[float, Any]]] = defaultdict(list)
        self.order: list[str] = []
        self.sio.on("*", self._any)

    async def _any(self, event: str, data: Any = None) -> None:
        self.events[event].append((time.monotonic(), data))
        self.order.append(event)

    def payloads(self, event: str) -> list[Any]:
        return [data for _, data in self.events[event]]

    async def next(self, event: str, count: int = 1, timeout: float = 5.0) -> list[Any]:
        """Wait until at least `count` `event`s arrived; returns them all."""

        async def probe() -> list[Any]:
            got = self.payloads(event)
            return got if len(got) >= count else []

        return await eventually(probe, timeout=timeout, interval=0.01, what=f"{count} x {event}")

    async def call(self, event: str, data: Any = None) -> None:
        """Emit and wait for the server's ack: the request has been handled."""
        await self.sio.call(event, data, timeout=5)


def point(symbol: str, ts: int, price: float, pct: float | None = 1.5) -> PricePoint:
    return PricePoint(symbol, ts, price, pct)


async def seed_symbols(store: Store, symbols: Sequence[str] = SYMBOLS) -> None:
    await store.upsert_symbols([NewSymbol(s, s.removesuffix("USDT"), "USDT") for s in symbols])


@pytest.fixture
async def hub_env(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[HubEnv]:
    await seed_symbols(sqlite_store)
    scheme = IntervalScheme()
    bus = MemoryBus()
    reader = PriceReader(DownCache(), sqlite_store, scheme)
    hub = BroadcastHub(bus, reader, sqlite_store, scheme, make_settings(), interval_close_delay=0.0)
    app = web.Application()
    hub.attach(app)
    url = await serve_app(app)
    await hub.start()
    env = HubEnv(hub, bus, sqlite_store, url)
    yield env
    for client in env.clients:
        await client.sio.disconnect()
    await hub.stop()


def now_ms() -> int:
    return int(time.time() * 1000)
