"""CacheWriter on the in-process bus, writing to the real Redis (and to a private redis-server
that the tests stop and start again)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from actors import metrics
from actors.bus.memory import MemoryBus
from actors.cache.memory import MemoryCache
from actors.cache.redis import RedisCache
from actors.core.actor import Child
from actors.core.backoff import Backoff
from actors.messages import PricePoint
from actors.sinks.cache_writer import CacheWriter
from actors.store.intervals import IntervalScheme
from tests.conftest import RedisHandle
from tests.helpers import PrivateRedis, eventually

pytestmark = pytest.mark.timeout(60)

SCHEME = IntervalScheme()
START = SCHEME.start_of(1_700_000_000_000) + SCHEME.length_ms
NEXT = START + SCHEME.length_ms


def ticks(symbol: str, first_ts: int, count: int, price: float = 100.0) -> list[PricePoint]:
    return [PricePoint(symbol, first_ts + i * 1000 + 17, price + i) for i in range(count)]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    yield server
    server.kill()


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus(maxsize=1000)
    yield bus
    await bus.close()


def watch_crashes(child: Child) -> list[BaseException]:
    crashes: list[BaseException] = []
    child.link(lambda _child, exc: crashes.append(exc))
    return crashes


async def test_points_reach_redis_and_batches_are_acked(bus: MemoryBus, redis: RedisHandle) -> None:
    cache = RedisCache.from_url(redis.url, redis.prefix)
    writer = CacheWriter(bus, cache, SCHEME, aggregates_since_ms=0)
    await writer.start()
    try:
        sent = ticks("BTCUSDT", START, 30) + ticks("ETHUSDT", START, 30, 10.0)
        for i in range(0, len(sent), 7):
            await bus.publish(sent[i : i + 7])

        async def latest_arrived() -> bool:
            got = await cache.latest(["BTCUSDT", "ETHUSDT"])
            return got == {"BTCUSDT": sent[29], "ETHUSDT": sent[59]}

        await eventually(latest_arrived, what="latest prices in Redis")
        assert await cache.series("BTCUSDT", sent[0].ts, START + 60_000) == sent[:30]
        await eventually(_no_pending(bus), what="every batch acked")
    finally:
        await writer.stop()
        await cache.close()


def _no_pending(bus: MemoryBus) -> object:
    async def probe() -> bool:
        group = bus.groups.get("cache-writer")
        return group is not None and not group.pending and not group.queue

    return probe


async def test_closed_interval_aggregates_are_written_once_whole(
    bus: MemoryBus, redis: RedisHandle
) -> None:
    cache = RedisCache.from_url(redis.url, redis.prefix)
    writer = CacheWriter(bus, cache, SCHEME, aggregates_since_ms=0)
    await writer.start()
    try:
        first = ticks("BTCUSDT", START, 20)
        await bus.publish(first)
        await bus.publish(first[5:10])  # redelivered: counted once
        await eventually(_no_pending(bus), what="first batches acked")
        assert await cache.aggregate("BTCUSDT", START) is None  # open: left to the store
        await bus.publish(ticks("BTCUSDT", NEXT, 1, 500.0))

        async def written() -> object:
            return await cache.aggregate("BTCUSDT", START)

        agg = await eventually(written, what="the closed interval's aggregate")
        ohlc = (agg.open, agg.close, agg.high, agg.low, agg.count)
        assert ohlc == (100.0, 119.0, 119.0, 100.0, 20)
        assert (agg.interval_start_time, agg.interval_end_time) == (START, NEXT)
        ttl = await redis.client.ttl(f"{redis.prefix}agg:BTCUSDT:{START}")
        assert ttl > 23 * 3600
    finally:
        await writer.stop()
        await cache.close()


async def test_redis_restarted_mid_run_is_survived(
    bus: MemoryBus, private_redis: PrivateRedis
) -> None:
    private_redis.start()
    cache = RedisCache.from_url(private_redis.url, "bs-test:", timeout=0.5)
    writer = CacheWriter(bus, cache, SCHEME, backoff=Backoff(base=0.05, cap=0.2), read_timeout=0.05)
    crashes = watch_crashes(writer)
    failures_before = metrics.CACHE_FAILURES.labels("redis")._value.get()
    await writer.start()
    try:
        before = ticks("BTCUSDT", START, 5)
        await bus.publish(before)
        await eventually(_no_pending(bus), what="first batch written")

        private_redis.shutdown()
        during = ticks("BTCUSDT", START + 5000, 5, 200.0)
        for point in during:
            await bus.publish([point])

        async def failing() -> bool:
            return not writer.writes_ok and writer.buffered == len(during)

        await eventually(failing, what="the writer to notice the outage and hold the points")
        assert metrics.CACHE_FAILURES.labels("redis")._value.get() > failures_before

        private_redis.start()  # same port, empty (no persistence)
        after = ticks("BTCUSDT", START + 10_000, 5, 300.0)
        await bus.publish(after)

        async def landed() -> bool:
            # Redis came back empty: the cache's history starts at the points it held for us.
            got = await cache.series("BTCUSDT", during[0].ts, START + 20_000)
            return got == during + after

        await eventually(landed, timeout=15, what="held and new points in the restarted Redis")
        assert (await cache.latest(["BTCUSDT"]))["BTCUSDT"] == after[-1]
        assert await writer.ready() and writer.buffered == 0
        assert crashes == []
    finally:
        await writer.stop()
        await cache.close()


async def test_a_full_retry_buffer_drops_oldest_and_marks_the_gap(
    bus: MemoryBus, private_redis: PrivateRedis
) -> None:
    private_redis.start()
    cache = RedisCache.from_url(private_redis.url, "bs-test:", timeout=0.5)
    writer = CacheWriter(
        bus, cache, SCHEME, buffer_limit=10, backoff=Backoff(base=0.05, cap=0.2), read_timeout=0.05
    )
    dropped = metrics.CACHE_DROPPED.labels("redis")
    dropped_before = dropped._value.get()
    await writer.start()
    try:
        early = ticks("BTCUSDT", START, 5)
        await bus.publish(early)
        await eventually(_no_pending(bus), what="early points written")
        private_redis.shutdown(save=True)  # this Redis keeps its data over the restart

        sent = ticks("BTCUSDT", START + 5000, 25)
        for i in range(0, 25, 5):
            await bus.publish(sent[i : i + 5])

        async def overflowed() -> bool:
            return dropped._value.get() - dropped_before == 15 and writer.buffered == 10

        await eventually(overflowed, what="the oldest 15 points dropped, 10 held")
        await eventually(_no_pending_beyond(bus, 2), what="dropped batches acked")
        private_redis.start()

        async def landed() -> bool:
            return writer.buffered == 0 and writer.writes_ok

        await eventually(landed, timeout=15, what="held points written")
        # The early points are still there, but below the raised floor: readers use the store.
        async with private_redis.client() as client:
            assert await client.zcard("bs-test:series:BTCUSDT") == 15
        assert await cache.series("BTCUSDT", early[0].ts, START + 60_000) == []
        assert await cache.series("BTCUSDT", sent[14].ts + 1, START + 60_000) == sent[15:]
    finally:
        await writer.stop()
        await cache.close()


def _no_pending_beyond(bus: MemoryBus, batches: int) -> object:
    async def probe() -> bool:
        return len(bus.groups["cache-writer"].pending) <= batches

    return probe


async def test_memory_cache_in_embedded_mode(bus: MemoryBus) -> None:
    cache = MemoryCache()
    writer = CacheWriter(bus, cache, SCHEME)
    await writer.start()
    try:
        sent = ticks("BTCUSDT", START, 3)
        await bus.publish(sent)

        async def arrived() -> bool:
            return await cache.latest(["BTCUSDT"]) == {"BTCUSDT": sent[-1]}

        await eventually(arrived, what="latest price in memory")
        assert writer.writes_ok and writer.buffered == 0
    finally:
        await writer.stop()


async def test_invalid_points_are_rejected(bus: MemoryBus) -> None:
    rejected = metrics.POINTS_REJECTED.labels("cache-writer")
    before = rejected._value.get()
    cache = MemoryCache()
    writer = CacheWriter(bus, cache, SCHEME, aggregates_since_ms=0)
    await writer.start()
    try:
        good = ticks("BTCUSDT", START, 2)
        await bus.publish([good[0], PricePoint("BTCUSDT", START + 5000, float("nan")), good[1]])
        await eventually(_no_pending(bus), what="the batch acked")
        assert await cache.latest(["BTCUSDT"]) == {"BTCUSDT": good[1]}
        assert rejected._value.get() - before == 1
        running = writer.aggregator.get("BTCUSDT", START)
        assert running is not None and running.count == 2
    finally:
        await writer.stop()


async def test_what_the_bus_dropped_of_the_group_raises_the_floor() -> None:
    """A burst past the group's bound (published before the writer can read) is a loss: the
    cache's series floor goes past it, so readers take that range from the store."""
    bus = MemoryBus(max_mb=0.002)
    cache = MemoryCache()
    writer = CacheWriter(bus, cache, SCHEME)
    await writer.start()
    try:
        before = ticks("BTCUSDT", START, 5)
        await bus.publish(before)

        async def cached() -> bool:
            return len(await cache.series("BTCUSDT", before[0].ts, before[-1].ts)) == 5

        await eventually(cached, what="the first points cached")
        burst = ticks("BTCUSDT", START + 5_000, 60)
        for point in burst:  # no await yields between them: the writer reads nothing meanwhile
            await bus.publish([point])
        view = (await bus.losses())["cache-writer"]
        assert view.points > 0 and view.first == START + 5_000
        kept_from = START + 5_000 + view.points * 1000

        async def floor_past_the_loss() -> bool:  # a range reaching into the loss misses
            return not await cache.series("BTCUSDT", before[0].ts, burst[-1].ts)

        await eventually(floor_past_the_loss, what="the series floor past the loss")
        after = await cache.series("BTCUSDT", kept_from, burst[-1].ts)
        assert after == burst[view.points :]
    finally:
        await writer.stop()
