"""Backfill requests: a writer whose bus group lost points asks the feed to recover them from
klines (docs/architecture.md §2.2). In one process a fan-out of deques; across processes the
Redis stream `{prefix}backfill-requests`, read by each feed shard through its own group."""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Protocol

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from actors.bus.loss import Loss
from actors.bus.redis import RedisLink
from actors.bus.redis_wire import stream_entries, text_of
from actors.core.backoff import Backoff
from actors.core.waiting import wait_set

log = logging.getLogger("actors.bus.backfill_requests")

FIELD = b"r"
# Requests are few (one per writer flush that found a loss) and each is bounded by the number of
# symbols: a short stream is plenty, and an entry older than that is long since served.
MAX_REQUESTS = 1000
_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(Loss)


class BackfillListener(Protocol):
    """One feed shard's view of the requests."""

    async def read(self, timeout: float) -> Loss | None:
        """The next request, or None after `timeout` seconds; reading acknowledges the last one."""


class BackfillRequests(Protocol):
    """Writers ask; every feed shard listens and backfills the symbols it owns."""

    async def ask(self, loss: Loss) -> None:
        """Ask for `loss` to be backfilled; raises RedisError (Redis version) to retry later."""

    async def listen(self, name: str) -> BackfillListener: ...


class _MemoryListener:
    def __init__(self, maxlen: int) -> None:
        self.queue: collections.deque[Loss] = collections.deque(maxlen=maxlen)
        self.ready = asyncio.Event()

    async def read(self, timeout: float) -> Loss | None:
        if not self.queue and timeout > 0:
            self.ready.clear()
            await wait_set(self.ready, timeout)
        return self.queue.popleft() if self.queue else None


class MemoryBackfillRequests:
    """Embedded mode: each listener (feed shard) gets every request."""

    def __init__(self, maxlen: int = MAX_REQUESTS) -> None:
        self.maxlen = maxlen
        self.listeners: dict[str, _MemoryListener] = {}

    async def ask(self, loss: Loss) -> None:
        for listener in self.listeners.values():
            listener.queue.append(loss)
            listener.ready.set()

    async def listen(self, name: str) -> _MemoryListener:
        listener = self.listeners.get(name)
        if listener is None:  # a restarted reader keeps what was asked meanwhile
            listener = self.listeners[name] = _MemoryListener(self.maxlen)
        return listener


class _RedisListener:
    """A consumer group per shard: its own unacked requests first (a crash mid-way), then new."""

    def __init__(self, requests: RedisBackfillRequests, group: str) -> None:
        self.requests = requests
        self.group = group
        self._cursor = "0"
        self._unacked: bytes | None = None
        self._created = False
        self._start = "$"
        self._link = RedisLink(f"backfill requests {group}", Backoff(base=0.1, cap=5.0))

    async def read(self, timeout: float) -> Loss | None:
        """Redis faults are one warning and a backoff (within `timeout`), never a crash."""
        try:
            loss = await self._read(timeout)
        except RedisError as exc:
            if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                self._created, self._cursor, self._start = False, "0", "0"
                self._unacked = None
                return None
            self._cursor = "0"
            await self._link.failed(exc, timeout)
            return None
        self._link.ok()
        return loss

    async def _read(self, timeout: float) -> Loss | None:
        client, stream = self.requests.client, self.requests.stream
        if not self._created:
            await self.requests.create_group(self.group, self._start)
            self._created = True
        if self._unacked is not None:
            await client.xack(stream, self.group, self._unacked)
            self._unacked = None
        block = int(max(0.0, min(timeout, 1.0)) * 1000)
        while True:
            reply = await client.xreadgroup(
                self.group,
                self.group,
                {stream: self._cursor},
                count=1,
                block=None if self._cursor != ">" or block == 0 else block,
            )
            entries = stream_entries(reply)
            if entries:
                break
            if self._cursor == ">":
                return None
            self._cursor = ">"  # own pending ones done: now the new ones
        entry_id, fields = entries[0]
        if self._cursor != ">":
            self._cursor = text_of(entry_id)
        self._unacked = entry_id
        if not fields or FIELD not in fields:
            return None
        try:
            return _DECODER.decode(fields[FIELD])
        except msgspec.DecodeError:
            log.warning("backfill request %s is not ours: skipped", text_of(entry_id))
            return None


class RedisBackfillRequests:
    """Tree mode: the stream `{prefix}backfill-requests` (at most about 1,000 entries)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.stream = f"{prefix}backfill-requests"

    async def ask(self, loss: Loss) -> None:
        await self.client.xadd(
            self.stream, {FIELD: _ENCODER.encode(loss)}, maxlen=MAX_REQUESTS, approximate=True
        )

    async def create_group(self, group: str, start: str = "$") -> None:
        """A new shard starts at the end (older requests went to the shards of that time); a
        group lost with its stream (Redis emptied) starts again from the beginning."""
        try:
            await self.client.xgroup_create(self.stream, group, id=start, mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def listen(self, name: str) -> _RedisListener:
        """A listener whose group is created on its first read (Redis may be down now)."""
        return _RedisListener(self, name)
