"""In-process bus: per-group bounded buffers and per-tail bounded queues; publish never waits.
The entries of the last `history_seconds` are kept for `entries` (Socket.IO recovery)."""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import time
from collections.abc import Sequence

from actors import metrics
from actors.bus.base import Batch, EntriesGone, EntryId, entry_key
from actors.bus.loss import Loss, LossLedger, LossView
from actors.core.waiting import get_within, wait_set
from actors.messages import PricePoint

# Measured sizes (tracemalloc): a PricePoint with its own int and floats, and the Batch (plus
# deque slot) each group holds per publish. A group's memory bound is applied with them.
POINT_BYTES = 170
BATCH_BYTES = 64
DEFAULT_MAX_MB = 128.0


def batch_bytes(batch: Batch) -> int:
    """What holding `batch` costs a group, by the measured sizes."""
    return BATCH_BYTES + POINT_BYTES * len(batch.points)


class _GroupSubscription:
    """At-least-once within the process: unacked batches are delivered again after `group()`.

    Unread batches wait in a buffer of at most `max_bytes` (by `batch_bytes`); past it the
    oldest unread batches are dropped, down to 90% of it, and recorded in `ledger` (counted, logged, handed to the
    writer)."""

    def __init__(self, name: str, max_bytes: int) -> None:
        self.name = name
        self.max_bytes = max_bytes
        self.queue: collections.deque[Batch] = collections.deque()
        self.queued_bytes = 0
        self.pending: dict[int, Batch] = {}
        self.redeliver: list[Batch] = []
        self.ledger = LossLedger(name, where="memory bus")
        self._ready = asyncio.Event()
        self._ids = itertools.count()
        metrics.BUS_PENDING.labels(name).set_function(lambda: len(self.pending))

    def offer(self, batch: Batch) -> None:
        """Queue a batch without waiting; drop the oldest unread ones past the bound."""
        self.queue.append(batch)
        self.queued_bytes += batch_bytes(batch)
        if self.queued_bytes > self.max_bytes and len(self.queue) > 1:
            # down to 90%: a stalled group drops (and records) in chunks, not every publish
            lost, keep = Loss(), self.max_bytes * 0.9
            while self.queued_bytes > keep and len(self.queue) > 1:
                dropped = self.queue.popleft()
                self.queued_bytes -= batch_bytes(dropped)
                lost.add(dropped.points)
            self.ledger.record(lost)
        self._ready.set()

    async def read(self, timeout: float) -> Batch | None:
        if self.redeliver:
            return self.redeliver.pop(0)
        if not self.queue and timeout > 0:
            self._ready.clear()
            await wait_set(self._ready, timeout)
        if not self.queue:
            return None
        batch = self.queue.popleft()
        self.queued_bytes -= batch_bytes(batch)
        batch.token = next(self._ids)
        self.pending[batch.token] = batch
        return batch

    async def ack(self, batch: Batch) -> None:
        if isinstance(batch.token, int):
            self.pending.pop(batch.token, None)

    async def take_losses(self) -> Loss | None:
        self.ledger.report()
        return self.ledger.take()

    async def close(self) -> None:
        return None


class _TailSubscription:
    """Sees what is published after it starts; drops the oldest (counted) when behind."""

    def __init__(self, bus: MemoryBus, maxsize: int, start: str) -> None:
        self.bus = bus
        self.start = start
        self.queue: asyncio.Queue[Batch] = asyncio.Queue(maxsize=maxsize)

    def offer(self, batch: Batch) -> None:
        if self.queue.full():
            dropped = self.queue.get_nowait()
            metrics.BUS_DROPPED.labels("tail").inc(len(dropped.points))
        self.queue.put_nowait(batch)

    async def read(self, timeout: float) -> Batch | None:
        return await get_within(self.queue, timeout)

    async def ack(self, batch: Batch) -> None:
        return None

    async def take_losses(self) -> Loss | None:
        return None

    async def close(self) -> None:
        self.bus.tails.discard(self)


