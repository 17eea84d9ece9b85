"""MemoryBus: a queued batch is returned even with a zero timeout; group redelivery; tail drops."""

from __future__ import annotations

from actors.bus.memory import MemoryBus
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
