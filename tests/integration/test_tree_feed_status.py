"""Feed heartbeats across processes: feed programs publish their board to Redis, fronts read it."""

from __future__ import annotations

import pytest

from actors.feed.status import FeedStatusBoard
from actors.feed.status_redis import RedisFeedStatus, RedisFeedStatusPublisher, shard_key
from tests.conftest import RedisHandle
from tests.helpers import eventually, free_port

pytestmark = pytest.mark.timeout(30)


async def test_a_front_sees_the_feeds_heartbeats(redis: RedisHandle) -> None:
    boards = [FeedStatusBoard(), FeedStatusBoard()]
    boards[0].update("feed-0", connected=True, symbols=121, last_message_ms=1_700_000_000_000)
    boards[1].update("feed-1", connected=False, symbols=121, last_message_ms=None)
    publishers = [
        RedisFeedStatusPublisher(board, redis.client, redis.prefix, period=0.05, ttl=2.0)
        for board in boards
    ]
    status = RedisFeedStatus(redis.client, redis.prefix)
    assert await status.snapshot() == {}
    assert await status.connected() is False
    for publisher in publishers:
        await publisher.start()
    try:
        snapshot = await eventually(
            lambda: _with_shards(status, 2), timeout=5, what="both heartbeats"
        )
        assert snapshot["feed-0"]["connected"] is True
        assert snapshot["feed-0"]["symbols"] == 121
        assert snapshot["feed-0"]["lastMessageMs"] == 1_700_000_000_000
        assert snapshot["feed-1"]["connected"] is False
        assert await status.connected() is True

        boards[0].update("feed-0", connected=False, symbols=121, last_message_ms=None)
        await eventually(lambda: _not_connected(status), timeout=5, what="feed-0 down")
    finally:
        for publisher in publishers:
            await publisher.stop()


async def test_a_stopped_feed_says_so_and_a_dead_one_expires(redis: RedisHandle) -> None:
    board = FeedStatusBoard()
    board.update("feed-0", connected=True, symbols=3, last_message_ms=None)
    status = RedisFeedStatus(redis.client, redis.prefix)
    stopped = RedisFeedStatusPublisher(board, redis.client, redis.prefix, period=0.05, ttl=5.0)
    await stopped.start()
    await eventually(status.connected, timeout=5, what="heartbeat")
    await stopped.stop()
    assert await status.connected() is False  # said at once, not after the TTL

    dead_board = FeedStatusBoard()
    dead_board.update("feed-1", connected=True, symbols=3, last_message_ms=None)
    dead = RedisFeedStatusPublisher(dead_board, redis.client, redis.prefix, period=60, ttl=0.3)
    await dead.publish()  # one heartbeat, then the process "dies" (no stop, no more beats)
    assert (await status.snapshot())["feed-1"]["connected"] is True
    await eventually(lambda: _gone(status, "feed-1"), timeout=5, what="expired heartbeat")
    assert await redis.client.exists(shard_key(redis.prefix, "feed-1")) == 0


async def test_redis_down_is_not_connected_and_not_an_error() -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(
        f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5
    )
    board = FeedStatusBoard()
    board.update("feed-0", connected=True, symbols=1, last_message_ms=None)
    publisher = RedisFeedStatusPublisher(board, client, "x:")
    try:
        await publisher.publish()  # one warning line, no exception
        assert await RedisFeedStatus(client, "x:").connected() is False
    finally:
        await client.aclose()


async def _with_shards(status: RedisFeedStatus, count: int) -> dict[str, dict[str, object]] | None:
    snapshot = await status.snapshot()
    return snapshot if len(snapshot) == count else None


async def _not_connected(status: RedisFeedStatus) -> bool:
    return not await status.connected()


async def _gone(status: RedisFeedStatus, shard: str) -> bool:
    return shard not in await status.snapshot()
