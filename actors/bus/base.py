"""The bus between the feed and its consumers (docs/architecture.md §2.2).

In one process it is asyncio queues (`MemoryBus`); across processes a Redis Stream
(`RedisBus`). A *group* subscription is at-least-once: a batch stays pending until acked,
and a restarted consumer of the same group gets its unacked batches again. A group holds its
unread points up to a memory bound (`BUS_MAX_MB`); past it the oldest go, and the loss
(symbols, first and last second) is counted, logged and handed to the group's writer through
`take_losses`, which asks the feed to backfill it. A *tail* subscription (the fronts) sees
only what is published after it starts, and drops (counted) when it falls behind. Publishing
never waits on a slow reader: live prices first (docs/architecture.md §2.2).

Every entry published has an id `"<ms>-<seq>"` (the Redis Stream id in tree mode, the same form
in memory), increasing in publish order. Tail batches say which entries they hold, and `entries`
reads a kept stretch of them again: the fronts use both for Socket.IO connection state recovery
(docs/socketio.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import msgspec

from actors.bus.loss import Loss, LossView
from actors.messages import PricePoint


class Batch(msgspec.Struct):
    """Points delivered together; `token` is what `ack` takes (opaque to consumers).

    `entries` (tail batches): the id and point count of each bus entry in `points`, in order."""

    points: list[PricePoint]
    token: object = None
    entries: list[tuple[str, int]] | None = None


EntryId = tuple[int, int]


def entry_key(entry_id: str) -> EntryId:
    """`"<ms>-<seq>"` as a pair that orders like the ids; ValueError if it is not one."""
    ms, _, seq = entry_id.partition("-")
    if not ms.isdigit() or not seq.isdigit():
        raise ValueError(f"not a bus entry id: {entry_id!r}")
    return int(ms), int(seq)


class EntriesGone(Exception):
    """Entries after the requested id are no longer kept (trimmed or from before a restart)."""


class Subscription(Protocol):
    """A consumer's view of the bus."""

    async def read(self, timeout: float) -> Batch | None:
        """The next batch, or None after `timeout` seconds without one."""

    async def ack(self, batch: Batch) -> None:
        """Mark a batch done; only after the consumer's write has committed."""

    async def take_losses(self) -> Loss | None:
        """Points this group lost past the bus's bound since the last call (None: none)."""

    async def close(self) -> None: ...


class Tail(Subscription, Protocol):
    """A tail subscription; `start` is the id of the newest entry when it started."""

    start: str


class Bus(Protocol):
    """Publish price points; subscribe as a group member or as a tail reader."""

    # True when publishing is in-process (nothing to wait for): `publish_nowait` works
    instant: bool

    async def publish(self, points: Sequence[PricePoint]) -> None:
        """Deliver to every subscriber without waiting on any of them."""

    def publish_nowait(self, points: Sequence[PricePoint]) -> None:
        """`publish` within the caller's own step; only on an `instant` bus."""

    async def group(self, name: str, consumer: str) -> Subscription: ...

    async def tail(self) -> Tail: ...

    async def entries(
        self, after: str, until: str, count: int, *, inclusive: bool = False
    ) -> list[tuple[str, list[PricePoint]]]:
        """Up to `count` entries with `after` < id <= `until` (`after` <= id with `inclusive`),
        oldest first; raises EntriesGone when one of them may be gone."""

    async def losses(self) -> dict[str, LossView]:
        """Per group that lost points: what it lost and what still awaits a backfill request."""

    async def close(self) -> None: ...
