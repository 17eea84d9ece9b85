"""Limits on what Socket.IO clients may hold and ask for (docs/security.md §4).

`ConnectionLimiter` counts live Engine.IO sessions per client address and in all, refusing a
handshake past either bound; `RequestRate` is a token bucket per socket; `ReadGate` lets a few
expensive reads run at once, queues a few more and refuses the rest at once (never an
unbounded queue of work).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass

HANDSHAKE_REFILL_SECONDS = 10.0


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
    """Live Engine.IO sessions by client address; `admit` refuses past `per_ip` or `total`,
    and new sessions from an address faster than `per_ip` every HANDSHAKE_REFILL_SECONDS (an
    address whose socket was disconnected by a limit waits twice that: reconnecting at once
    is how a flood would go on)."""

    def __init__(self, per_ip: int, total: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = per_ip
        self.total = total
        self._ip_of: dict[str, str] = {}  # engine.io sid -> client address
        self._per_address: Counter[str] = Counter()
        self.handshakes = RequestRate(per_ip / HANDSHAKE_REFILL_SECONDS, per_ip, clock)

    def refusal(self, ip: str) -> str | None:
        """Why a handshake from `ip` would be refused now (None: it would be admitted);
        nothing is counted or spent."""
        if len(self._ip_of) >= self.total:
            return "the server has too many connections; retry later"
        if self._per_address[ip] >= self.per_ip:
            return f"too many connections from {ip} (at most {self.per_ip})"
        if not self.handshakes.would_allow(ip):
            return f"too many new connections from {ip}; retry later"
        return None

    def admit(self, eio_sid: str, ip: str) -> str | None:
        """None and the session is counted; else why it is refused."""
        refused = self.refusal(ip)
        if refused is not None:
            return refused
        self.handshakes.allow(ip)  # takes the token `refusal` saw (tokens only refill meanwhile)
        self._ip_of[eio_sid] = ip
        self._per_address[ip] += 1
        return None

    def penalize(self, eio_sid: str) -> None:
        """The session is being disconnected by a limit: its address waits before the next."""
        ip = self._ip_of.get(eio_sid)
        if ip is not None:
            self.handshakes.penalize(ip)

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
    """A token bucket per key (a socket, an address): `rate` a second, bursts of `burst`
    (`rate` unless given)."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = float(rate)
        self.burst = float(rate if burst is None else burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)

    def _tokens(self, key: str, now: float) -> float:
        tokens, last = self._buckets.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - last) * self.rate)

    def would_allow(self, key: str) -> bool:
        """Whether `key` has a token now (none is taken)."""
        return self._tokens(key, self.clock()) >= 1.0

    def allow(self, key: str) -> bool:
        """Take a token for `key`; False when it has none left."""
        now = self.clock()
        tokens = self._tokens(key, now)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def penalize(self, key: str) -> None:
        """Empty `key`'s bucket and a burst more: it waits 2 x burst / rate seconds."""
        self._buckets[key] = (-self.burst, self.clock())

    def prune(self) -> None:
        """Forget keys whose bucket has refilled (they are back to the default)."""
        now = self.clock()
        for key in [k for k in self._buckets if self._tokens(k, now) >= self.burst]:
            del self._buckets[key]

    def forget(self, sid: str) -> None:
        self._buckets.pop(sid, None)

    def tracked(self) -> list[str]:
        return list(self._buckets)

    def __len__(self) -> int:
        return len(self._buckets)


BUDGET_POLL_SECONDS = 0.05
MAX_BUDGET_WAITS = 100  # past 5 s the read goes ahead (the budget shapes, it never starves)


class ServerBusy(Exception):
    """Too many expensive reads are running and waiting: this one is refused."""


class ReadGate:
    """Expensive reads: each caller (a socket) may start `per_caller` in a burst and one a
    second after that; at most `concurrent` run at once and, with a `budget`, at most that many
    seconds of them per second (the rest is the broadcasts'); `waiting` more queued;
    `ServerBusy` at once past any of these. A client subscribing to its symbols at connect passes;
    one asking again and again is refused, before it can take the others' share."""

    def __init__(
        self,
        concurrent: int,
        waiting: int | None = None,
        budget: float | None = None,
        per_caller: int = 30,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.callers = RequestRate(1.0, per_caller)
        self.concurrent = concurrent
        self.waiting = 16 * concurrent if waiting is None else waiting
        self.budget = budget
        self.clock = clock
        self._slots = asyncio.Semaphore(concurrent)
        self._queued = 0
        self._spent: deque[tuple[float, float]] = deque()  # (ended at, seconds held)
        self._spent_total = 0.0

    def over_budget(self) -> bool:
        return self.budget is not None and self.spent() > self.budget

    def spent(self) -> float:
        """Seconds spent in slots during the last second (wall time: a read waiting on the store
        counts too, so a budget suits reads that mostly compute)."""
        horizon = self.clock() - 1.0
        while self._spent and self._spent[0][0] < horizon:
            self._spent_total -= self._spent.popleft()[1]
        return self._spent_total

    @asynccontextmanager
    async def slot(self, caller: str | None = None) -> AsyncIterator[None]:
        """Hold one slot for the body; raises ServerBusy at once when `caller` is over its
        share or the queue is full."""
        if caller is not None and not self.callers.allow(caller):
            raise ServerBusy("busy: too many expensive reads from this connection; retry shortly")
        if (self._slots.locked() or self.over_budget()) and self._queued >= self.waiting:
            raise ServerBusy("the server is busy with other reads; retry shortly")
        self._queued += 1
        try:
            await self._slots.acquire()
        finally:
            self._queued -= 1
        try:
            for _ in range(MAX_BUDGET_WAITS):  # holding a slot, waiting for the budget
                if not self.over_budget():
                    break
                await asyncio.sleep(BUDGET_POLL_SECONDS)
        except BaseException:
            self._slots.release()
            raise
        started = self.clock()
        try:
            yield
        finally:
            if self.budget is not None:  # only a budget reads (and prunes) what was spent
                ended = self.clock()
                self._spent.append((ended, ended - started))
                self._spent_total += ended - started
                self.spent()  # the last second's only: this deque is bounded by reads a second
            self._slots.release()
