"""MemoryBus: a queued batch is returned even with a zero timeout; group redelivery; tail drops."""

from __future__ import annotations

import asyncio

import pytest

from actors import metrics
from actors.bus.base import EntriesGone, entry_key
from actors.bus.memory import MemoryBus, batch_bytes
from actors.messages import PricePoint


def points(n: int) -> list[PricePoint]:
    return [PricePoint("BTCUSDT", 1_000 * i, float(i)) for i in range(n)]


async def test_zero_timeout_still_returns_a_queued_batch() -> None:
    bus = MemoryBus()
    group, tail = await bus.group("g", "c"), await bus.tail()
    assert await group.read(0) is None and await tail.read(0) is None
    await bus.publish(points(2))
    got_group, got_tail = await group.read(0), await tail.read(0)
    assert got_group is not None and got_group.points == points(2)
    assert got_tail is not None and got_tail.points == points(2)


async def test_unacked_batches_are_delivered_again_to_the_restarted_group() -> None:
    bus = MemoryBus()
    group = await bus.group("g", "c")
    await bus.publish(points(1))
    await bus.publish(points(2))
    first, second = await group.read(0), await group.read(0)
    assert first is not None and second is not None
    await group.ack(first)
    again = await bus.group("g", "c")
    redelivered = await again.read(0)
    assert redelivered is not None and redelivered.points == second.points
    assert await again.read(0) is None


async def test_a_slow_tail_drops_the_oldest_and_never_blocks_the_publisher() -> None:
    bus = MemoryBus(maxsize=2)
    tail = await bus.tail()
    for i in range(5):
        await bus.publish([PricePoint("X", i * 1000, float(i))])
    kept = [await tail.read(0), await tail.read(0)]
    assert [b.points[0].price for b in kept if b is not None] == [3.0, 4.0]


async def test_a_stalled_group_never_blocks_the_publisher_or_the_others() -> None:
    """Live first: a group nobody reads keeps its newest points up to its bound, the loss is
    counted and ranged, and another group and a tail still get every batch."""
    bus = MemoryBus(max_mb=0.002)  # 5 batches of 2 points
    bound = bus.max_bytes
    stalled, live, tail = (
        await bus.group("stalled", "c"),
        await bus.group("live", "c"),
        await bus.tail(),
    )
    dropped = metrics.BUS_DROPPED.labels("stalled")._value.get()
    got: list[PricePoint] = []
    sent = [PricePoint(s, 1_000 * i, 1.0 + i) for i in range(20) for s in ("A", "B")]
    for i in range(0, len(sent), 2):
        await asyncio.wait_for(bus.publish(sent[i : i + 2]), 1.0)  # never waits
        batch = await live.read(0)
        assert batch is not None and await tail.read(0) is not None
        got += batch.points
        await live.ack(batch)
    assert got == sent
    assert await live.take_losses() is None
    assert 0.9 * bound - batch_bytes(stalled.queue[0]) < stalled.queued_bytes <= bound
    kept = [p for batch in stalled.queue for p in batch.points]
    assert kept == sent[-len(kept) :]
    loss = await stalled.take_losses()
    assert loss is not None and loss.points == len(sent) - len(kept)
    last_lost = sent[loss.points - 1].second
    assert loss.ranges == {"A": (0, last_lost), "B": (0, last_lost)}
    assert metrics.BUS_DROPPED.labels("stalled")._value.get() - dropped == loss.points
    assert await stalled.take_losses() is None  # handed over once
    views = await bus.losses()
    assert set(views) == {"stalled"} and views["stalled"].points == loss.points
    assert views["stalled"].awaiting_backfill == 0 and views["stalled"].last == last_lost * 1000


async def test_a_reader_waiting_on_an_empty_group_wakes_on_publish() -> None:
    bus = MemoryBus()
    group = await bus.group("g", "c")
    reading = asyncio.ensure_future(group.read(5.0))
    await asyncio.sleep(0)
    await bus.publish(points(1))
    batch = await asyncio.wait_for(reading, 1.0)
    assert batch is not None and batch.points == points(1)


async def test_entries_have_increasing_ids_and_are_read_again() -> None:
    bus = MemoryBus(history_seconds=60)
    tail = await bus.tail()
    start = tail.start
    for n in (1, 2, 3):
        await bus.publish(points(n))
    batches = [await tail.read(0) for _ in range(3)]
    ids = [b.entries[0][0] for b in batches if b is not None and b.entries]
    assert [entry_key(i) for i in ids] == sorted({entry_key(i) for i in ids})
    assert [b.entries[0][1] for b in batches if b is not None and b.entries] == [1, 2, 3]
    assert [len(p) for _, p in await bus.entries(start, ids[-1], 10)] == [1, 2, 3]
    assert [i for i, _ in await bus.entries(ids[0], ids[-1], 10)] == ids[1:]
    assert [i for i, _ in await bus.entries(start, ids[-1], 2)] == ids[:2]  # count
    assert await bus.entries(ids[-1], ids[-1], 10) == []


async def test_entries_past_the_history_are_gone() -> None:
    bus = MemoryBus(history_seconds=60, max_history=2)
    tail = await bus.tail()
    for n in (1, 2, 3):
        await bus.publish(points(n))
    ids = []
    for _ in range(3):
        batch = await tail.read(0)
        assert batch is not None and batch.entries
        ids.append(batch.entries[0][0])
    with pytest.raises(EntriesGone):  # the first entry went
        await bus.entries(tail.start, ids[-1], 10)
    assert [len(p) for _, p in await bus.entries(ids[0], ids[-1], 10)] == [2, 3]
    assert [len(p) for _, p in await bus.entries(ids[1], ids[-1], 10, inclusive=True)] == [2, 3]
    with pytest.raises(EntriesGone):  # the first entry itself went
        await bus.entries(ids[0], ids[-1], 10, inclusive=True)
