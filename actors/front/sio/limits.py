"""Limits on what Socket.IO clients may hold and ask for (docs/security.md §4).

`ConnectionLimiter` counts live Engine.IO sessions per client address and in all, refusing a
handshake past either bound; `RequestRate` is a token bucket per socket; `ReadGate` lets a few
expensive reads run at once, queues a few more and refuses the rest at once (never an
unbounded queue of work).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class SocketLimits:
    """The configured bounds (SIO_* settings)."""

    per_ip: int = 20
    total: int = 10_000
    requests_per_second: int = 20
    max_buffer_bytes: int = 256 * 1024
    expensive_reads: int = 4
    sweep_seconds: float = 30.0


class ConnectionLimiter:
    """Live Engine.IO sessions by client address; `admit` refuses past `per_ip` or `total`."""

    def __init__(self, per_ip: int, total: int) -> None:
        self.per_ip = per_ip
        self.total = total
        self._ip_of: dict[str, str] = {}  # engine.io sid -> client address
        self._per_address: Counter[str] = Counter()

    def admit(self, eio_sid: str, ip: str) -> str | None:
        """None and the session is counted; else why it is refused."""
        if len(self._ip_of) >= self.total:
            return "the server has too many connections; retry later"
        if self._per_address[ip] >= self.per_ip:
            return f"too many connections from {ip} (at most {self.per_ip})"
        self._ip_of[eio_sid] = ip
        self._per_address[ip] += 1
        return None

    def release(self, eio_sid: str) -> None:
        """The session ended (idempotent)."""
        ip = self._ip_of.pop(eio_sid, None)
        if ip is None:
            return
        left = self._per_address[ip] - 1
        if left > 0:
            self._per_address[ip] = left
        else:
            del self._per_address[ip]

    def reconcile(self, live: Iterable[str]) -> int:
        """Forget sessions that are no longer live; returns how many."""
        alive = set(live)
        stale = [eio_sid for eio_sid in self._ip_of if eio_sid not in alive]
        for eio_sid in stale:
            self.release(eio_sid)
        return len(stale)

    def from_address(self, ip: str) -> int:
        return self._per_address.get(ip, 0)

    def __len__(self) -> int:
        return len(self._ip_of)


class RequestRate:
    """A token bucket per socket: `rate` requests a second, bursts of `rate`."""

    def __init__(self, rate: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = float(rate)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # sid -> (tokens, last refill)

    def allow(self, sid: str) -> bool:
        """Take a token for one request of `sid`; False when it has none left."""
        now = self.clock()
        tokens, last = self._buckets.get(sid, (self.rate, now))
        tokens = min(self.rate, tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._buckets[sid] = (tokens, now)
            return False
        self._buckets[sid] = (tokens - 1.0, now)
        return True

    def forget(self, sid: str) -> None:
        self._buckets.pop(sid, None)

    def tracked(self) -> list[str]:
        return list(self._buckets)

    def __len__(self) -> int:
        return len(self._buckets)


class ServerBusy(Exception):
    """Too many expensive reads are running and waiting: this one is refused."""


class ReadGate:
    """At most `concurrent` expensive reads at once and `waiting` queued; `ServerBusy` past that."""

    def __init__(self, concurrent: int, waiting: int | None = None) -> None:
        self.concurrent = concurrent
        self.waiting = 16 * concurrent if waiting is None else waiting
        self._slots = asyncio.Semaphore(concurrent)
        self._queued = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the body; raises ServerBusy at once when the queue is full."""
        if self._slots.locked() and self._queued >= self.waiting:
            raise ServerBusy("the server is busy with other reads; retry shortly")
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            yield
        finally:
            self._slots.release()
