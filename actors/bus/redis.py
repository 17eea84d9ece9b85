"""Cross-process bus: the Redis Stream `{prefix}ticks` (docs/architecture.md §2.2).

Publishers XADD msgpack-encoded chunks of points in one pipeline, then (every second) trim the
stream by what every group has acknowledged, within `BUS_MAX_MB` (`redis_trim.py`).
A group subscription reads through a consumer group and acks with XACK after the
consumer's write: when it (re)starts it first re-reads its own pending entries, then claims
entries other consumers of the group left idle, then reads new ones (`>`), so a consumer
killed at any moment loses nothing. A tail subscription XREADs without a group from the end
of the stream and skips (counted) entries older than `max_behind` seconds.

Redis faults are one warning line and a capped, jittered backoff; reads then answer None,
publishes (and joining a group or a tail) retry until `publish_timeout` and then raise
`BusUnavailable`, which crashes the caller to its supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from actors import metrics
from actors.bus.base import Batch, EntriesGone, entry_key
from actors.bus.loss import Loss, LossView
from actors.bus.memory import DEFAULT_MAX_MB
from actors.bus.redis_trim import StreamTrimmer
from actors.bus.redis_wire import ENCODER, FIELD, Entry, decode_entry, stream_entries, text_of
from actors.core.backoff import Backoff
from actors.messages import PricePoint

log = logging.getLogger("actors.bus.redis")

# seconds per blocking call: below the client's socket timeout, and wakes for cancellation
_BLOCK_SLICE = 1.0

T = TypeVar("T")


class BusUnavailable(RuntimeError):
    """Redis did not accept a publish within `publish_timeout` seconds."""


class RedisLink:
    """Shared fault handling: one warning per outage, capped backoff between attempts."""

    def __init__(self, what: str, backoff: Backoff) -> None:
        self.what = what
        self.backoff = backoff
        self.down = False

    def ok(self) -> None:
        if self.down:
            log.info("%s: Redis is back", self.what)
        self.down = False
        self.backoff.reset()

    async def failed(self, exc: RedisError, budget: float | None = None) -> None:
        if not self.down:
            name = type(exc).__name__
            log.warning("%s: Redis error: %s: %s (retrying with backoff)", self.what, name, exc)
        self.down = True
        delay = self.backoff.next()
        await asyncio.sleep(delay if budget is None else max(0.0, min(delay, budget)))


class RedisGroupSubscription:
    """One consumer of a consumer group: own pending first, then idle claims, then new entries.

    Idle entries of other consumers are looked for again every `claim_idle` seconds.
    """

    def __init__(self, bus: RedisBus, name: str, consumer: str) -> None:
        self.bus = bus
        self.name = name
        self.consumer = consumer
        self._phase = "pending"
        self._cursor = "0-0"
        self._link = RedisLink(f"bus group {name}/{consumer}", bus.new_backoff())
        self._pending_gauge = metrics.BUS_PENDING.labels(name)
        self._dropped = metrics.BUS_DROPPED.labels(name)
        self._next_pending_check = 0.0
        self._next_claim = 0.0

    async def create(self) -> None:
        """XGROUP CREATE from the start of the stream: a first start reads what was published
        before it (writes are idempotent); an existing group keeps its position."""
        try:
            await self.bus.client.xgroup_create(self.bus.stream, self.name, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read(self, timeout: float) -> Batch | None:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                batch = await self._read_once(deadline)
                self._link.ok()
                await self._report_pending()
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                log.warning("bus group %s: stream or group gone; recreating it", self.name)
                await self._restart_phases()
                batch = None
            except RedisError as exc:
                # an XREADGROUP cut mid-reply may have moved entries into our pending list unseen
                self._phase, self._cursor = "pending", "0-0"
                await self._link.failed(exc, deadline - time.monotonic())
                batch = None
            if batch is not None or time.monotonic() >= deadline:
                return batch

    async def _restart_phases(self) -> None:
        self._phase, self._cursor = "pending", "0-0"
        try:
            await self.create()
        except RedisError as exc:
            await self._link.failed(exc)

    async def _read_once(self, deadline: float) -> Batch | None:
        if self._phase == "pending":
            batch = await self._read_own_pending()
            if batch is not None:
                return batch
            self._phase, self._cursor = "claim", "-"
        if self._phase == "live" and time.monotonic() >= self._next_claim:
            self._phase, self._cursor = "claim", "-"  # a consumer may have died while we ran
        if self._phase == "claim":
            batch = await self._claim_idle()
            if batch is not None:
                return batch
            self._phase = "live"
            self._next_claim = time.monotonic() + self.bus.claim_idle
        block = max(0.0, min(_BLOCK_SLICE, deadline - time.monotonic()))
        reply = await self.bus.client.xreadgroup(
            self.name,
            self.consumer,
            {self.bus.stream: ">"},
            count=self.bus.read_count,
            block=int(block * 1000) if block >= 0.001 else None,
        )
        return await self._batch(stream_entries(reply))

    async def _read_own_pending(self) -> Batch | None:
        """Entries delivered to this consumer name before a restart and never acked."""
        while True:
            reply = await self.bus.client.xreadgroup(
                self.name, self.consumer, {self.bus.stream: self._cursor}, count=self.bus.read_count
            )
            entries = stream_entries(reply)
            if not entries:
                return None
            self._cursor = entries[-1][0].decode()
            batch = await self._batch(entries)
            if batch is not None:
                return batch

    async def _claim_idle(self) -> Batch | None:
        """Entries other consumers of the group left unacked for longer than `claim_idle`."""
        idle_ms = int(self.bus.claim_idle * 1000)
        while True:
            rows = await self.bus.client.xpending_range(
                self.bus.stream, self.name, self._cursor, "+", self.bus.read_count, idle=idle_ms
            )
            if not rows:
                return None
            self._cursor = "(" + text_of(rows[-1]["message_id"])
            mine = self.consumer
            theirs: list[Any] = [r["message_id"] for r in rows if text_of(r["consumer"]) != mine]
            if not theirs:
                continue
            client, stream = self.bus.client, self.bus.stream
            claimed: list[Any] = list(await client.xclaim(stream, self.name, mine, idle_ms, theirs))
            log.info("bus group %s: claimed %d idle entries of others", self.name, len(claimed))
            batch = await self._batch(claimed)
            if batch is not None:
                return batch

    async def _batch(self, entries: list[Entry]) -> Batch | None:
        points: list[PricePoint] = []
        ids: list[bytes] = []
        trimmed: list[bytes] = []
        unreadable: list[bytes] = []
        for entry_id, fields in entries:
            decoded = decode_entry(fields)
            if decoded is not None:
                points.extend(decoded)
                ids.append(entry_id)
            elif fields:
                unreadable.append(entry_id)
            else:
                trimmed.append(entry_id)
        if trimmed:
            # pending entries the bound trimmed: the trimmer counted them and recorded the loss
            log.info("bus group %s: %d pending entries were trimmed", self.name, len(trimmed))
        if unreadable:
            self._dropped.inc(len(unreadable))  # not an entry of ours: one per entry
            log.warning("bus group %s: %d unreadable entries skipped", self.name, len(unreadable))
        if trimmed or unreadable:
            await self.bus.client.xack(self.bus.stream, self.name, *trimmed, *unreadable)
        if not ids:
            return None
        return Batch(points, tuple(ids))

    async def ack(self, batch: Batch) -> None:
        if not isinstance(batch.token, tuple) or not batch.token:
            return
        deadline = time.monotonic() + self.bus.publish_timeout
        while True:
            try:
                await self.bus.client.xack(self.bus.stream, self.name, *batch.token)
                self._link.ok()
                return
            except RedisError as exc:
                if time.monotonic() >= deadline:
                    # still pending: read again from our pending list after the outage, and
                    # written again (idempotently) by the consumer
                    log.warning("bus group %s: ack failed; entries stay pending", self.name)
                    return
                await self._link.failed(exc, deadline - time.monotonic())

    async def _report_pending(self) -> None:
        now = time.monotonic()
        if now < self._next_pending_check:
            return
        self._next_pending_check = now + 1.0
        summary = await self.bus.client.xpending(self.bus.stream, self.name)
        self._pending_gauge.set(int(summary.get("pending", 0)))

    async def take_losses(self) -> Loss | None:
        """What the stream dropped of this group since the last call (None on a Redis fault:
        it stays in Redis for the next call)."""
        try:
            return await self.bus.trimmer.book.take(self.name)
        except RedisError as exc:
            await self._link.failed(exc, 0.0)
            return None

    async def close(self) -> None:
        self.bus.subscriptions.discard(self)


class RedisTailSubscription:
    """Reads what is published after it starts, without a group; never slows the publisher."""

    def __init__(self, bus: RedisBus, last_id: str) -> None:
        self.bus = bus
        self.last_id = last_id
        self.start = last_id
        self._link = RedisLink("bus tail", bus.new_backoff())
        self._dropped = metrics.BUS_DROPPED.labels("tail")

    async def read(self, timeout: float) -> Batch | None:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            block = max(0.0, min(_BLOCK_SLICE, deadline - time.monotonic()))
            try:
                reply = await self.bus.client.xread(
                    {self.bus.stream: self.last_id},
                    count=self.bus.read_count,
                    block=int(block * 1000) if block >= 0.001 else None,
                )
                self._link.ok()
            except RedisError as exc:
                await self._link.failed(exc, deadline - time.monotonic())
                reply = None
            batch = self._batch(stream_entries(reply))
            if batch is not None or time.monotonic() >= deadline:
                return batch

    def _batch(self, entries: list[Entry]) -> Batch | None:
        if not entries:
            return None
        self.last_id = entries[-1][0].decode()
        oldest_ms = int(time.time() * 1000) - int(self.bus.max_behind * 1000)
        points: list[PricePoint] = []
        held: list[tuple[str, int]] = []
        for entry_id, fields in entries:
            decoded = decode_entry(fields)
            if decoded is None:
                continue
            if int(entry_id.split(b"-")[0]) < oldest_ms:
                self._dropped.inc(len(decoded))  # too far behind to be live: skip to the present
                continue
            points.extend(decoded)
            held.append((entry_id.decode(), len(decoded)))
        return Batch(points, entries=held) if points else None

    async def ack(self, batch: Batch) -> None:
        return None

    async def take_losses(self) -> Loss | None:
        return None

    async def close(self) -> None:
        return None


class RedisBus:
    """The tree-mode bus over one Redis client.

    The stream keeps an entry until every group has acknowledged it, within `max_mb` megabytes
    (`BUS_MAX_MB`, measured with MEMORY USAGE): a writer may be down as long as that holds
    (at the default 128 MB, 2.6 hours of 242 pairs). Past the bound the oldest entries go;
    what a group had not acknowledged of them is counted in
    `bs_bus_dropped_points_total{reader=<group>}` (in points), logged once a minute with its
    symbols and time range, shown in /readyz, and handed to the group's writer
    (`take_losses`), who asks the feed to backfill it.
    """

    instant = False  # publishing is a network round trip: await publish()

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        max_mb: float = DEFAULT_MAX_MB,
        trim_every: float = 1.0,
        points_per_entry: int = 256,
        read_count: int = 64,
        claim_idle: float = 30.0,
        max_behind: float = 30.0,
        keep_seconds: float | None = None,
        publish_timeout: float = 30.0,
        backoff_cap: float = 5.0,
        owns_client: bool = False,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.stream = f"{prefix}ticks"
        self.trimmer = StreamTrimmer(
            self,
            int(max_mb * 1024 * 1024),
            every=trim_every,
            # the fronts tail up to `max_behind`; Socket.IO recovery replays `keep_seconds`
            keep_seconds=max_behind if keep_seconds is None else max(max_behind, keep_seconds),
        )
        self.points_per_entry = points_per_entry
        self.read_count = read_count
        self.claim_idle = claim_idle
        self.max_behind = max_behind
        self.publish_timeout = publish_timeout
        self.backoff_cap = backoff_cap
        self.owns_client = owns_client
        self.subscriptions: set[RedisGroupSubscription] = set()
        self._publish_link = RedisLink("bus publish", self.new_backoff())
        self._published = metrics.BUS_PUBLISHED.labels("redis")
        self._length = metrics.BUS_STREAM_LENGTH.labels("redis")

    @classmethod
    def from_url(cls, url: str, prefix: str, **options: Any) -> RedisBus:
        """A bus with its own client (closed by `close`)."""
        client = aioredis.Redis.from_url(
            url, socket_timeout=_BLOCK_SLICE + 5.0, socket_connect_timeout=2.0
        )
        return cls(client, prefix, owns_client=True, **options)

    def new_backoff(self) -> Backoff:
        return Backoff(base=0.1, cap=self.backoff_cap)

    def publish_nowait(self, points: Sequence[PricePoint]) -> None:
        raise NotImplementedError("a Redis bus publishes over the network: await publish()")

    async def publish(self, points: Sequence[PricePoint]) -> None:
        """XADD the points in chunks of `points_per_entry`, one pipeline round trip."""
        if not points:
            return
        listed = list(points)
        deadline = time.monotonic() + self.publish_timeout
        while True:
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for start in range(0, len(listed), self.points_per_entry):
                        chunk = ENCODER.encode(listed[start : start + self.points_per_entry])
                        pipe.xadd(self.stream, {FIELD: chunk})
                    pipe.xlen(self.stream)
                    replies = await pipe.execute()
                self._publish_link.ok()
                break
            except RedisError as exc:
                if time.monotonic() >= deadline:
                    raise BusUnavailable(
                        f"Redis refused publishes for {self.publish_timeout:g}s: {exc}"
                    ) from exc
                await self._publish_link.failed(exc, deadline - time.monotonic())
        self._published.inc(len(listed))
        self._length.set(int(replies[-1]))
        await self.trimmer.maybe_trim()

    async def group(self, name: str, consumer: str) -> RedisGroupSubscription:
        """Join group `name` as `consumer` (keep the name stable across restarts).

        Raises BusUnavailable when Redis does not answer within `publish_timeout` seconds."""
        sub = RedisGroupSubscription(self, name, consumer)
        await self._retrying(f"bus group {name}", sub.create)
        self.subscriptions.add(sub)
        return sub

    async def tail(self) -> RedisTailSubscription:
        """Start at the current end of the stream (raises BusUnavailable like `group`)."""

        async def newest() -> Any:
            return await self.client.xrevrange(self.stream, count=1)

        last = await self._retrying("bus tail", newest)
        return RedisTailSubscription(self, text_of(last[0][0]) if last else "0-0")

    async def entries(
        self, after: str, until: str, count: int, *, inclusive: bool = False
    ) -> list[tuple[str, list[PricePoint]]]:
        """XRANGE (after, until] (or [after, until]); EntriesGone when the stream may have trimmed or deleted an
        entry after `after` (XINFO STREAM, Redis >= 7: trimming cuts the head, so that is when
        entries went and the first one kept is past `after`) or does not exist."""
        try:
            info: dict[Any, Any] = dict(await self.client.xinfo_stream(self.stream))
        except ResponseError as exc:
            raise EntriesGone(f"no stream {self.stream}") from exc
        low = entry_key(after)
        length = int(info.get("length", 0))
        removed = int(info.get("entries-added", length)) > length
        deleted = info.get("max-deleted-entry-id")
        first = info.get("recorded-first-entry-id") or info.get("last-generated-id")
        if (deleted is not None and entry_key(text_of(deleted)) > low) or (
            removed and first is not None and entry_key(text_of(first)) > low
        ):
            raise EntriesGone(f"entries after {after} were trimmed")
        start = after if inclusive else "(" + after
        reply = await self.client.xrange(self.stream, min=start, max=until, count=count)
        found: list[tuple[str, list[PricePoint]]] = []
        for entry_id, fields in reply or []:
            decoded = decode_entry(fields)
            found.append((text_of(entry_id), decoded or []))
        return found

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        link = RedisLink(what, self.new_backoff())
        deadline = time.monotonic() + self.publish_timeout
        while True:
            try:
                return await call()
            except RedisError as exc:
                if time.monotonic() >= deadline:
                    raise BusUnavailable(f"{what}: no Redis for {self.publish_timeout:g}s") from exc
                await link.failed(exc, deadline - time.monotonic())

    async def losses(self) -> dict[str, LossView]:
        """Per group that lost points (kept in Redis: any process can report them)."""
        return await self.trimmer.book.views()

    async def close(self) -> None:
        self.subscriptions.clear()
        if self.owns_client:
            await self.client.aclose()
