"""The exchange's list of tracked pairs as last checked, for the front's `POST /symbols`.

The `ListingWatcher` publishes it after each good `exchangeInfo` check; the front reads it to
refuse a pair the exchange does not list. Embedded mode shares one `MemoryListedSymbols`; tree
mode keeps it in Redis (`{prefix}exchange:listed`, expiring after a few missed checks so a dead
watcher cannot leave a stale list forever). Until a check succeeded the list is unknown (None)
and the front accepts any well-formed pair, as before.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Protocol

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError


class ListedSymbols(Protocol):
    """Write side: the watcher; read side: the front."""

    async def publish(self, names: Collection[str]) -> None:
        """The TRADING USDT spot pairs of the latest good check."""

    async def known(self) -> frozenset[str] | None:
        """The pairs of the latest good check; None while unknown."""


class MemoryListedSymbols:
    """Embedded mode: one process, one set."""

    def __init__(self) -> None:
        self.names: frozenset[str] | None = None

    async def publish(self, names: Collection[str]) -> None:
        self.names = frozenset(names)

    async def known(self) -> frozenset[str] | None:
        return self.names


class ListedBody(msgspec.Struct, rename="camel"):
    """The Redis value: the names and when they were checked (epoch ms)."""

    symbols: list[str]
    checked_ms: int


class RedisListedSymbols:
    """Tree mode: the list in Redis; the front caches what it read for `cache_seconds`."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str,
        *,
        ttl_seconds: float = 3600.0,
        cache_seconds: float = 2.0,
    ) -> None:
        self.client = client
        self.key = f"{prefix}exchange:listed"
        self.ttl_ms = max(1000, int(ttl_seconds * 1000))
        self.cache_seconds = cache_seconds
        self._cached: tuple[float, frozenset[str] | None] | None = None

    async def publish(self, names: Collection[str]) -> None:
        """Raises RedisError when Redis does not answer (the watcher logs it)."""
        body = ListedBody(sorted(names), int(time.time() * 1000))
        await self.client.set(self.key, msgspec.json.encode(body), px=self.ttl_ms)

    async def known(self) -> frozenset[str] | None:
        """None when unknown, expired, unreadable or Redis is down (the front then accepts)."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < self.cache_seconds:
            return self._cached[1]
        try:
            raw = await self.client.get(self.key)
        except RedisError:
            return None
        names: frozenset[str] | None = None
        if raw is not None:
            try:
                names = frozenset(msgspec.json.decode(raw, type=ListedBody).symbols)
            except msgspec.DecodeError:
                names = None
        self._cached = (now, names)
        return names
