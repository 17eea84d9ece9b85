"""RedisCache against the real Redis: keys under the prefix, TTLs, the 4-hour trim, aggregates."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.cache.base import (
    AGGREGATE_TTL_SECONDS,
    LATEST_TTL_SECONDS,
    SERIES_WINDOW_MS,
    CacheError,
)
from actors.cache.redis import RedisCache
from actors.messages import IntervalAggregate
from actors.messages import PricePoint as P
from tests.conftest import RedisHandle
from tests.helpers import free_port

pytestmark = pytest.mark.timeout(30)

T0 = 1_700_000_000_000


@pytest.fixture
async def cache(redis: RedisHandle) -> AsyncIterator[RedisCache]:
    cache = RedisCache.from_url(redis.url, redis.prefix)
    yield cache
    await cache.close()


async def test_latest_has_a_one_hour_ttl_and_never_goes_back(
    cache: RedisCache, redis: RedisHandle
) -> None:
    await cache.put_points([P("BTCUSDT", T0 + 5000, 2.0, 1.5), P("ETHUSDT", T0, 3.0)])
    await cache.put_points([P("BTCUSDT", T0 + 1000, 1.0, backfill=True)])  # a late backfill
    latest = await cache.latest(["BTCUSDT", "ETHUSDT", "XRPUSDT"])
    assert latest == {
        "BTCUSDT": P("BTCUSDT", T0 + 5000, 2.0, 1.5),
        "ETHUSDT": P("ETHUSDT", T0, 3.0),
    }
    ttl = await redis.client.ttl(f"{redis.prefix}price:BTCUSDT")
    assert LATEST_TTL_SECONDS - 5 <= ttl <= LATEST_TTL_SECONDS
    await cache.put_points([P("BTCUSDT", T0 + 5000, 2.5)])  # same ts again: the later write wins
    assert (await cache.latest(["BTCUSDT"]))["BTCUSDT"].price == 2.5


async def test_an_unreadable_latest_value_is_replaced(
    cache: RedisCache, redis: RedisHandle
) -> None:
    await redis.client.set(f"{redis.prefix}price:BTCUSDT", b"not json")
    await cache.put_points([P("BTCUSDT", T0, 1.0)])
    assert await cache.latest(["BTCUSDT"]) == {"BTCUSDT": P("BTCUSDT", T0, 1.0)}


async def test_everything_lives_under_the_prefix(cache: RedisCache, redis: RedisHandle) -> None:
    await cache.put_points([P("BTCUSDT", T0, 1.0)])
    await cache.put_aggregates([IntervalAggregate("BTCUSDT", T0, T0 + 1, 1, 1.0, 1.0, 1.0, 1.0, 1)])
    keys = [key.decode() async for key in redis.client.scan_iter(match=redis.prefix + "*")]
    assert sorted(keys) == [
        f"{redis.prefix}{name}"
        for name in (f"agg:BTCUSDT:{T0}", "price:BTCUSDT", "series-floor", "series:BTCUSDT")
    ]


async def test_series_is_a_sorted_set_with_one_member_per_second(
    cache: RedisCache, redis: RedisHandle
) -> None:
    await cache.put_points([P("A", T0 + 3000, 3.0), P("A", T0 + 1000, 1.0, 0.5, True)])
    await cache.put_points([P("A", T0 + 2000, 2.0), P("A", T0 + 3400, 3.5)])
    await cache.put_points([P("A", T0 + 2000, 2.0)])  # delivered twice
    assert await cache.series("A", T0 + 1000, T0 + 10_000) == [
        P("A", T0 + 1000, 1.0, 0.5, True),
        P("A", T0 + 2000, 2.0),
        P("A", T0 + 3400, 3.5),
    ]
    key = f"{redis.prefix}series:A"
    assert await redis.client.type(key) == b"zset"
    assert await redis.client.zcard(key) == 3
    assert 0 < await redis.client.pttl(key) <= SERIES_WINDOW_MS


async def test_series_is_trimmed_to_four_hours_on_write(
    cache: RedisCache, redis: RedisHandle
) -> None:
    step = 60_000
    first = [P("A", T0 + i * step, float(i)) for i in range(60)]
    await cache.put_points(first)
    newest = T0 + SERIES_WINDOW_MS + 30 * step
    await cache.put_points([P("A", newest, 1.0)])
    members = await redis.client.zrange(f"{redis.prefix}series:A", 0, -1, withscores=True)
    scores = [int(score) for _, score in members]
    assert scores[0] == T0 + 30 * step  # exactly 4 h before the newest point is kept
    assert scores[-1] == newest and len(scores) == 31
    assert len(await cache.series("A", newest - SERIES_WINDOW_MS, newest)) == 31
    assert await cache.series("A", newest - SERIES_WINDOW_MS - 1, newest) == []  # not all kept


async def test_a_shortened_window_trims_and_expires_at_its_own_length(
    redis: RedisHandle,
) -> None:
    cache = RedisCache.from_url(redis.url, redis.prefix, window_ms=60_000)
    try:
        await cache.put_points([P("A", T0 + i * 1000, float(i)) for i in range(100)])
        newest = T0 + 99_000
        members = await redis.client.zrange(f"{redis.prefix}series:A", 0, -1, withscores=True)
        assert int(members[0][1]) == newest - 60_000
        assert len(await cache.series("A", newest - 60_000, newest)) == 61
        assert await cache.series("A", newest - 60_001, newest) == []
        assert 0 < await redis.client.pttl(f"{redis.prefix}series:A") <= 60_000
    finally:
        await cache.close()


async def test_series_misses_below_the_floor(cache: RedisCache, redis: RedisHandle) -> None:
    await cache.put_points([P("A", T0 + 5000, 5.0), P("A", T0 + 6000, 6.0)])
    assert await cache.series("A", T0, T0 + 10_000) == []
    assert len(await cache.series("A", T0 + 5000, T0 + 10_000)) == 2
    await cache.mark_gap(T0 + 5500)
    await cache.mark_gap(T0)  # never lowered
    assert await cache.series("A", T0 + 5000, T0 + 10_000) == []
    assert [p.ts for p in await cache.series("A", T0 + 5500, T0 + 10_000)] == [T0 + 6000]
    assert 0 < await redis.client.pttl(f"{redis.prefix}series-floor") <= SERIES_WINDOW_MS


async def test_aggregates_round_trip_with_a_day_ttl(cache: RedisCache, redis: RedisHandle) -> None:
    aggs = [
        IntervalAggregate("A", T0, T0 + 14_400_000, 1, 1.0, 2.0, 0.5, 1.5, 10),
        IntervalAggregate("B", T0, T0 + 14_400_000, 1, 3.0, 3.0, 3.0, 3.0, 1),
    ]
    await cache.put_aggregates(aggs)
    assert await cache.aggregate("A", T0) == aggs[0]
    assert await cache.aggregate("B", T0) == aggs[1]
    assert await cache.aggregate("A", T0 + 1) is None
    ttl = await redis.client.ttl(f"{redis.prefix}agg:A:{T0}")
    assert AGGREGATE_TTL_SECONDS - 5 <= ttl <= AGGREGATE_TTL_SECONDS


async def test_unreachable_redis_is_a_cache_error_not_a_crash() -> None:
    cache = RedisCache.from_url(f"redis://127.0.0.1:{free_port()}/0", "nobody:", timeout=0.5)
    try:
        assert await cache.ping() is False
        with pytest.raises(CacheError):
            await cache.put_points([P("A", T0, 1.0)])
        with pytest.raises(CacheError):
            await cache.latest(["A"])
        with pytest.raises(CacheError):
            await cache.series("A", T0, T0 + 1)
        with pytest.raises(CacheError):
            await cache.aggregate("A", T0)
        with pytest.raises(CacheError):
            await cache.mark_gap(T0)
    finally:
        await cache.close()


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.builds(
            P,
            symbol=st.sampled_from(["A", "B"]),
            ts=st.integers(0, 6 * 3600).map(lambda s: T0 + (s - s % 300) * 1000 + s % 7),
            price=st.floats(1, 1000),
        ),
        min_size=1,
        max_size=40,
    ),
    st.integers(1, 4),
    st.integers(T0 - 1000, T0 + 6 * 3_600_000),
)
def test_series_matches_a_model_of_one_point_per_second(
    redis_url: str, points: list[P], splits: int, start: int
) -> None:
    size = max(1, len(points) // splits)
    batches = [points[i : i + size] for i in range(0, len(points), size)]
    asyncio.run(_check_against_model(redis_url, batches, start))


async def _check_against_model(url: str, batches: list[list[P]], start: int) -> None:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    cache = RedisCache.from_url(url, prefix)
    try:
        for batch in batches:
            await cache.put_points(batch)
        kept: dict[tuple[str, int], P] = {}
        for point in (p for batch in batches for p in batch):
            kept[(point.symbol, point.second)] = point
        floor = min(p.ts for p in batches[0])
        for symbol in ("A", "B"):
            mine = sorted((p for p in kept.values() if p.symbol == symbol), key=lambda p: p.ts)
            whole = start >= floor and (not mine or start >= mine[-1].ts - SERIES_WINDOW_MS)
            expected = [p for p in mine if p.ts >= start] if whole else []
            assert await cache.series(symbol, start, start + SERIES_WINDOW_MS) == expected
            assert (await cache.latest([symbol])).get(symbol) == (mine[-1] if mine else None)
    finally:
        keys = [key async for key in cache.client.scan_iter(match=prefix + "*")]
        if keys:
            await cache.client.delete(*keys)
        await cache.close()
