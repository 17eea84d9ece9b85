"""Feed status across processes (tree mode): feed programs publish heartbeats, fronts read them.

Each shard's state from its in-process `FeedStatusBoard` is written every `period` seconds to
`{prefix}feed:status:{shard}` with a TTL of `ttl` seconds, and its name added to the set
`{prefix}feed:shards`. A shard whose heartbeat expired (its process died or hangs) is gone
from the snapshot, so /readyz stops counting it as connected within `ttl` seconds.
"""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from actors.core.service import Service
from actors.feed.status import FeedStatusBoard, rest_banned


class ShardState(msgspec.Struct, rename="camel"):
    """One shard's heartbeat: the board's fields, times in epoch ms."""

    connected: bool
    symbols: int
    last_message_ms: int | None
    updated_ms: int
    rest_banned_until_ms: int | None = None


def shard_key(prefix: str, shard: str) -> str:
    return f"{prefix}feed:status:{shard}"


def shards_key(prefix: str) -> str:
    return f"{prefix}feed:shards"


class RedisFeedStatusPublisher(Service):
    """Copies a feed program's board to Redis every `period` seconds (and a last time on stop)."""

    def __init__(
        self,
        board: FeedStatusBoard,
        client: aioredis.Redis,
        prefix: str,
        *,
        period: float = 1.0,
        ttl: float = 5.0,
        name: str = "feed-status",
    ) -> None:
        super().__init__(name)
        self.board = board
        self.client = client
        self.prefix = prefix
        self.period = period
        self.ttl_ms = max(1, int(ttl * 1000))
        self._failing = False

    async def on_start(self) -> None:
        self.spawn(self._loop(), "heartbeat")

    async def on_stop(self) -> None:
        for state in self.board.shards.values():
            state["connected"] = False  # stopping: say so at once instead of waiting for the TTL
        await self.publish()

    async def _loop(self) -> None:
        while True:
            await self.publish()
            if await self.sleep(self.period):
                return

    async def publish(self) -> None:
        """One heartbeat per shard; a Redis fault is one warning line, then retried next period."""
        if not self.board.shards:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for shard, state in self.board.shards.items():
                    encoded = msgspec.json.encode(msgspec.convert(state, ShardState))
                    pipe.set(shard_key(self.prefix, shard), encoded, px=self.ttl_ms)
                    pipe.sadd(shards_key(self.prefix), shard)
                await pipe.execute()
        except RedisError as exc:
            if not self._failing:
                self.log.warning("feed status: cannot publish to Redis: %s", exc)
            self._failing = True
            return
        if self._failing:
            self.log.info("feed status: publishing to Redis again")
        self._failing = False

    async def handle(self, message: None) -> None:
        return None


class RedisFeedStatus:
    """The front's `FeedStatus` in tree mode: live heartbeats of every feed shard."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    async def snapshot(self) -> dict[str, dict[str, object]]:
        """Shards with a live heartbeat; raises RedisError when Redis does not answer."""
        names = sorted(_text(n) for n in await self.client.smembers(shards_key(self.prefix)))
        if not names:
            return {}
        values = await self.client.mget([shard_key(self.prefix, name) for name in names])
        states: dict[str, dict[str, object]] = {}
        expired = []
        for name, raw in zip(names, values, strict=True):
            if raw is None:
                expired.append(name)
                continue
            try:
                state = msgspec.json.decode(raw, type=ShardState)
            except msgspec.DecodeError:
                continue
            states[name] = msgspec.to_builtins(state)
        if expired:
            await self.client.srem(shards_key(self.prefix), *expired)
        return states

    async def connected(self) -> bool:
        """True when a shard's heartbeat says connected; False (not an error) when Redis is down."""
        try:
            states = await self.snapshot()
        except RedisError:
            return False
        return any(bool(state.get("connected")) for state in states.values())

    async def rest_allowed(self) -> bool:
        """False while a shard reports a 418 ban; True (not an error) when Redis is down."""
        try:
            states = await self.snapshot()
        except RedisError:
            return True
        return not rest_banned(states.values())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
