"""Waits with a timeout that do not cost loop turns.

`asyncio.wait_for` (Python 3.11) runs what it waits for as a task of its own: a wake-up then
takes three loop turns (the inner task's step, its done callback, the waiter's step) where a
plain await takes one, and every turn is as long as whatever else the loop has to do then.
On the price path (feed -> bus -> hub) under load those turns are the delivery latency
(docs/security.md §6), so waits here use `asyncio.timeout`, which only arms a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TypeVar

T = TypeVar("T")


async def wait_set(event: asyncio.Event, timeout: float | None) -> bool:
    """Wait up to `timeout` seconds (None: without a limit) for `event`; whether it is set."""
    if event.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(None if timeout is None else max(0.0, timeout)):
            await event.wait()
    return event.is_set()


async def get_within(queue: asyncio.Queue[T], timeout: float) -> T | None:
    """The next item of `queue`, waiting up to `timeout` seconds; None past it. An item
    already queued is returned even when `timeout` is 0."""
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        pass
    if timeout <= 0:
        return None
    try:
        async with asyncio.timeout(timeout):
            return await queue.get()
    except TimeoutError:
        return None
