"""The bus between the feed and its consumers (DESIGN.md §2).

In one process it is asyncio queues (`MemoryBus`); across processes a Redis Stream
(`RedisBus`). A *group* subscription is at-least-once: a batch stays pending until acked,
and a restarted consumer of the same group gets its unacked batches again. A *tail*
subscription (the fronts) sees only what is published after it starts, never blocks the
publisher, and drops (counted) when it falls behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from actors.messages import PricePoint


class Batch(msgspec.Struct):
    """Points delivered together; `token` is what `ack` takes (opaque to consumers)."""

    points: list[PricePoint]
    token: object = None


class Subscription(Protocol):
    """A consumer's view of the bus."""

    async def read(self, timeout: float) -> Batch | None:
        """The next batch, or None after `timeout` seconds without one."""

    async def ack(self, batch: Batch) -> None:
        """Mark a batch done; only after the consumer's write has committed."""

    async def close(self) -> None: ...


class Bus(Protocol):
    """Publish price points; subscribe as a group member or as a tail reader."""

    async def publish(self, points: Sequence[PricePoint]) -> None:
        """Deliver to every subscriber; waits (backpressure) while a group's queue is full."""

    async def group(self, name: str, consumer: str) -> Subscription: ...

    async def tail(self) -> Subscription: ...

    async def close(self) -> None: ...
