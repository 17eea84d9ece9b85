"""Backfill requests from a writer to the feed shards: every shard gets each request; in Redis a
shard restarted before finishing a request gets it again, and a new shard starts at the end."""

from __future__ import annotations

from actors.bus.backfill_requests import MemoryBackfillRequests, RedisBackfillRequests
from actors.bus.loss import Loss
from actors.messages import PricePoint
from tests.conftest import RedisHandle


def loss(*seconds: int) -> Loss:
    made = Loss()
    made.add(PricePoint("BTCUSDT", s * 1000 + 5, 1.0) for s in seconds)
    return made


async def test_every_memory_listener_gets_each_request() -> None:
    requests = MemoryBackfillRequests()
    shards = [await requests.listen("feed-0"), await requests.listen("feed-1")]
    await requests.ask(loss(10, 12))
    for shard in shards:
        got = await shard.read(1.0)
        assert got is not None and got.ranges == {"BTCUSDT": (10, 12)} and got.points == 2
        assert await shard.read(0) is None


async def test_redis_requests_reach_each_shard_and_survive_a_restart(redis: RedisHandle) -> None:
    requests = RedisBackfillRequests(redis.client, redis.prefix)
    first, second = await requests.listen("feed-0"), await requests.listen("feed-1")
    assert await first.read(0) is None and await second.read(0) is None  # groups made at the end
    await requests.ask(loss(1, 3))
    await requests.ask(loss(7))
    got = await first.read(1.0)
    assert got is not None and got.ranges == {"BTCUSDT": (1, 3)}
    assert (await second.read(1.0)) == got

    restarted = await requests.listen("feed-0")  # died before reading on: (1, 3) not acked
    again = await restarted.read(1.0)
    assert again == got
    following = await restarted.read(1.0)
    assert following is not None and following.ranges == {"BTCUSDT": (7, 7)}
    assert await restarted.read(0.05) is None

    late = await requests.listen("feed-2")  # a shard added later: old requests are not its own
    assert await late.read(0.05) is None
    await requests.ask(loss(9))
    newest = await late.read(1.0)
    assert newest is not None and newest.ranges == {"BTCUSDT": (9, 9)}
