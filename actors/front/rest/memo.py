"""A value recomputed at most once per `ttl`, with concurrent callers sharing one computation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRecent(Generic[T]):
    """Serves the last value for `ttl` seconds; a refresh runs once however many ask for it.

    The refresh is shielded: a client that disconnects does not cancel it for the others.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.clock = clock
        self._value: T | None = None
        self._expires = 0.0
        self._pending: asyncio.Task[T] | None = None

    async def get(self, compute: Callable[[], Awaitable[T]]) -> T:
        if self._value is not None and self.clock() < self._expires:
            return self._value
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh(compute))
            # retrieve a failure even when every caller has gone, so it is never "unretrieved"
            self._pending.add_done_callback(lambda task: task.cancelled() or task.exception())
        return await asyncio.shield(self._pending)

    async def _refresh(self, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await compute()
            self._value, self._expires = value, self.clock() + self.ttl
            return value
        finally:
            self._pending = None
