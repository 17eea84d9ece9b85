"""PriceReader over a real SQLite store and a real cache: hits, misses, fallbacks, write-through."""

from __future__ import annotations

import time

import pytest

from actors import metrics
from actors.cache.memory import MemoryCache
from actors.cache.reader import PriceReader
from actors.cache.redis import RedisCache
from actors.messages import PricePoint
from actors.store.base import Store
from actors.store.intervals import IntervalScheme
from tests.conftest import RedisHandle
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(30)

SCHEME = IntervalScheme()
NOW = int(time.time()) * 1000
MINUTE = 60_000


def ticks(
    symbol: str, first_ts: int, count: int, price: float, step: int = 1000
) -> list[PricePoint]:
    return [PricePoint(symbol, first_ts + i * step, price + i) for i in range(count)]


def fallbacks() -> float:
    return metrics.CACHE_FALLBACKS._value.get()


async def test_series_comes_from_the_cache_only_when_it_holds_the_whole_range(
    sqlite_store: Store,
) -> None:
    cache = MemoryCache()
    reader = PriceReader(cache, sqlite_store, SCHEME)
    stored = ticks("BTCUSDT", NOW - 90 * MINUTE, 90, 100.0, MINUTE)
    await sqlite_store.write_points(stored)
    cached = ticks("BTCUSDT", NOW - 30 * MINUTE, 30, 500.0, MINUTE)  # the cache began 30 min ago
    await cache.put_points(cached)
    before = fallbacks()
    assert await reader.series("BTCUSDT", NOW - 20 * MINUTE, NOW) == cached[10:]
    assert await reader.series("BTCUSDT", NOW - 60 * MINUTE, NOW) == stored[30:]  # below the floor
    assert fallbacks() == before  # a miss is not a failure


async def test_latest_takes_symbols_the_cache_lacks_from_the_store(sqlite_store: Store) -> None:
    cache = MemoryCache()
    reader = PriceReader(cache, sqlite_store, SCHEME)
    await sqlite_store.write_points([PricePoint("ETHUSDT", NOW - 5000, 2.0)])
    await cache.put_points([PricePoint("BTCUSDT", NOW - 1000, 1.0)])
    assert await reader.latest(["BTCUSDT", "ETHUSDT", "XRPUSDT"]) == {
        "BTCUSDT": PricePoint("BTCUSDT", NOW - 1000, 1.0),
        "ETHUSDT": PricePoint("ETHUSDT", NOW - 5000, 2.0),
    }


async def test_a_dead_redis_falls_back_to_the_store_and_is_counted(sqlite_store: Store) -> None:
    cache = RedisCache.from_url(f"redis://127.0.0.1:{free_port()}/0", "nobody:", timeout=0.5)
    reader = PriceReader(cache, sqlite_store, SCHEME)
    points = ticks("BTCUSDT", NOW - 10 * MINUTE, 5, 100.0)
    await sqlite_store.write_points(points)
    before = fallbacks()
    try:
        assert await reader.latest(["BTCUSDT"]) == {"BTCUSDT": points[-1]}
        assert await reader.series("BTCUSDT", NOW - 10 * MINUTE, NOW) == points
        start = SCHEME.start_of(NOW) - 2 * SCHEME.length_ms
        assert await reader.interval("BTCUSDT", start) is None
    finally:
        await cache.close()
    assert fallbacks() - before == 3


async def test_closed_intervals_are_cached_once_settled(
    sqlite_store: Store, redis: RedisHandle
) -> None:
    cache = RedisCache.from_url(redis.url, redis.prefix)
    start = SCHEME.start_of(NOW) - 2 * SCHEME.length_ms  # ended at least four hours ago
    await sqlite_store.write_points(ticks("BTCUSDT", start, 10, 100.0))
    try:
        settling = PriceReader(cache, sqlite_store, SCHEME, write_through_after_ms=10 * 3_600_000)
        first = await settling.interval("BTCUSDT", start)
        assert first is not None and first.count == 10
        assert await cache.aggregate("BTCUSDT", start) is None  # might still change: not cached

        reader = PriceReader(cache, sqlite_store, SCHEME)
        assert await reader.interval("BTCUSDT", start) == first
        assert await cache.aggregate("BTCUSDT", start) == first
        # From now on the cache answers, whatever the store says.
        await sqlite_store.write_points([PricePoint("BTCUSDT", start + 60_000, 1.0)])
        assert await reader.interval("BTCUSDT", start) == first
    finally:
        await cache.close()
