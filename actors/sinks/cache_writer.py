"""CacheWriter: keeps the price cache current from the bus group `cache-writer`.

Its write policy on the GroupConsumer skeleton: a retry buffer that never stops the reads
(docs/architecture.md, the cache).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from actors import metrics
from actors.bus.base import Batch, Bus, Subscription
from actors.cache.aggregates import IntervalAggregator
from actors.cache.base import CacheError, PriceCache
from actors.core.backoff import Backoff
from actors.messages import PricePoint
from actors.sinks.consumer import GroupConsumer
from actors.store.intervals import IntervalScheme

GROUP = "cache-writer"


class CacheWriter(GroupConsumer):
    """Writes each batch's points, and the interval aggregates they change, to the cache.

    The cache is best effort, but a hole in it would be served as data, so: a batch is acked
    once written; while the cache is down, batches wait (unacked) in a retry buffer and are
    retried with capped backoff, and the bus keeps being read so the feed never waits on the
    cache. Overflow rule: past `buffer_limit` points the oldest batches are dropped, counted in
    `bs_cache_dropped_points_total` and acked, and the cache's series floor is raised past them
    (`mark_gap`) so readers take that range from the store. Aggregates are folded when a batch
    arrives, so they stay whole even when points are dropped; an interval's aggregate is written
    once it closes (again if late points change it), and only for intervals that began after
    `aggregates_since_ms` (default: construction time): never a partial one. Points whose price
    is not finite and positive are counted in `bs_points_rejected_total` and skipped. Points
    the bus dropped of this group past its bound (`take_losses`, looked at every second) raise
    the series floor the same way; the DbWriter has the feed backfill them into the store.
    """

    group = GROUP
    target = "cache"

    def __init__(
        self,
        bus: Bus,
        cache: PriceCache,
        scheme: IntervalScheme,
        *,
        name: str = "cache-writer",
        consumer: str = GROUP,
        buffer_limit: int = 100_000,
        backoff: Backoff | None = None,
        read_timeout: float = 0.5,
        aggregates_since_ms: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, bus, consumer, backoff or Backoff(base=0.2, cap=5.0), read_timeout)
        self.cache = cache
        self.buffer_limit = buffer_limit
        self.clock = clock
        since = int(time.time() * 1000) if aggregates_since_ms is None else aggregates_since_ms
        self.aggregator = IntervalAggregator(scheme, since_ms=since)
        self._pending: deque[tuple[Batch, list[PricePoint]]] = deque()
        self._pending_points = 0
        self._gap_until: int | None = None
        self._retry_at = 0.0
        self._next_loss_check = 0.0
        label = getattr(cache, "kind", type(cache).__name__)
        self._written = metrics.CACHE_WRITES.labels(label)
        self._failed = metrics.CACHE_FAILURES.labels(label)
        self._dropped = metrics.CACHE_DROPPED.labels(label)
        metrics.CACHE_BUFFERED.labels(label).set_function(lambda: self._pending_points)

    @property
    def buffered(self) -> int:
        """Points read from the bus and not yet in the cache."""
        return self._pending_points

    async def consume(self, sub: Subscription) -> None:
        # Batches still held from before a restart are delivered again by the bus.
        self._pending.clear()
        self._pending_points = 0
        self.spawn(self._run(sub), "consume")

    async def final_flush(self, sub: Subscription) -> None:
        if self._pending:
            await self._flush(sub)  # one last try

    async def _run(self, sub: Subscription) -> None:
        while not self.should_stop:
            wait = self.read_timeout
            if self._pending:
                wait = min(wait, max(0.0, self._retry_at - self.clock()))
            batch = await sub.read(wait)
            if batch is not None:
                await self._take(sub, batch)
            if self.clock() >= self._next_loss_check:
                self._next_loss_check = self.clock() + 1.0
                await self._take_losses(sub)
            if self._pending and self.clock() >= self._retry_at:
                await self._flush(sub)

    async def _take(self, sub: Subscription, batch: Batch) -> None:
        points = self.accept(batch.points)
        self.aggregator.add(points)
        self._pending.append((batch, points))
        self._pending_points += len(points)
        while self._pending_points > self.buffer_limit and len(self._pending) > 1:
            dropped, lost = self._pending.popleft()
            self._pending_points -= len(lost)
            self._dropped.inc(len(lost))
            if lost:
                newest = max(point.ts for point in lost) + 1
                self._gap_until = max(self._gap_until or newest, newest)
            await sub.ack(dropped)

    async def _take_losses(self, sub: Subscription) -> None:
        loss = await sub.take_losses()
        if loss is None:
            return
        newest = (loss.last + 1) * 1000
        self._gap_until = max(self._gap_until or newest, newest)
        if not self._pending:
            await self._flush(sub)  # nothing else would write the raised floor soon

    async def _flush(self, sub: Subscription) -> None:
        if not self.writes_ok and not await self.cache.ping():
            self._retry_later(None)  # a cheap probe before encoding the whole buffer again
            return
        points = [point for _, held in self._pending for point in held]
        aggregates = self.aggregator.ready()
        try:
            await self.cache.put_points(points)
            await self.cache.put_aggregates(aggregates)
            if self._gap_until is not None:
                await self.cache.mark_gap(self._gap_until)
        except CacheError as exc:
            self._retry_later(exc)
            return
        self.write_succeeded()
        self._retry_at = 0.0
        self._gap_until = None
        self.aggregator.written(aggregates)
        self._written.inc(len(points))
        while self._pending:
            batch, held = self._pending.popleft()
            self._pending_points -= len(held)
            await sub.ack(batch)

    def _retry_later(self, exc: CacheError | None) -> None:
        self._failed.inc()
        self._retry_at = self.clock() + self.write_failed(exc, self._pending_points)
