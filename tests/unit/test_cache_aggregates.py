"""Running interval aggregates: OHLC by ts, idempotent counts, only whole closed intervals."""

from __future__ import annotations

import random

from actors.cache.aggregates import IntervalAggregator
from actors.messages import PricePoint
from actors.store.intervals import HOUR_MS, IntervalScheme

SCHEME = IntervalScheme()
START = SCHEME.start_of(1_700_000_000_000) + SCHEME.length_ms  # an interval start (01/05/.. UTC)
NEXT = START + SCHEME.length_ms


def point(symbol: str, ts: int, price: float) -> PricePoint:
    return PricePoint(symbol, ts, price)


def test_ohlc_is_by_timestamp_whatever_the_arrival_order() -> None:
    points = [point("BTCUSDT", START + i * 1000 + 7, float(100 + (i * 37) % 11)) for i in range(50)]
    shuffled = points[:]
    random.Random(3).shuffle(shuffled)
    agg = IntervalAggregator(SCHEME, since_ms=0)
    agg.add(shuffled)
    got = agg.get("BTCUSDT", START)
    assert got is not None
    assert (got.open, got.close) == (points[0].price, points[-1].price)
    assert got.high == max(p.price for p in points) and got.low == min(p.price for p in points)
    assert got.count == 50
    assert (got.interval_start_time, got.interval_end_time) == (START, NEXT)
    assert got.interval_hour == SCHEME.hour_of(START)


def test_redelivered_points_are_counted_once_and_a_seconds_later_point_replaces_it() -> None:
    agg = IntervalAggregator(SCHEME, since_ms=0)
    first = [point("ETHUSDT", START + 1000, 10.0), point("ETHUSDT", START + 2000, 11.0)]
    agg.add(first)
    agg.add(first)  # at-least-once: the same batch again
    agg.add([point("ETHUSDT", START + 2500, 12.0)])  # same second as the close, later write
    got = agg.get("ETHUSDT", START)
    assert got is not None
    assert got.count == 2
    assert got.close == 12.0 and got.open == 10.0


def test_only_closed_intervals_are_ready_and_written_ones_stay_clean() -> None:
    agg = IntervalAggregator(SCHEME, since_ms=0)
    agg.add([point("A", START + 1000, 1.0), point("B", START + 5000, 2.0)])
    assert agg.ready() == []  # still open: the store answers for open intervals
    agg.add([point("A", NEXT + 1000, 3.0)])  # A crosses into the next interval; B is closed too
    ready = {(a.symbol, a.interval_start_time): a for a in agg.ready()}
    assert set(ready) == {("A", START), ("B", START)}
    agg.written(ready.values())
    assert agg.ready() == []
    agg.add([point("B", START + 9000, 0.5)])  # a late (backfilled) point changes a closed interval
    again = agg.ready()
    assert [(a.symbol, a.low, a.count) for a in again] == [("B", 0.5, 2)]


def test_intervals_begun_before_the_writer_are_never_published() -> None:
    agg = IntervalAggregator(SCHEME, since_ms=START + HOUR_MS)  # writer started mid-interval
    agg.add([point("A", START + 2 * HOUR_MS, 1.0), point("A", NEXT + 1000, 2.0)])
    assert agg.get("A", START) is None
    agg.add([point("A", NEXT + SCHEME.length_ms, 3.0)])
    assert [(a.interval_start_time, a.count) for a in agg.ready()] == [(NEXT, 1)]


def test_points_older_than_the_kept_intervals_are_ignored() -> None:
    agg = IntervalAggregator(SCHEME, since_ms=0, keep=2)
    third = NEXT + SCHEME.length_ms
    agg.add([point("A", START + 1000, 1.0), point("A", NEXT + 1000, 2.0)])
    agg.add([point("A", third + 1000, 3.0)])
    assert agg.get("A", START) is None  # evicted when the third interval opened
    agg.add([point("A", START + 2000, 9.0)])
    assert agg.get("A", START) is None
    kept = agg.get("A", NEXT)
    assert kept is not None and kept.count == 1
