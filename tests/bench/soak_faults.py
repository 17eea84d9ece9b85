"""The soak's periodic faults: each runs every `period` seconds until the soak stops.

Feed reconnects come from the simulator itself (`--drop-every 60` closes every WebSocket).
The actions here block (supervisorctl, redis-cli), so they run in a thread; a failing action
is recorded as an event and the schedule goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers import PrivateRedis
from tests.integration.tree_support import Tree


@dataclass(frozen=True)
class Fault:
    """`action` every `period` seconds (first at `period`), named `name` in the events."""

    name: str
    period: float
    action: Callable[[], str]


@dataclass
class FaultSchedule:
    """Runs every fault on its period; `events` holds (elapsed seconds, description)."""

    faults: list[Fault]
    started: float = field(default_factory=time.monotonic)
    events: list[tuple[float, str]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        await asyncio.gather(*(self._every(fault, stop) for fault in self.faults))

    async def _every(self, fault: Fault, stop: asyncio.Event) -> None:
        due = fault.period
        while True:
            wait = due - (time.monotonic() - self.started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, wait))
            if stop.is_set():
                return
            at = time.monotonic() - self.started
            try:
                detail = await asyncio.to_thread(fault.action)
            except Exception as exc:  # recorded; a soak outlives one failed fault
                detail = f"FAILED {type(exc).__name__}: {exc}"
            self.events.append((at, f"{fault.name} {detail}"))
            print(f"[{at / 60:6.1f} min] {fault.name} {detail}", flush=True)
            due += fault.period


def kill_db_writer(tree: Tree) -> Callable[[], str]:
    """kill -9 of the db-writer; returns once supervisord runs a new one."""

    def action() -> str:
        old, new = tree.kill9("db-writer", timeout=120)
        return f"pid {old} -> {new}"

    return action


def restart_redis(redis: PrivateRedis, timeout: float = 60.0) -> Callable[[], str]:
    """SHUTDOWN (the AOF is flushed) and start again on the same port and directory."""

    def action() -> str:
        began = time.monotonic()
        redis.shutdown()
        redis.start(timeout)
        return f"down and back in {time.monotonic() - began:.1f} s"

    return action


def redis_workdir(root: Path) -> Path:
    path = root / "redis"
    path.mkdir(parents=True, exist_ok=True)
    return path
