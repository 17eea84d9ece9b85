"""RedisBus trimming by what has been read: acknowledged entries go, unread ones stay until the
memory bound, past which the oldest go and each group's loss is counted, ranged and kept in
Redis for its writer (`take_losses`) and for /readyz (`losses`)."""

from __future__ import annotations

import logging

import pytest

from actors import metrics
from actors.bus.redis import RedisBus
from actors.messages import PricePoint
from tests.conftest import RedisHandle

pytestmark = pytest.mark.timeout(60)

T0 = 1_700_000_000_000


def ticks(second: int, symbols: tuple[str, ...] = ("AUSDT", "BUSDT")) -> list[PricePoint]:
    return [PricePoint(s, T0 + second * 1000 + 7, 1.0 + second) for s in symbols]


async def drain(sub: object) -> list[PricePoint]:
    got: list[PricePoint] = []
    while (batch := await sub.read(0.05)) is not None:  # type: ignore[attr-defined]
        got += batch.points
        await sub.ack(batch)  # type: ignore[attr-defined]
    return got


async def test_only_what_every_group_acknowledged_is_trimmed(redis: RedisHandle) -> None:
    bus = RedisBus(redis.client, redis.prefix, trim_every=0, max_behind=0, read_count=1)
    fast, slow = await bus.group("fast", "f"), await bus.group("slow", "s")
    for second in range(10):
        await bus.publish(ticks(second))
    assert len(await drain(fast)) == 20
    await bus.publish(ticks(10))  # trims: `slow` still needs everything
    assert await redis.client.xlen(bus.stream) == 11
    for _ in range(4):
        batch = await slow.read(0.1)
        assert batch is not None
        await slow.ack(batch)
    await drain(fast)
    await bus.publish(ticks(11))
    assert await redis.client.xlen(bus.stream) == 8  # the 4 entries both groups acked are gone
    assert await bus.losses() == {}


async def test_recent_entries_stay_for_the_tails(redis: RedisHandle) -> None:
    bus = RedisBus(redis.client, redis.prefix, trim_every=0, max_behind=30.0)
    sub = await bus.group("g", "c")
    for second in range(5):
        await bus.publish(ticks(second))
    await drain(sub)
    await bus.publish(ticks(5))
    assert await redis.client.xlen(bus.stream) == 6  # acked, but younger than 30 s


async def test_past_the_bound_the_oldest_unread_go_and_the_loss_is_recorded(
    redis: RedisHandle, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RedisBus(redis.client, redis.prefix, trim_every=0, max_mb=0.004, max_behind=0)
    asleep, awake = await bus.group("asleep", "a"), await bus.group("awake", "b")
    dropped = metrics.BUS_DROPPED.labels("asleep")._value.get()
    sent: list[PricePoint] = []
    with caplog.at_level(logging.WARNING, logger="actors.bus.loss"):
        for second in range(300):
            sent += ticks(second)
            await bus.publish(ticks(second))
            await drain(awake)  # a live group keeps up and loses nothing
    usage = await redis.client.memory_usage(bus.stream)
    assert usage is not None and usage <= 0.004 * 1024 * 1024 * 1.5
    kept = await drain(asleep)
    assert kept == sent[-len(kept) :] and 0 < len(kept) < len(sent)
    loss = await asleep.take_losses()
    assert loss is not None and loss.points == len(sent) - len(kept)
    last = (T0 + 7) // 1000 + loss.points // 2 - 1
    assert loss.ranges == {"AUSDT": (T0 // 1000, last), "BUSDT": (T0 // 1000, last)}
    assert metrics.BUS_DROPPED.labels("asleep")._value.get() - dropped == loss.points
    assert await asleep.take_losses() is None  # handed over once
    assert await awake.take_losses() is None
    views = await bus.losses()
    assert set(views) == {"asleep"}
    assert (views["asleep"].points, views["asleep"].symbols) == (loss.points, 2)
    assert views["asleep"].awaiting_backfill == 0 and views["asleep"].last == last * 1000
    lines = [r.getMessage() for r in caplog.records if "group asleep lost" in r.getMessage()]
    assert len(lines) == 1 and "of 2 symbols, 2023-11-14T22:13:20 .. " in lines[0]
