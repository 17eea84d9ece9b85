"""The read gate's bookkeeping stays bounded: found by a soak, where the front's RSS grew with
every expensive read (one record each, kept for good when the gate has no time budget)."""

from __future__ import annotations

import asyncio

from actors.front.sio.limits import ReadGate
from tests.helpers import ManualClock


async def _reads(gate: ReadGate, clock: ManualClock, count: int) -> None:
    for i in range(count):
        async with gate.slot(f"socket-{i}"):
            clock.now += 0.01


def test_a_gate_without_budget_keeps_no_record_of_its_reads() -> None:
    clock = ManualClock(0.0)
    gate = ReadGate(4, clock=clock)
    asyncio.run(_reads(gate, clock, 5_000))
    assert len(gate._spent) == 0


def test_a_budgeted_gate_keeps_only_the_last_seconds_reads() -> None:
    clock = ManualClock(0.0)
    gate = ReadGate(4, budget=100.0, clock=clock)
    asyncio.run(_reads(gate, clock, 5_000))  # 50 s of reads, 10 ms each
    assert len(gate._spent) <= 101
    assert abs(gate.spent() - len(gate._spent) * 0.01) < 1e-6
