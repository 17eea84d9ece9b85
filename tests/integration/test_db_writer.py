"""DbWriter on the in-process bus and a real SQLite store: batching, dedupe, pruning, stop."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actors import metrics
from actors.bus.memory import MemoryBus
from actors.core.backoff import Backoff
from actors.messages import PricePoint
from actors.sinks.db_writer import DbWriter
from actors.store.base import Store
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(60)

NOW_S = int(time.time())
T0 = (NOW_S - 3600) * 1000  # recent enough that retention keeps it


def ticks(symbol: str, first_ts: int, count: int, price: float = 100.0) -> list[PricePoint]:
    return [PricePoint(symbol, first_ts + i * 1000 + 3, price + i) for i in range(count)]


def make_writer(bus: MemoryBus, store: Store, **options: Any) -> DbWriter:
    settings: dict[str, Any] = {
        "flush_seconds": 0.2,
        "prune_every": 3600.0,
        "backoff": Backoff(base=0.05, cap=0.2),
        "read_timeout": 0.05,
    }
    settings.update(options)
    return DbWriter(bus, store, **settings)


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus(maxsize=1000)
    yield bus
    await bus.close()


def stored(store: Store, symbol: str, expected: int) -> Any:
    async def probe() -> list[PricePoint] | None:
        points = await store.points_between(symbol, T0 - 86_400_000, T0 + 86_400_000)
        return points if len(points) == expected else None

    return probe


def acked(bus: MemoryBus) -> Any:
    async def probe() -> bool:
        group = bus.groups["db-writer"]
        return not group.pending and not group.queue

    return probe


async def test_writes_come_in_batches_at_the_flush_interval(
    bus: MemoryBus, sqlite_store: Store
) -> None:
    writer = make_writer(bus, sqlite_store, flush_seconds=0.4)
    await writer.start()
    try:
        sent = ticks("BTCUSDT", T0, 100)
        started = time.monotonic()
        for point in sent:  # a steady 50 points a second for about two seconds
            await bus.publish([point])
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        assert await eventually(stored(sqlite_store, "BTCUSDT", 100), what="all points") == sent
        await eventually(acked(bus), what="all batches acked")
    finally:
        await writer.stop()
    flushes = list(writer.recent_flushes)
    assert sum(n for _, n in flushes) == 100
    # One write per interval, not one per point: about elapsed / 0.4 of them.
    assert len(flushes) <= elapsed / 0.4 + 2
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(flushes)]
    assert gaps and min(gaps) >= 0.39, gaps  # writes start a whole interval apart


async def test_a_point_delivered_twice_is_stored_once(bus: MemoryBus, sqlite_store: Store) -> None:
    writer = make_writer(bus, sqlite_store, flush_seconds=30)  # only the final flush writes
    await writer.start()
    sent = ticks("ETHUSDT", T0, 10)
    await bus.publish(sent + sent[:3])  # twice in one batch
    await bus.publish(sent[5:])  # and again in another
    later = PricePoint("ETHUSDT", sent[9].ts + 500, 999.0)  # same second, later: it wins
    await bus.publish([later])

    async def buffered() -> bool:
        return writer.buffered == 10 and not bus.groups["db-writer"].queue

    await eventually(buffered, what="the three batches in the buffer")
    await writer.restart()  # unacked batches come again from the bus: still one per second

    async def redelivered() -> bool:
        return not bus.groups["db-writer"].redeliver and writer.buffered == 10

    await eventually(redelivered, what="the redelivered batches in the buffer")
    await writer.stop()
    got = await eventually(stored(sqlite_store, "ETHUSDT", 10), what="ten points")
    assert got == [*sent[:9], later]
    assert not bus.groups["db-writer"].pending


async def test_points_past_retention_are_pruned(bus: MemoryBus, sqlite_store: Store) -> None:
    old = ticks("BTCUSDT", T0 - 3 * 86_400_000, 20)
    recent = ticks("BTCUSDT", T0, 20)
    await sqlite_store.write_points(old + recent)
    pruned = metrics.DB_PRUNED._value.get()
    writer = make_writer(bus, sqlite_store, retention_days=2, prune_every=0.2)
    await writer.start()
    try:

        async def old_gone() -> bool:
            left = await sqlite_store.points_between("BTCUSDT", old[0].ts, old[-1].ts)
            return not left and metrics.DB_PRUNED._value.get() > pruned

        await eventually(old_gone, what="points older than 2 days pruned and counted")
        assert await sqlite_store.points_between("BTCUSDT", T0, T0 + 60_000) == recent
        fresh = ticks("BTCUSDT", T0 + 60_000, 5)
        await bus.publish(fresh)  # writes go on while the pruner runs
        await eventually(stored(sqlite_store, "BTCUSDT", 25), what="new points written")
    finally:
        await writer.stop()


async def test_stop_flushes_everything_it_read(bus: MemoryBus, sqlite_store: Store) -> None:
    writer = make_writer(bus, sqlite_store, flush_seconds=60)
    await writer.start()
    sent = ticks("BTCUSDT", T0, 500)
    for i in range(0, 500, 50):
        await bus.publish(sent[i : i + 50])

    async def all_read() -> bool:
        return writer.buffered == 500

    await eventually(all_read, what="500 points buffered")
    assert await sqlite_store.points_between("BTCUSDT", T0, T0 + 600_000) == []
    await writer.stop()
    assert await sqlite_store.points_between("BTCUSDT", T0, T0 + 600_000) == sent
    assert not bus.groups["db-writer"].pending


async def test_readiness_reports_the_buffer(bus: MemoryBus, sqlite_store: Store) -> None:
    writer = make_writer(bus, sqlite_store, flush_seconds=0.1)
    await writer.start()
    try:
        assert writer.writes_ok and writer.buffered == 0 and writer.last_flush_at is None
        await bus.publish(ticks("BTCUSDT", T0, 3))
        await eventually(stored(sqlite_store, "BTCUSDT", 3), what="three points")

        async def flushed() -> bool:
            return writer.last_flush_at is not None and writer.buffered == 0

        await eventually(flushed, what="a recorded flush")
        assert metrics.DB_BUFFERED._value.get() == 0
    finally:
        await writer.stop()


async def test_invalid_points_are_rejected_not_retried_for_ever(
    bus: MemoryBus, sqlite_store: Store
) -> None:
    rejected = metrics.POINTS_REJECTED.labels("db-writer")
    before = rejected._value.get()
    writer = make_writer(bus, sqlite_store)
    await writer.start()
    try:
        good = ticks("BTCUSDT", T0, 2)
        bad = [
            PricePoint("BTCUSDT", T0 + 5000, float("nan")),  # the store's NOT NULL would refuse it
            PricePoint("BTCUSDT", T0 + 6000, float("inf")),
            PricePoint("BTCUSDT", T0 + 7000, 0.0),
        ]
        await bus.publish([good[0], *bad])
        await bus.publish(bad[:1])  # a batch of nothing storable is acked too
        await bus.publish(good[1:])
        assert await eventually(stored(sqlite_store, "BTCUSDT", 2), what="the good points") == good
        await eventually(acked(bus), what="every batch acked")
        assert rejected._value.get() - before == 4
        assert writer.writes_ok
    finally:
        await writer.stop()
