"""Waits with a timeout wake their waiter on the loop turn after the wake-up, as a plain await
does (asyncio.wait_for took three turns), on the uvloop the processes run on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import uvloop

from actors.bus.memory import MemoryBus
from actors.core.waiting import get_within, wait_set
from actors.messages import PricePoint


async def turns_until_woken(wait: Awaitable[object], wake: Callable[[], None]) -> int:
    """Loop turns between `wake()` and the waiter running again (1 is the least possible)."""
    loop = asyncio.get_running_loop()
    turns = 0
    woken_at: list[int] = []

    def tick() -> None:
        nonlocal turns
        turns += 1
        if not woken_at:
            loop.call_soon(tick)

    async def waiter() -> None:
        await wait
        woken_at.append(turns)

    task = asyncio.ensure_future(waiter())
    for _ in range(3):  # the waiter is parked
        await asyncio.sleep(0)
    wake()
    loop.call_soon(tick)  # counts from the turn after the wake-up: the waiter's earliest
    await task
    return woken_at[0] + 1


def run(coro: Callable[[], Awaitable[int]]) -> int:
    return uvloop.run(coro())  # type: ignore[no-any-return]


def test_a_set_event_wakes_its_waiter_on_the_next_turn() -> None:
    async def main() -> int:
        event = asyncio.Event()
        return await turns_until_woken(wait_set(event, 5.0), event.set)

    assert run(main) == 1


def test_old_wait_for_took_three_turns_so_the_count_can_fail() -> None:
    async def main() -> int:
        event = asyncio.Event()
        return await turns_until_woken(asyncio.wait_for(event.wait(), 5.0), event.set)

    assert run(main) >= 3


def test_a_queued_item_wakes_its_getter_on_the_next_turn() -> None:
    async def main() -> int:
        queue: asyncio.Queue[int] = asyncio.Queue()
        return await turns_until_woken(get_within(queue, 5.0), lambda: queue.put_nowait(1))

    assert run(main) == 1


def test_the_hubs_tail_read_wakes_on_the_turn_after_a_publish() -> None:
    async def main() -> int:
        bus = MemoryBus()
        tail = await bus.tail()
        point = PricePoint("BTCUSDT", 1_000, 1.0)
        return await turns_until_woken(tail.read(5.0), lambda: bus.publish_nowait([point]))

    assert run(main) == 1


async def test_timeouts_and_zero_timeouts() -> None:
    event = asyncio.Event()
    assert await wait_set(event, 0.01) is False
    assert await wait_set(event, 0) is False
    event.set()
    assert await wait_set(event, 0) is True
    queue: asyncio.Queue[int] = asyncio.Queue()
    assert await get_within(queue, 0.01) is None
    assert await get_within(queue, 0) is None
    queue.put_nowait(7)
    assert await get_within(queue, 0) == 7  # already queued: returned even with no time
    assert queue.empty()


async def test_a_timed_out_get_leaves_a_later_item_in_the_queue() -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    assert await get_within(queue, 0.01) is None
    queue.put_nowait(3)
    assert await get_within(queue, 1.0) == 3


async def test_no_limit_waits_until_the_event_is_set() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.02, event.set)
    assert await wait_set(event, None) is True
