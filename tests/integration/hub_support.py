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
from actors.cache.base import SERIES_WINDOW_MS, CacheError
from actors.cache.reader import PriceReader
from actors.config import Settings
from actors.feed.status import FeedStatusBoard
from actors.front.app import FrontDeps, build_app
from actors.front.sio.hub import BroadcastHub
from actors.messages import IntervalAggregate, NewSymbol, PricePoint
from actors.store import IntervalScheme, Store
from tests.helpers import eventually, make_settings

SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "XRPUSDT")


class DownCache:
    """A cache that is unreachable: every read falls back to the store (a real code path)."""

    window_ms = SERIES_WINDOW_MS

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


async def start_hub(
    store: Store,
    serve_app: Callable[[web.Application], Awaitable[str]],
    *,
    full_app: bool = False,
    settings: Settings | None = None,
    **hub_options: Any,
) -> HubEnv:
    """A started hub on its own app, or (`full_app`) on the front's whole app with REST."""
    await seed_symbols(store)
    scheme = IntervalScheme()
    bus = MemoryBus()
    cache = DownCache()
    reader = PriceReader(cache, store, scheme)
    settings = settings or make_settings()
    hub_options.setdefault("interval_close_delay", 0.0)
    hub = BroadcastHub(bus, reader, store, scheme, settings, **hub_options)
    if full_app:
        deps = FrontDeps(settings, store, reader, FeedStatusBoard(), cache, hub=hub)
        app = build_app(settings, deps)
    else:
        app = web.Application()
    hub.attach(app)
    url = await serve_app(app)
    await hub.start()
    return HubEnv(hub, bus, store, url)


async def stop_hub(env: HubEnv) -> None:
    for client in env.clients:
        await client.sio.disconnect()
    await env.hub.stop()


@pytest.fixture
async def hub_env(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[HubEnv]:
    env = await start_hub(sqlite_store, serve_app)
    yield env
    await stop_hub(env)


def now_ms() -> int:
    return int(time.time() * 1000)
