"""LoopTurns spreads a burst of requests over loop turns, so work that becomes ready in the
middle of the burst (the feed's next frame) runs after a few requests, not after all of them.
Runs on uvloop, as the server does."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from actors.front.turns import LoopTurns, TurnsExhausted


async def _burst(turns: LoopTurns, requests: int) -> list[str]:
    """`requests` tasks made ready in one turn, then a callback made ready while they run
    (as an I/O event would be); returns the order in which they ran."""
    order: list[str] = []

    async def request(i: int) -> None:
        await turns.take()
        order.append(f"r{i}")
        if i == 0:
            asyncio.get_running_loop().call_soon(order.append, "live")

    await asyncio.gather(*(request(i) for i in range(requests)))
    return order


def test_a_burst_lets_live_work_in_after_one_turns_share() -> None:
    order = uvloop.run(_burst(LoopTurns(per_turn=4, max_waiting=100), 40))
    # without turns every one of the 40 requests runs before "live"
    assert order.index("live") <= 4 + 1
    assert sorted(order) == sorted([f"r{i}" for i in range(40)] + ["live"])


def test_requests_deferred_keep_their_order() -> None:
    order = uvloop.run(_burst(LoopTurns(per_turn=3, max_waiting=100), 12))
    requests = [name for name in order if name != "live"]
    assert requests == [f"r{i}" for i in range(12)]


def test_past_the_waiting_bound_a_request_is_refused_and_nothing_else_changes() -> None:
    async def main() -> tuple[int, int]:
        turns = LoopTurns(per_turn=2, max_waiting=5)
        outcomes = await asyncio.gather(
            *(turns.take() for _ in range(10)), return_exceptions=True
        )
        refused = sum(isinstance(o, TurnsExhausted) for o in outcomes)
        return refused, turns.waiting

    refused, waiting = uvloop.run(main())
    assert refused == 3  # 2 start at once, 5 wait, the other 3 are refused
    assert waiting == 0


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        LoopTurns(per_turn=0, max_waiting=1)
