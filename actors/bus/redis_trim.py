"""Trimming the Redis bus stream by what has been read (docs/architecture.md §2.2).

An entry stays until every consumer group has acknowledged it: the stream is cut (`XTRIM
MINID`) below the oldest entry any group still needs, its oldest pending entry or the first
it has not been delivered, and never below the last `keep_seconds` (the tails, the fronts,
read without a group up to that far behind). Past the memory bound (`MEMORY USAGE` over `BUS_MAX_MB`) the oldest
entries go even unread, down to 90% of the bound (at most 5,000 entries a trim); what each group had not acknowledged of them
is recorded as its loss (counted, logged once a minute, kept for its writer's backfill).
Publishers trim at most every `every` seconds, one at a time (a short Redis lock).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
import time
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from actors import metrics
from actors.bus.loss import Loss, LossLedger
from actors.bus.redis_loss import RedisLossBook
from actors.bus.redis_wire import StreamId, decode_entry, format_id, parse_id, text_of

if TYPE_CHECKING:
    from actors.bus.redis import RedisBus

log = logging.getLogger("actors.bus.redis_trim")

LOCK_MS = 10_000
# Entries read and dropped per trim at most: a bound crossed by much (a lowered BUS_MAX_MB) is
# worked off over a few seconds instead of one reply of megabytes decoded in the publisher.
MAX_DROP = 5_000
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class StreamTrimmer:
    """Keeps the stream within `max_bytes`, dropping only what every group has acknowledged
    until the bound forces older unread entries out (those are recorded per group)."""

    def __init__(
        self, bus: RedisBus, max_bytes: int, *, every: float = 1.0, keep_seconds: float = 30.0
    ) -> None:
        self.bus = bus
        self.max_bytes = max_bytes
        self.every = every
        self.keep_seconds = keep_seconds
        self.book = RedisLossBook(bus.client, bus.prefix)
        self.lock_key = f"{bus.stream}:trimming"
        self._release = bus.client.register_script(_RELEASE)
        self._ledgers: dict[str, LossLedger] = {}
        self._next = 0.0
        self._failing = False
        self._memory = metrics.BUS_STREAM_BYTES.labels("redis")

    async def maybe_trim(self) -> None:
        """Trim when `every` seconds have passed; a Redis fault is one warning, never raised."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        try:
            await self.trim()
        except RedisError as exc:
            if not self._failing:
                log.warning("bus trim failed (%s); trying again later", exc)
            self._failing = True
            return
        if self._failing:
            log.info("bus trim works again")
        self._failing = False

    async def trim(self) -> None:
        client = self.bus.client
        token = secrets.token_hex(8)
        if not await client.set(self.lock_key, token, nx=True, px=LOCK_MS):
            return  # another publisher is trimming
        try:
            needed = await self._needed()
            recent = (int((time.time() - self.keep_seconds) * 1000), 0)
            oldest = min([recent, *needed.values()])
            await client.xtrim(self.bus.stream, minid=format_id(oldest), approximate=False)
            await self._bound(needed)
        finally:
            await self._release(keys=[self.lock_key], args=[token])
        for ledger in self._ledgers.values():
            ledger.report()

    async def _needed(self) -> dict[str, StreamId]:
        """Per group, the oldest entry it has not acknowledged (or the next it will read)."""
        client, stream = self.bus.client, self.bus.stream
        needed: dict[str, StreamId] = {}
        for info in await client.xinfo_groups(stream):
            name = text_of(info["name"])
            delivered = parse_id(info["last-delivered-id"])
            first = (delivered[0], delivered[1] + 1)
            if int(info["pending"]):
                summary = await client.xpending(stream, name)
                if summary.get("min") is not None:
                    first = min(first, parse_id(summary["min"]))
            needed[name] = first
        return needed

    async def _bound(self, needed: dict[str, StreamId]) -> None:
        client, stream = self.bus.client, self.bus.stream
        usage = await client.memory_usage(stream)
        if usage is None:
            return
        self._memory.set(usage)
        if usage <= self.max_bytes:
            return
        length = int(await client.xlen(stream))
        if length <= 1:
            return  # the newest entry stays even when it alone passes the bound
        excess = usage - 0.9 * self.max_bytes
        count = min(length - 1, MAX_DROP, max(1, math.ceil(excess * length / usage)))
        entries = await client.xrange(stream, "-", "+", count=count)
        if not entries:
            return
        losses = {name: Loss() for name in needed}
        for entry_id, fields in entries:
            points = decode_entry(fields)
            if not points:
                continue
            position = parse_id(entry_id)
            for name, first in needed.items():
                if position >= first:
                    losses[name].add(points)
        last = parse_id(entries[-1][0])
        await client.xtrim(stream, minid=format_id((last[0], last[1] + 1)), approximate=False)
        for name, loss in losses.items():
            if loss.points:
                self._ledger(name).record(loss)
                # the entries are gone: a publisher stopping now must not lose their record
                await asyncio.shield(self.book.record(name, loss))

    def _ledger(self, group: str) -> LossLedger:
        ledger = self._ledgers.get(group)
        if ledger is None:
            ledger = self._ledgers[group] = LossLedger(group, where="redis bus", hand_over=False)
        return ledger
