"""SharedRecent: one computation per window, shared by concurrent callers."""

from __future__ import annotations

import asyncio

import pytest

from actors.front.rest.memo import SharedRecent
from tests.helpers import ManualClock


async def test_concurrent_callers_share_one_computation_then_it_expires() -> None:
    clock = ManualClock(0.0)
    memo: SharedRecent[int] = SharedRecent(2.0, clock)
    calls = 0
    release = asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await release.wait()
        return calls

    waiters = [asyncio.ensure_future(memo.get(compute)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == [1] * 5 and calls == 1
    clock.now = 1.9
    assert await memo.get(compute) == 1
    clock.now = 2.1
    assert await memo.get(compute) == 2


async def test_a_failure_reaches_every_caller_and_is_retried() -> None:
    memo: SharedRecent[int] = SharedRecent(2.0, ManualClock(0.0))
    attempts = 0

    async def flaky() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        if attempts == 1:
            raise OSError("store down")
        return 7

    results = await asyncio.gather(memo.get(flaky), memo.get(flaky), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)
    assert await memo.get(flaky) == 7


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    memo: SharedRecent[str] = SharedRecent(1.0, ManualClock(0.0))
    release = asyncio.Event()

    async def compute() -> str:
        await release.wait()
        return "done"

    first = asyncio.ensure_future(memo.get(compute))
    second = asyncio.ensure_future(memo.get(compute))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"
    with pytest.raises(asyncio.CancelledError):
        await first