class MemoryBus:
    """The embedded-mode bus. `publish` never waits: a group buffers up to `max_mb` megabytes
    of unread points (`BUS_MAX_MB`) and drops its oldest past that (recorded for backfill);
    a tail holds `maxsize` batches and drops its oldest (a front only wants the present).
    The entries of the last `history_seconds` (at most `max_history`) stay readable by
    `entries`."""

    instant = True  # publish_nowait: nothing to wait for in-process

    def __init__(
        self,
        maxsize: int = 10_000,
        *,
        max_mb: float = DEFAULT_MAX_MB,
        history_seconds: float = 120.0,
        max_history: int = 500_000,
    ) -> None:
        self.maxsize = maxsize
        self.max_bytes = max(1, int(max_mb * 1024 * 1024))
        self.history_seconds = history_seconds
        self.max_history = max_history
        self.groups: dict[str, _GroupSubscription] = {}
        self.tails: set[_TailSubscription] = set()
        self._published = metrics.BUS_PUBLISHED.labels("memory")
        self._last: EntryId = (0, 0)
        # (key, id, points, monotonic publish time), oldest first; `_gone` is the newest dropped
        self._history: collections.deque[tuple[EntryId, str, list[PricePoint], float]] = (
            collections.deque()
        )
        self._gone: EntryId = (0, 0)

    def _next_id(self) -> tuple[EntryId, str]:
        ms, seq = int(time.time() * 1000), 0
        if ms <= self._last[0]:
            ms, seq = self._last[0], self._last[1] + 1
        self._last = (ms, seq)
        return self._last, f"{ms}-{seq}"

    async def publish(self, points: Sequence[PricePoint]) -> None:
        self.publish_nowait(points)

    def publish_nowait(self, points: Sequence[PricePoint]) -> None:
        if not points:
            return
        listed = list(points)
        key, entry_id = self._next_id()
        self._keep(key, entry_id, listed)
        for group in self.groups.values():
            group.offer(Batch(listed))
        for tail in self.tails:
            tail.offer(Batch(listed, entries=[(entry_id, len(listed))]))
        self._published.inc(len(listed))

    def _keep(self, key: EntryId, entry_id: str, points: list[PricePoint]) -> None:
        history = self._history
        now = time.monotonic()
        history.append((key, entry_id, points, now))
        oldest = now - self.history_seconds
        while history and (history[0][3] < oldest or len(history) > self.max_history):
            self._gone = history.popleft()[0]

    async def entries(
        self, after: str, until: str, count: int, *, inclusive: bool = False
    ) -> list[tuple[str, list[PricePoint]]]:
        """Kept entries with `after` < id <= `until` (or `after` <= id); EntriesGone if one of
        them was dropped."""
        low, high = entry_key(after), entry_key(until)
        if low < self._gone or (inclusive and low == self._gone):
            raise EntriesGone(f"entries after {after} are no longer kept")
        history = self._history
        find = bisect.bisect_left if inclusive else bisect.bisect_right
        start = find(history, low, key=lambda item: item[0])
        found: list[tuple[str, list[PricePoint]]] = []
        for index in range(start, len(history)):
            key, entry_id, points, _ = history[index]
            if key > high or len(found) >= count:
                break
            found.append((entry_id, points))
        return found

    async def group(self, name: str, consumer: str) -> _GroupSubscription:
        sub = self.groups.get(name)
        if sub is None:
            sub = self.groups[name] = _GroupSubscription(name, self.max_bytes)
        sub.redeliver = sorted(
            sub.pending.values(), key=lambda b: b.token if isinstance(b.token, int) else 0
        )
        return sub

    async def tail(self) -> _TailSubscription:
        sub = _TailSubscription(self, self.maxsize, f"{self._last[0]}-{self._last[1]}")
        self.tails.add(sub)
        return sub

    async def losses(self) -> dict[str, LossView]:
        """Each group that lost points: totals and what awaits its writer's backfill request."""
        return {
            name: group.ledger.view()
            for name, group in self.groups.items()
            if group.ledger.total.points
        }

    async def close(self) -> None:
        self.tails.clear()
