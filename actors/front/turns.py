"""LoopTurns: client requests start at most a few per turn of the event loop.

One process serves every client on one loop. A loop turn runs every callback that was ready
when it began, so a burst of requests arriving together (a hundred connections sending at the
same instant) runs back to back, and the feed's next frame and the broadcast it triggers wait
behind all of them: measured, 15-35 ms stalls every time a synchronized attacker fired
(docs/security.md §6). Requests that find the turn's share taken wait for a later turn, with
the loop's I/O polled in between, so live prices interleave with the burst instead of queueing
behind it. By default one request starts per turn (measured: 8 a turn left the honest p99
twice as high under every attack at once). A waiting request is a future woken once, in order;
past `max_waiting` a request is refused at once (the server is saturated and queueing would
only add latency).
"""

from __future__ import annotations

import asyncio
import collections

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from actors import metrics
from actors.config import Settings
from actors.front.errors import ApiError, error_response


class TurnsExhausted(ApiError):
    """More requests are already waiting for a turn than the bound allows: 503, retry in 1 s."""

    def __init__(self) -> None:
        super().__init__(503, "server busy: too many requests waiting", (), {"Retry-After": "1"})


class LoopTurns:
    """At most `per_turn` requests start in one loop turn; at most `max_waiting` wait."""

    def __init__(self, per_turn: int, max_waiting: int) -> None:
        if per_turn < 1 or max_waiting < 0:
            raise ValueError("per_turn must be >= 1 and max_waiting >= 0")
        self.per_turn = per_turn
        self.max_waiting = max_waiting
        self.waiting = 0
        self._started = 0
        self._queue: collections.deque[asyncio.Future[None]] = collections.deque()
        self._reset_pending = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LoopTurns:
        """REQUESTS_PER_TURN and REQUESTS_WAITING_MAX."""
        return cls(settings.requests_per_turn, settings.requests_waiting_max)

    def _schedule_reset(self) -> None:
        if not self._reset_pending:
            self._reset_pending = True
            asyncio.get_running_loop().call_soon(self._reset)

    def _reset(self) -> None:
        """A new turn: the longest-waiting requests get its share. They run on the turn after
        this callback's, so they count against that turn (and new arrivals queue behind them)."""
        self._reset_pending = False
        granted = 0
        queue = self._queue
        while queue and granted < self.per_turn:
            waiter = queue.popleft()
            if not waiter.done():  # a request cancelled while waiting has left
                waiter.set_result(None)
                granted += 1
        self._started = granted
        if granted or queue:
            self._schedule_reset()

    async def take(self) -> None:
        """Return once this turn has room; raises TurnsExhausted when too many wait already."""
        if self._started < self.per_turn and not self._queue:
            self._started += 1
            self._schedule_reset()
            return
        if self.waiting >= self.max_waiting:
            metrics.TURNS_REFUSED.inc()
            raise TurnsExhausted()
        # Each waiting request is a future woken once, in order, by `_reset`: waiting costs
        # nothing per turn however many wait (a re-check per turn per request would make
        # draining a queue of N cost N^2).
        waiter = asyncio.get_running_loop().create_future()
        self._queue.append(waiter)
        self.waiting += 1
        metrics.TURNS_DEFERRED.inc()
        self._schedule_reset()
        try:
            await waiter
        finally:
            self.waiting -= 1


def turns_middleware(turns: LoopTurns) -> Middleware:
    """Every HTTP request (REST, Socket.IO polling and handshakes) takes a turn first; one
    refused for a saturated loop gets 503 with Retry-After."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            await turns.take()
        except TurnsExhausted as exc:
            return error_response(exc.status, exc.message, exc.sources, exc.headers)
        return await handler(request)

    return middleware
