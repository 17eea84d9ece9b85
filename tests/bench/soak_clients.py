"""Socket.IO clients that connect, subscribe, stay a while and leave, at random, for a soak.

Each of `count` slots loops until stopped: connect (mostly websocket, some long-polling, as the
dashboard allows both), subscribe in one of the two dialects to a few random symbols, stay a
random time, disconnect, pause, and again. A failed connect (the front restarting) is counted
and retried after the pause, so the loop is bounded by the stop event and never spins.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

import socketio


@dataclass
class ChurnStats:
    """What the clients did, for the report."""

    sessions: int = 0
    failed_connects: int = 0
    updates: int = 0
    errors: int = 0
    connected: int = 0


class ClientChurn:
    """`count` clients of `front_url` joining and leaving at random over `symbols`."""

    def __init__(
        self,
        front_url: str,
        symbols: list[str],
        *,
        count: int = 200,
        stay: tuple[float, float] = (3.0, 60.0),
        pause: tuple[float, float] = (0.5, 5.0),
        seed: int = 13,
    ) -> None:
        self.front_url = front_url
        self.symbols = symbols
        self.count = count
        self.stay = stay
        self.pause = pause
        self.random = random.Random(seed)
        self.stats = ChurnStats()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for slot in range(self.count):
            self._tasks.append(asyncio.create_task(self._slot(slot), name=f"soak-client-{slot}"))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True when the churn was stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return self._stop.is_set()

    async def _slot(self, slot: int) -> None:
        # stagger the first connections over the first pause range so they do not all land at once
        if await self._wait(self.random.uniform(0, self.pause[1] * 4)):
            return
        while not self._stop.is_set():
            await self._session()
            if await self._wait(self.random.uniform(*self.pause)):
                return

    async def _session(self) -> None:
        client = socketio.AsyncClient(reconnection=False)

        async def on_update(_: object) -> None:
            self.stats.updates += 1

        async def on_error(_: object) -> None:
            self.stats.errors += 1

        client.on("price_update", on_update)
        client.on("error", on_error)
        transports = ["polling"] if self.random.random() < 0.1 else ["websocket"]
        try:
            await client.connect(self.front_url, transports=transports, wait_timeout=10)
        except (socketio.exceptions.ConnectionError, OSError, TimeoutError):
            self.stats.failed_connects += 1
            await _quietly_disconnect(client)
            return
        self.stats.sessions += 1
        self.stats.connected += 1
        try:
            picked = self.random.sample(self.symbols, k=min(len(self.symbols), 5))
            if self.random.random() < 0.5:
                for symbol in picked[: self.random.randint(1, 3)]:
                    await client.emit("subscribe", {"symbol": symbol})
            else:
                await client.emit("subscribe", {"symbols": picked})
            await self._wait(self.random.uniform(*self.stay))
        except (socketio.exceptions.SocketIOError, OSError):
            self.stats.errors += 1
        finally:
            self.stats.connected -= 1
            await _quietly_disconnect(client)


async def _quietly_disconnect(client: socketio.AsyncClient) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.disconnect(), 10)
