"""Three tree hosts on loopback sharing one Redis and one store, as separate machines would:
one runs the feed shards, one the writers, one two fronts. Clients of both fronts get the
updates; the feed host dying (supervisord and all) and coming back leaves no missing second."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import socketio

from actors.store import IntervalScheme, Store, open_store
from tests.helpers import eventually, free_port
from tests.integration.host_support import Host
from tests.integration.test_tree_supervisord import store_problems, stored_through
from tests.integration.tree_support import Simulator, drop_prefix, metrics_base, tree_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SHARDS = 2
WATCHED = 3  # symbols each client subscribes to


def _port_pair() -> int:
    """A port P with P+1 free too (front K of a host listens on PORT+K)."""
    for _ in range(100):
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two adjacent free ports")


@dataclass
class Deployment:
    feed: Host
    writers: Host
    fronts: Host
    db_path: Path
    front_urls: list[str]

    def logs(self) -> str:
        return "\n".join(host.logs() for host in (self.feed, self.writers, self.fronts))


@pytest.fixture
def deployment(tmp_path: Path, redis_url: str) -> Iterator[Deployment]:
    simulator = Simulator.start(symbols=8)
    prefix = f"test:hosts:{uuid.uuid4().hex[:10]}:"
    db_path = tmp_path / "store.db"  # the shared store (MongoDB in a real deployment)
    port = _port_pair()
    hosts = {}
    for name, extra in (
        ("writers", {"ROLES": "db-writer,cache-writer"}),
        ("fronts", {"ROLES": "front", "FRONTS": "2"}),
        ("feed", {"ROLES": "feed"}),
    ):
        root = tmp_path / name
        root.mkdir()
        env = tree_env(
            simulator,
            redis_url,
            prefix,
            db_path,
            port=port,
            metrics_base=metrics_base(SHARDS),
            shards=SHARDS,
        )
        hosts[name] = Host(root, env | extra | {"DB_FLUSH_SECONDS": "2"})
    try:
        for host in hosts.values():
            host.start()
        yield Deployment(
            hosts["feed"],
            hosts["writers"],
            hosts["fronts"],
            db_path,
            [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"],
        )
    finally:
        for host in hosts.values():
            host.teardown()
        simulator.stop()
        drop_prefix(redis_url, prefix)


class Client:
    """A websocket-only Socket.IO client of one front, subscribed to some symbols."""

    def __init__(self, url: str, symbols: list[str]) -> None:
        self.url = url
        self.symbols = symbols
        self.sio = socketio.AsyncClient(reconnection=False)
        self.seconds: dict[str, list[int]] = {symbol: [] for symbol in symbols}
        self.sio.on("price_update", self._on_price)

    async def _on_price(self, data: dict[str, object]) -> None:
        symbol = str(data.get("symbol"))
        if symbol in self.seconds:
            self.seconds[symbol].append(int(data["timestamp"]) // 1000)  # type: ignore[call-overload]

    async def connect(self) -> bool:
        try:
            await self.sio.connect(self.url, transports=["websocket"], wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return False
        for symbol in self.symbols:
            await self.sio.emit("subscribe", {"symbol": symbol})
        return True

    async def got_all_since(self, second: int) -> bool:
        return all(any(s >= second for s in got) for got in self.seconds.values())


async def _symbols(store: Store) -> list[str]:
    return [record.symbol for record in await store.list_symbols(active_only=True)]


async def test_feed_writer_and_front_hosts_on_one_redis(deployment: Deployment) -> None:
    feed, writers, fronts = deployment.feed, deployment.writers, deployment.fronts
    await asyncio.to_thread(feed.wait_running, [f"feed:feed_{k:02d}" for k in range(SHARDS)])
    await asyncio.to_thread(writers.wait_running, ["db-writer", "cache-writer"])
    await asyncio.to_thread(fronts.wait_running, ["front:front_00", "front:front_01"])
    for host, others in ((feed, ("front", "db-writer")), (fronts, ("feed", "db-writer"))):
        assert not any(name.startswith(others) for name in host.status()), "ROLES chose these"

    store = open_store(f"sqlite:///{deployment.db_path}", IntervalScheme())
    await store.open()
    clients = []
    try:
        symbols = await eventually(partial(_symbols, store), timeout=30, what="seeded symbols")
        start = int(time.time())
        await eventually(
            partial(stored_through, store, symbols, start),
            timeout=40,
            what=f"prices stored\n{deployment.logs()}",
        )
        firsts = [
            (await store.points_between(s, (start - 600) * 1000, int(time.time() * 1000), 1))[
                0
            ].second
            for s in symbols
        ]
        first = max(firsts) + 1

        clients = [Client(url, symbols[:WATCHED]) for url in deployment.front_urls]
        for client in clients:
            await eventually(client.connect, timeout=30, interval=0.3, what=client.url)
        now = int(time.time())
        for client in clients:  # each front has every update the feed host publishes
            await eventually(
                partial(client.got_all_since, now + 2),
                timeout=30,
                what=f"updates of every watched symbol from {client.url}\n{deployment.logs()}",
            )

        # the feed host dies (supervisord and every program) and comes back a while later
        await asyncio.to_thread(feed.kill)
        died = int(time.time())
        await asyncio.sleep(3)  # the outage whose seconds must be recovered (deliberate)
        await asyncio.to_thread(feed.start)
        await asyncio.to_thread(feed.wait_running, [f"feed:feed_{k:02d}" for k in range(SHARDS)])
        back = int(time.time())
        for client in clients:  # the fronts never went away: their clients get updates again
            await eventually(
                partial(client.got_all_since, back + 1),
                timeout=40,
                what=f"updates after the feed host came back ({client.url})",
            )
        last = int(time.time()) + 2
        await eventually(
            partial(stored_through, store, symbols, last),
            timeout=40,
            what="the last second stored",
        )
        assert back - died >= 3 and last - first >= 8
        problems = await store_problems(store, symbols, first, last)
        assert not problems, f"window {first}..{last}: {problems}\n{deployment.logs()}"
        one, two = (
            {s: [t for t in got if t <= back + 1] for s, got in c.seconds.items()} for c in clients
        )
        assert one == two, "both fronts tail the whole bus: the same updates reach each"
        for symbol, got in one.items():
            assert got == sorted(got) and len(set(got)) == len(got)
            points = await store.points_between(symbol, got[0] * 1000, got[-1] * 1000 + 999)
            assert set(got) <= {p.second for p in points}, "every update sent is a stored second"
    finally:
        await asyncio.gather(*(c.sio.disconnect() for c in clients))
        await store.close()
