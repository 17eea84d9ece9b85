"""Properties against simple models: MemoryCache's series and the running aggregates agree with
a dict of one point per (symbol, second), whatever the order, duplicates and batch split."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from actors.cache.aggregates import IntervalAggregator
from actors.cache.base import SERIES_WINDOW_MS
from actors.cache.memory import MemoryCache
from actors.messages import PricePoint
from actors.store.intervals import IntervalScheme

SCHEME = IntervalScheme()
T0 = SCHEME.start_of(1_700_000_000_000) + SCHEME.length_ms

# Seconds spread over two intervals and past the 4-hour window; a few symbols; ms inside the second.
points_strategy = st.lists(
    st.builds(
        PricePoint,
        symbol=st.sampled_from(["A", "B"]),
        ts=st.builds(
            lambda s, ms: T0 + s * 1000 + ms,
            st.integers(0, 2 * SCHEME.length_ms // 1000 - 1).map(lambda s: s - s % 600),
            st.integers(0, 999),
        ),
        price=st.floats(1, 1000, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)


def model(delivered: list[PricePoint]) -> dict[tuple[str, int], PricePoint]:
    kept: dict[tuple[str, int], PricePoint] = {}
    for point in delivered:
        kept[(point.symbol, point.second)] = point  # the later delivery wins
    return kept


@settings(max_examples=100, deadline=None)
@given(points_strategy, st.integers(1, 5), st.data())
def test_memory_series_matches_the_model(
    points: list[PricePoint], splits: int, data: st.DataObject
) -> None:
    delivered = points + data.draw(st.lists(st.sampled_from(points), max_size=10))  # redelivery
    size = max(1, len(delivered) // splits)
    batches = [delivered[i : i + size] for i in range(0, len(delivered), size)]
    ranges = [
        (start, start + data.draw(st.integers(0, SERIES_WINDOW_MS)))
        for start in data.draw(
            st.lists(st.integers(T0 - 1000, T0 + 2 * SCHEME.length_ms), min_size=2, max_size=2)
        )
    ]
    asyncio.run(_check_series(batches, ranges))


async def _check_series(batches: list[list[PricePoint]], ranges: list[tuple[int, int]]) -> None:
    cache = MemoryCache()
    for batch in batches:
        await cache.put_points(batch)
    kept = model([p for batch in batches for p in batch])
    floor = min(p.ts for p in batches[0])
    for symbol, (start, end) in zip(("A", "B"), ranges, strict=True):
        mine = sorted((p for p in kept.values() if p.symbol == symbol), key=lambda p: p.ts)
        whole = start >= floor and (not mine or start >= mine[-1].ts - SERIES_WINDOW_MS)
        expected = [p for p in mine if start <= p.ts <= end] if whole else []
        assert await cache.series(symbol, start, end) == expected
        latest = await cache.latest([symbol])
        assert latest.get(symbol) == (mine[-1] if mine else None)


@settings(max_examples=100, deadline=None)
@given(points_strategy, st.data())
def test_running_aggregates_match_the_model(points: list[PricePoint], data: st.DataObject) -> None:
    delivered = points + data.draw(st.lists(st.sampled_from(points), max_size=10))
    aggregator = IntervalAggregator(SCHEME, since_ms=0)
    aggregator.add(delivered)
    kept = model(delivered)
    for symbol in ("A", "B"):
        for start in (T0, T0 + SCHEME.length_ms):
            inside = sorted(
                (p for p in kept.values() if p.symbol == symbol and SCHEME.start_of(p.ts) == start),
                key=lambda p: p.ts,
            )
            got = aggregator.get(symbol, start)
            if not inside:
                assert got is None
                continue
            assert got is not None
            assert (got.open, got.close, got.count) == (
                inside[0].price,
                inside[-1].price,
                len(inside),
            )
            # A superseded price of a second may still count in high/low: never less extreme.
            assert got.high >= max(p.price for p in inside)
            assert got.low <= min(p.price for p in inside)
