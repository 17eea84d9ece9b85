"""The bus between the feed and its consumers (DESIGN.md §2).

In one process it is asyncio queues (`MemoryBus`); across processes a Redis Stream
(`RedisBus`). A *group* subscription is at-least-once: a batch stays pending until acked,
and a restarted consumer of the same group gets its unacked batches again. A group holds its
unread points up to a memory bound (`BUS_MAX_MB`); past it the oldest go, and the loss
(symbols, first and last second) is counted, logged and handed to the group's writer through
`take_losses`, which asks the feed to backfill it. A *tail* subscription (the fronts) sees
only what is published after it starts, and drops (counted) when it falls behind. Publishing
never waits on a slow reader: live prices first (docs/architecture.md §2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from actors.bus.loss import Loss, LossView
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

    async def take_losses(self) -> Loss | None:
        """Points this group lost past the bus's bound since the last call (None: none)."""

    async def close(self) -> None: ...


class Bus(Protocol):
    """Publish price points; subscribe as a group member or as a tail reader."""

    async def publish(self, points: Sequence[PricePoint]) -> None:
        """Deliver to every subscriber without waiting on any of them."""

    async def group(self, name: str, consumer: str) -> Subscription: ...

    async def tail(self) -> Subscription: ...

    async def losses(self) -> dict[str, LossView]:
        """Per group that lost points: what it lost and what still awaits a backfill request."""

    async def close(self) -> None: ...
