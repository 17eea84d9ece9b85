"""MemoryCache: TTLs on an injected clock, the 4-hour trim, one point per second, the floor."""

from __future__ import annotations

from actors.cache.base import AGGREGATE_TTL_SECONDS, LATEST_TTL_SECONDS, SERIES_WINDOW_MS
from actors.cache.memory import TRIM_SLACK, MemoryCache
from actors.messages import IntervalAggregate, PricePoint
from tests.helpers import ManualClock

T0 = 1_700_000_000_000


async def test_latest_expires_after_an_hour_and_never_goes_back_in_time() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock)
    await cache.put_points([PricePoint("BTCUSDT", T0 + 5000, 2.0)])
    await cache.put_points([PricePoint("BTCUSDT", T0 + 1000, 1.0, backfill=True)])  # late backfill
    assert (await cache.latest(["BTCUSDT", "ETHUSDT"]))["BTCUSDT"].price == 2.0
    clock.now += LATEST_TTL_SECONDS - 1
    assert "BTCUSDT" in await cache.latest(["BTCUSDT"])
    clock.now += 2
    assert await cache.latest(["BTCUSDT"]) == {}


async def test_series_is_ordered_unique_per_second_and_keeps_pct_and_backfill() -> None:
    cache = MemoryCache(ManualClock())
    first = [PricePoint("A", T0 + 3000, 3.0), PricePoint("A", T0 + 1000, 1.0, 0.5, True)]
    await cache.put_points(first)
    await cache.put_points([PricePoint("A", T0 + 2000, 2.0), PricePoint("A", T0 + 3400, 3.5)])
    series = await cache.series("A", T0 + 1000, T0 + 10_000)
    assert series == [
        PricePoint("A", T0 + 1000, 1.0, 0.5, True),
        PricePoint("A", T0 + 2000, 2.0),
        PricePoint("A", T0 + 3400, 3.5),
    ]
    assert await cache.series("A", T0 + 1500, T0 + 2000) == [PricePoint("A", T0 + 2000, 2.0)]


async def test_series_keeps_only_the_four_hours_before_its_newest_point() -> None:
    cache = MemoryCache(ManualClock())
    step = 60_000
    count = SERIES_WINDOW_MS // step + TRIM_SLACK + 10
    await cache.put_points([PricePoint("A", T0 + i * step, float(i)) for i in range(count)])
    newest = T0 + (count - 1) * step
    series = await cache.series("A", newest - SERIES_WINDOW_MS, newest)
    assert series[0].ts == newest - SERIES_WINDOW_MS and series[-1].ts == newest
    assert len(series) == SERIES_WINDOW_MS // step + 1
    assert await cache.series("A", newest - SERIES_WINDOW_MS - 1, newest) == []  # not all kept


async def test_series_misses_below_the_floor_so_readers_use_the_store() -> None:
    cache = MemoryCache(ManualClock())
    assert await cache.series("A", T0, T0 + 10_000) == []
    await cache.put_points([PricePoint("A", T0 + 5000, 5.0), PricePoint("A", T0 + 6000, 6.0)])
    assert await cache.series("A", T0, T0 + 10_000) == []  # the cache knows nothing before T0+5s
    assert len(await cache.series("A", T0 + 5000, T0 + 10_000)) == 2
    await cache.mark_gap(T0 + 5500)
    assert await cache.series("A", T0 + 5000, T0 + 10_000) == []
    assert len(await cache.series("A", T0 + 5500, T0 + 10_000)) == 1
    await cache.mark_gap(T0)  # never lowered
    assert await cache.series("A", T0 + 5000, T0 + 10_000) == []


async def test_series_and_floor_vanish_after_four_hours_without_writes() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock)
    await cache.put_points([PricePoint("A", T0, 1.0)])
    clock.now += SERIES_WINDOW_MS / 1000 + 1
    assert await cache.series("A", T0, T0 + 1) == []
    await cache.put_points([PricePoint("B", T0 + 99_000, 1.0)])  # a new floor, from this write
    assert await cache.series("A", T0, T0 + 1) == []


async def test_aggregates_expire_after_a_day() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock)
    agg = IntervalAggregate("A", T0, T0 + 4 * 3_600_000, 1, 1.0, 2.0, 0.5, 1.5, 10)
    await cache.put_aggregates([agg])
    assert await cache.aggregate("A", T0) == agg
    assert await cache.aggregate("A", T0 + 1) is None
    clock.now += AGGREGATE_TTL_SECONDS + 1
    assert await cache.aggregate("A", T0) is None


async def test_a_shortened_window_trims_and_expires_at_its_own_length() -> None:
    clock = ManualClock()
    cache = MemoryCache(clock, window_ms=60_000)
    step = 1000
    count = 60 + TRIM_SLACK + 10
    await cache.put_points([PricePoint("A", T0 + i * step, float(i)) for i in range(count)])
    newest = T0 + (count - 1) * step
    assert len(await cache.series("A", newest - 60_000, newest)) == 61
    assert await cache.series("A", newest - 60_001, newest) == []  # not all kept
    clock.now += 61
    assert await cache.series("A", newest - 10_000, newest) == []  # expired after its window
