"""Several front processes on one Redis bus: each delivers price_update to its own clients,
websocket-only, with no sticky sessions between them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aiohttp
import pytest
import socketio

from tests.helpers import eventually
from tests.integration.tree_support import Tree, extra_front, shared_tree, tree_symbols

__all__ = ["shared_tree"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def second_front(shared_tree: Tree) -> Iterator[str]:
    """`binance-stats actor front` once more, on its own HTTP and metrics ports."""
    with extra_front(shared_tree) as url:
        yield url


class Watcher:
    """A websocket-only Socket.IO client subscribed to one symbol, keeping its updates."""

    def __init__(self, url: str, symbol: str) -> None:
        self.url = url
        self.symbol = symbol
        self.client = socketio.AsyncClient(reconnection=False)
        self.updates: list[dict[str, object]] = []
        self.client.on("price_update", self._on_price)

    async def _on_price(self, data: dict[str, object]) -> None:
        if data.get("symbol") == self.symbol:
            self.updates.append(data)

    async def connect(self) -> bool:
        try:
            await self.client.connect(self.url, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return False
        await self.client.emit("subscribe", {"symbol": self.symbol})
        return True


async def test_two_fronts_each_deliver_price_updates(shared_tree: Tree, second_front: str) -> None:
    symbol = (await tree_symbols(shared_tree))[0]
    first = Watcher(shared_tree.front_url, symbol)
    second = Watcher(second_front, symbol)
    try:
        await eventually(first.connect, timeout=30, interval=0.3, what="front 1")
        await eventually(second.connect, timeout=30, interval=0.3, what="front 2")
        await eventually(
            lambda: _both_have(first, second, 2),
            timeout=30,
            what=f"price_update from both fronts\n{shared_tree.logs()}",
        )
        assert first.client.transport() == second.client.transport() == "websocket"
        async with aiohttp.ClientSession() as http:
            for url in (shared_tree.front_url, second_front):
                # ready: store, Redis cache, and the feed shards' heartbeats read from Redis
                await eventually(
                    lambda url=url: _ready(http, url), timeout=15, what=f"{url}/readyz"
                )
        for watcher in (first, second):
            stamps = [int(u["timestamp"]) for u in watcher.updates]  # type: ignore[call-overload]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    finally:
        await asyncio.gather(first.client.disconnect(), second.client.disconnect())


async def _both_have(first: Watcher, second: Watcher, count: int) -> bool:
    return len(first.updates) >= count and len(second.updates) >= count


async def _ready(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(f"{url}/readyz") as response:
        body = await response.json()
    return response.status == 200 and body["checks"]["feed"] is True
