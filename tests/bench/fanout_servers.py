"""The two servers of the fan-out benchmarks, each in its own process: the real BroadcastHub
(python-socketio + the fast path) and a bare aiohttp WebSocket server sending the same frames.

Both answer a control API: /bench/paced (242 symbols updating once a second), /bench/saturate
(broadcast as fast as the server can), /bench/stats (CPU time and retained RSS), /bench/stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import os
import resource
import tempfile
import time
from typing import Any

import aiohttp
import msgspec
from aiohttp import web

from actors.bus.memory import MemoryBus
from actors.cache.memory import MemoryCache
from actors.cache.reader import PriceReader
from actors.front.sio.codec import EncodedEvent
from actors.front.sio.hub import BroadcastHub
from actors.front.sio.payloads import list_price_item, price_item
from actors.messages import NewSymbol, PricePoint
from actors.store import IntervalScheme, open_store
from tests.helpers import make_settings

SYMBOLS = [f"S{i:03d}USDT" for i in range(242)]
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def batch(step: int) -> list[PricePoint]:
    ts = int(time.time() * 1000)
    return [PricePoint(s, ts, 100.0 + i + step / 1000, 1.25) for i, s in enumerate(SYMBOLS)]


class BareServer:
    """The baseline: aiohttp WebSocket, rooms of sockets, one `send_str` per client."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.rooms: dict[str, set[web.WebSocketResponse]] = {s: set() for s in SYMBOLS}
        self.lists: set[web.WebSocketResponse] = set()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        joined: list[str] = []
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            wanted = msgspec.json.decode(msg.data)
            if self.dialect == "list":
                self.lists.add(ws)
            else:
                for symbol in wanted:
                    self.rooms[symbol].add(ws)
                    joined.append(symbol)
            await ws.send_str("ready")
        for symbol in joined:
            self.rooms[symbol].discard(ws)
        self.lists.discard(ws)
        return ws

    async def broadcast(self, points: list[PricePoint]) -> int:
        sent = 0
        if self.dialect == "list":
            updates = [list_price_item(p) for p in points]
            text = (
                "4"
                + EncodedEvent(
                    "price_update", {"updates": updates, "timestamp": points[0].ts}
                ).packet
            )
            for ws in list(self.lists):
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(text)
                    sent += 1
            return sent
        for p in points:
            members = self.rooms[p.symbol]
            if not members:
                continue
            text = "4" + EncodedEvent("price_update", price_item(p)).packet
            for ws in list(members):
                with contextlib.suppress(ConnectionError):
                    await ws.send_str(text)
                    sent += 1
        return sent


class HubServer:
    """The real hub over a MemoryBus, a MemoryCache and a SQLite store holding the symbols."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.dir = tempfile.mkdtemp(prefix="bs-bench-")
        self.scheme = IntervalScheme()
        self.store = open_store(f"sqlite:///{self.dir}/bench.db", self.scheme)
        self.bus = MemoryBus()
        self.reader = PriceReader(MemoryCache(), self.store, self.scheme)
        # thousands of bench clients on one loopback address, each subscribing at once
        settings = make_settings(
            SIO_MAX_CONNECTIONS_PER_IP="1000000",
            SIO_REQUESTS_PER_SECOND="100000",
            SIO_EXPENSIVE_READS="1024",
        )
        self.hub = BroadcastHub(self.bus, self.reader, self.store, self.scheme, settings)

    async def start(self, app: web.Application) -> None:
        await self.store.open()
        await self.store.upsert_symbols([NewSymbol(s, s[:-4], "USDT") for s in SYMBOLS])
        self.hub.attach(app)
        await self.hub.start()

    async def broadcast(self, points: list[PricePoint]) -> int:
        await self.bus.publish(points)
        return 0

    async def idle(self) -> None:
        """Wait until the hub has taken every published batch and the kernel every frame."""
        tails = list(self.bus.tails)
        for _ in range(100_000):
            if all(t.queue.empty() for t in tails) and self.hub.fast.backlog() < 512 * 1024:
                return
            await asyncio.sleep(0)


def serve(kind: str, dialect: str, port: int, ready: Any) -> None:
    """Server process entry point."""
    import uvloop

    uvloop.run(_serve(kind, dialect, port, ready))


async def _serve(kind: str, dialect: str, port: int, ready: Any) -> None:
    app = web.Application()
    server: BareServer | HubServer
    if kind == "bare":
        server = BareServer(dialect)
        app.router.add_get("/ws", server.handle)
    else:
        server = HubServer(dialect)
        await server.start(app)
    done = asyncio.Event()

    async def stats(_: web.Request) -> web.Response:
        # count what is retained, not garbage or freed heap glibc has not given back yet
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        return web.json_response(
            {"cpu": cpu_seconds(), "rss": rss_bytes(), "time": time.monotonic()}
        )

    async def paced(request: web.Request) -> web.Response:
        seconds = float(request.query["seconds"])
        started, cpu = time.monotonic(), cpu_seconds()
        for step in range(round(seconds)):  # exactly one batch per second
            await server.broadcast(batch(step))
            await asyncio.sleep(max(0.0, started + step + 1 - time.monotonic()))
        wall = time.monotonic() - started
        return web.json_response({"cpu": (cpu_seconds() - cpu) / wall, "rss": rss_bytes()})

    async def saturate(request: web.Request) -> web.Response:
        seconds = float(request.query["seconds"])
        if isinstance(server, HubServer):
            server.hub.throttle = 0.0
            server.hub.list_period = 0.0
        started, cpu = time.monotonic(), cpu_seconds()
        step = 0
        while time.monotonic() - started < seconds:
            await server.broadcast(batch(step))
            step += 1
            if isinstance(server, HubServer):
                await server.idle()
            else:
                await asyncio.sleep(0)
        wall = time.monotonic() - started
        return web.json_response({"cpu": (cpu_seconds() - cpu) / wall, "batches": step})

    async def stop(_: web.Request) -> web.Response:
        done.set()
        return web.json_response({})

    app.router.add_get("/bench/stats", stats)
    app.router.add_post("/bench/paced", paced)
    app.router.add_post("/bench/saturate", saturate)
    app.router.add_post("/bench/stop", stop)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=4096).start()
    ready.set()
    await done.wait()
    if isinstance(server, HubServer):
        await server.hub.stop()
    await runner.cleanup()
