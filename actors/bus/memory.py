"""In-process bus: bounded asyncio queues, one per group and one per tail reader."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence

from actors import metrics
from actors.bus.base import Batch
from actors.messages import PricePoint


async def _get(queue: asyncio.Queue[Batch], timeout: float) -> Batch | None:
    """The next batch, waiting up to `timeout`; a batch already queued is returned even when
    `timeout` is 0 (`wait_for(get(), 0)` would cancel the get before it ran)."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        pass
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except TimeoutError:
        return None


class _GroupSubscription:
    """At-least-once within the process: unacked batches are delivered again after `group()`."""

    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=maxsize)
        self.pending: dict[int, Batch] = {}
        self.redeliver: list[Batch] = []
        self._ids = itertools.count()
        metrics.BUS_PENDING.labels(name).set_function(lambda: len(self.pending))

    async def read(self, timeout: float) -> Batch | None:
        if self.redeliver:
            return self.redeliver.pop(0)
        batch = await _get(self.queue, timeout)
        if batch is None:
            return None
        batch.token = next(self._ids)
        self.pending[batch.token] = batch
        return batch

    async def ack(self, batch: Batch) -> None:
        if isinstance(batch.token, int):
            self.pending.pop(batch.token, None)

    async def close(self) -> None:
        return None


class _TailSubscription:
    """Sees what is published after it starts; drops the oldest (counted) when behind."""

    def __init__(self, bus: MemoryBus, maxsize: int) -> None:
        self.bus = bus
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=maxsize)

    def offer(self, batch: Batch) -> None:
        if self.queue.full():
            dropped = self.queue.get_nowait()
            metrics.BUS_DROPPED.labels("tail").inc(len(dropped.points))
        self.queue.put_nowait(batch)

    async def read(self, timeout: float) -> Batch | None:
        return await _get(self.queue, timeout)

    async def ack(self, batch: Batch) -> None:
        return None

    async def close(self) -> None:
        self.bus.tails.discard(self)


class MemoryBus:
    """The embedded-mode bus; `maxsize` bounds every queue (in batches)."""

    def __init__(self, maxsize: int = 10_000) -> None:
        self.maxsize = maxsize
        self.groups: dict[str, _GroupSubscription] = {}
        self.tails: set[_TailSubscription] = set()
        self._published = metrics.BUS_PUBLISHED.labels("memory")

    async def publish(self, points: Sequence[PricePoint]) -> None:
        if not points:
            return
        listed = list(points)
        for group in self.groups.values():
            await group.queue.put(Batch(listed))
        for tail in self.tails:
            tail.offer(Batch(listed))
        self._published.inc(len(listed))

    async def group(self, name: str, consumer: str) -> _GroupSubscription:
        sub = self.groups.get(name)
        if sub is None:
            sub = self.groups[name] = _GroupSubscription(name, self.maxsize)
        sub.redeliver = sorted(
            sub.pending.values(), key=lambda b: b.token if isinstance(b.token, int) else 0
        )
        return sub

    async def tail(self) -> _TailSubscription:
        sub = _TailSubscription(self, self.maxsize)
        self.tails.add(sub)
        return sub

    async def close(self) -> None:
        self.tails.clear()
