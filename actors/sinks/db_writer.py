"""DbWriter: batched, idempotent writes of the 1 Hz series to the store.

Its write policy on the GroupConsumer skeleton: a buffer keyed by (symbol, second), flushed
every `flush_seconds`; past its own bound it stops reading and the bus holds the rest, within
`BUS_MAX_MB`; what the bus dropped it has the feed backfill (docs/architecture.md §2.2, §2.4).
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from actors import metrics
from actors.bus.backfill_requests import BackfillRequests
from actors.bus.base import Batch, Bus, Subscription
from actors.bus.loss import Loss
from actors.core.backoff import Backoff
from actors.messages import PricePoint
from actors.sinks.consumer import GroupConsumer
from actors.store.base import Store, StoreError

GROUP = "db-writer"
# Drain-and-flush budget on stop; below supervisor.conf's stopwaitsecs=60 for db-writer.
STOP_TIMEOUT = 45.0
DAY_MS = 86_400_000

Key = tuple[str, int]


class DbWriter(GroupConsumer):
    """Buffers points from the bus group `db-writer` and writes them every `flush_seconds`.

    - One point per (symbol, second) in the buffer, the later delivery winning, so a point
      delivered twice is written once (and the store's upsert makes rewrites harmless).
    - A batch is acked only after the write holding its points committed; until then the bus
      keeps it and delivers it again after a crash or restart.
    - A failed write keeps the buffer and is retried with capped backoff, reopening the store
      first (`store.open()` is idempotent); `writes_ok` and `buffered` report it to /readyz.
    - Bound rule: at `buffer_limit` points the writer stops reading the bus until a write
      succeeds; the bus holds the rest up to its own bound (`BUS_MAX_MB`) and drops the oldest
      past it, never slowing the feed. Nothing is discarded here, so `bs_db_dropped_points_total`
      counts nothing; the bound may be passed by one batch.
    - Recovery: after each committed write, what the bus dropped of this group (`take_losses`)
      is handed to `backfill` (the feed refetches it from klines and publishes it again), so
      the store ends up whole; a request that cannot be sent is kept and sent after the next.
    - Invalid points (price not finite and positive) are counted in `bs_points_rejected_total`
      and skipped: redelivered, one would otherwise fail every write after it.
    - Retention pruning runs in its own task, chunked by the store, never in a flush.
    - On stop, a write in flight is awaited and the rest is flushed, retrying until the stop
      timeout; what still fails stays unacked on the bus (logged).
    """

    group = GROUP
    target = "store"

    def __init__(
        self,
        bus: Bus,
        store: Store,
        *,
        flush_seconds: float = 5.0,
        retention_days: int = 30,
        buffer_limit: int = 300_000,
        prune_every: float = 3600.0,
        backoff: Backoff | None = None,
        read_timeout: float = 0.5,
        backfill: BackfillRequests | None = None,
        name: str = "db-writer",
        consumer: str = GROUP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if flush_seconds <= 0 or retention_days <= 0 or buffer_limit <= 0:
            raise ValueError("flush_seconds, retention_days and buffer_limit must be positive")
        super().__init__(name, bus, consumer, backoff or Backoff(base=0.5, cap=30.0), read_timeout)
        self.store = store
        self.flush_seconds = flush_seconds
        self.retention_days = retention_days
        self.buffer_limit = buffer_limit
        self.prune_every = prune_every
        self.backfill = backfill
        self.clock = clock
        self.last_flush_at: float | None = None  # monotonic time of the last commit
        # (monotonic start, points) of recent committed writes, for tests and diagnostics
        self.recent_flushes: collections.deque[tuple[float, int]] = collections.deque(maxlen=64)
        self._buffer: dict[Key, PricePoint] = {}
        self._batches: list[Batch] = []
        self._inflight_points = 0
        self._inflight: asyncio.Task[bool] | None = None
        self._reopen = False
        self._room = asyncio.Event()
        self._room.set()
        self._stop_timeout = 10.0
        self._unasked: Loss | None = None  # lost on the bus, backfill not yet asked for
        self._retry_in = 0.0  # backoff delay after the last failed write
        metrics.DB_BUFFERED.set_function(lambda: self.buffered)

    @property
    def buffered(self) -> int:
        """Points read from the bus and not yet committed."""
        return len(self._buffer) + self._inflight_points

    async def ready(self) -> bool:
        """For /readyz (a ReadinessCheck probe): the store takes writes and reads are not paused."""
        return self.writes_ok and self.buffered < self.buffer_limit

    # lifecycle -----------------------------------------------------------
    async def consume(self, sub: Subscription) -> None:
        # Batches held from before a restart also come again from the bus: their points
        # collapse in the buffer, and acking a batch twice is harmless.
        self.spawn(self._read_loop(sub), "consume")
        self.spawn(self._flush_loop(sub), "flush")
        self.spawn(self._prune_loop(), "prune")

    async def stop(self, timeout: float = 10.0) -> None:
        self._stop_timeout = timeout
        await super().stop(timeout)

    async def final_flush(self, sub: Subscription) -> None:
        deadline = time.monotonic() + self._stop_timeout
        if self._inflight is not None and not self._inflight.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._inflight), self._stop_timeout)
            except TimeoutError:
                self.log.warning("stop: a write still runs after %.1fs", self._stop_timeout)
        while (self._buffer or self._batches) and time.monotonic() < deadline:
            if await self._flush_now(sub):
                break
            await asyncio.sleep(min(self._retry_in, max(0.0, deadline - time.monotonic())))
        if self._buffer:
            self.log.warning(
                "stop: %d points not committed; left unacked on the bus", len(self._buffer)
            )

    # loops ---------------------------------------------------------------
    async def _read_loop(self, sub: Subscription) -> None:
        while not self.should_stop:
            if self.buffered >= self.buffer_limit:
                if self._room.is_set():
                    self.log.warning(
                        "buffer full (%d points): pausing reads from the bus", self.buffered
                    )
                self._room.clear()
                await self._room.wait()
                continue
            batch = await sub.read(self.read_timeout)
            if batch is None:
                continue
            for point in self.accept(batch.points):
                self._buffer[(point.symbol, point.second)] = point
            self._batches.append(batch)

    async def _flush_loop(self, sub: Subscription) -> None:
        delay = self.flush_seconds
        while not await self.sleep(delay):
            started = time.monotonic()
            ok = await self._flush_now(sub)
            if ok:
                await self._ask_backfill(sub)
                delay = max(0.0, self.flush_seconds - (time.monotonic() - started))
            else:
                delay = self._retry_in

    async def _prune_loop(self) -> None:
        failing = False
        while not self.should_stop:
            cutoff = int(self.clock() * 1000) - self.retention_days * DAY_MS
            try:
                pruned = await self.store.prune_before(cutoff)
            except StoreError as exc:
                if not failing:
                    self.log.warning("pruning failed (%s); trying again later", exc)
                failing = True
                delay = min(self.prune_every, 60.0)
            else:
                failing = False
                metrics.DB_PRUNED.inc(pruned)
                delay = self.prune_every
            if await self.sleep(delay):
                return

    # writing -------------------------------------------------------------
    async def _flush_now(self, sub: Subscription) -> bool:
        """Write the buffer in a task a stop cannot cancel half-way; True when committed."""
        if self._inflight is not None and not self._inflight.done():
            return await asyncio.shield(self._inflight)
        if not self._buffer:
            batches, self._batches = self._batches, []
            await self.ack_all(sub, batches)  # batches of rejected points only
            return True
        self._inflight = asyncio.ensure_future(self._write(sub))
        return await asyncio.shield(self._inflight)

    async def _write(self, sub: Subscription) -> bool:
        taken, self._buffer = self._buffer, {}
        batches, self._batches = self._batches, []
        self._inflight_points = len(taken)
        started = time.monotonic()
        try:
            if self._reopen:
                await self.store.open()
            await self.store.write_points(list(taken.values()))
        except BaseException as exc:
            taken.update(self._buffer)  # what arrived meanwhile is newer: it wins
            self._buffer = taken
            self._batches = batches + self._batches
            self._inflight_points = 0
            if not isinstance(exc, StoreError):
                raise
            self._failed(exc)
            return False
        self._inflight_points = 0
        self._committed(taken, started)
        await self.ack_all(sub, batches)
        return True

    async def _ask_backfill(self, sub: Subscription) -> None:
        """Hand what the bus dropped of this group to the feed, now that the store writes."""
        loss = await sub.take_losses()
        if loss is not None:
            if self._unasked is None:
                self._unasked = loss
            else:
                self._unasked.merge(loss)
        if self._unasked is None:
            return
        if self.backfill is None:
            self.log.warning("the bus lost %s; nothing to backfill it", self._unasked.describe())
            self._unasked = None
            return
        try:
            await self.backfill.ask(self._unasked)
        except RedisError as exc:
            self.log.warning("cannot ask for a backfill yet (%s); asking again later", exc)
            return
        self.log.info("asked the feed to backfill %s lost on the bus", self._unasked.describe())
        self._unasked = None

    def _failed(self, exc: StoreError) -> None:
        metrics.DB_FAILURES.inc()
        self._reopen = True
        self._retry_in = self.write_failed(exc, len(self._buffer))

    def _committed(self, points: dict[Key, PricePoint], started: float) -> None:
        self.write_succeeded()
        self._reopen = False
        self._room.set()
        now = self.clock()
        self.last_flush_at = time.monotonic()
        self.recent_flushes.append((started, len(points)))
        metrics.DB_BATCH_SIZE.observe(len(points))
        metrics.DB_BATCH_LATENCY.observe(self.last_flush_at - started)
        metrics.DB_WRITTEN.inc(len(points))
        for point in points.values():
            if not point.backfill:  # a backfilled point is old by nature: not a lag
                metrics.DB_LAG.observe(max(0.0, now - point.ts / 1000))
