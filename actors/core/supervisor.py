"""OTP-style supervisor: ordered start, reverse stop, one_for_one / one_for_all, restart intensity.

Each child has a restart type with Erlang/OTP's meaning: PERMANENT is always restarted,
TRANSIENT only after a crash (a normal exit ends it: one-shot work), TEMPORARY never.
A crash (or a normal exit) reaches the supervisor through the child's link callback and is queued; the
supervisor's own task logs it once (actor name and exception), waits a backoff, and restarts.
More than `max_restarts` restarts within `period` seconds and the supervisor stops its
children and fails itself: a parent supervisor sees that as a crash of this child, the
process runtime turns it into a non-zero exit so supervisord takes over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from actors import metrics
from actors.core.backoff import Backoff
from actors.core.service import Child, ExitCallback


class Strategy(Enum):
    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"


class Restart(Enum):
    """When an exited child is started again (Erlang/OTP's restart types)."""

    PERMANENT = "permanent"  # always: it is meant to run as long as its supervisor
    TRANSIENT = "transient"  # after a crash only: returning normally means its work is done
    TEMPORARY = "temporary"  # never: its exit, crash or not, ends it


class RestartIntensityExceeded(RuntimeError):
    """Too many restarts in too short a time: the supervisor gives up and escalates."""


@dataclass
class ChildSpec:
    """A child and how to treat it: `shutdown` is its drain timeout before a brutal kill,
    `restart` whether it is started again after it exits."""

    child: Child
    shutdown: float = 10.0
    restart: Restart = Restart.PERMANENT
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.1, cap=5.0))
    last_crash: float = 0.0


class Supervisor(Child):
    """Supervises children (actors or supervisors); itself a child of a parent supervisor."""

    def __init__(
        self,
        name: str,
        children: list[ChildSpec],
        *,
        strategy: Strategy = Strategy.ONE_FOR_ONE,
        max_restarts: int = 5,
        period: float = 30.0,
    ) -> None:
        self.name = name
        self.specs = children
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.period = period
        self.log = logging.LoggerAdapter(logging.getLogger(f"actors.{name}"), {"actor": name})
        self._links: list[ExitCallback] = []
        # a child reports at most once per life (then waits for its restart), so this bound holds
        self._exits: asyncio.Queue[tuple[Child, BaseException | None]] = asyncio.Queue(
            maxsize=max(1, len(children))
        )
        self._restarts: deque[float] = deque()
        self._task: asyncio.Task[None] | None = None
        self._started: list[ChildSpec] = []
        self.ended: set[str] = set()  # children that exited for good (not restarted)
        self.failed: asyncio.Future[BaseException] | None = None
        for spec in children:
            spec.child.link(self._child_exited)

    def link(self, callback: ExitCallback) -> None:
        self._links.append(callback)

    async def start(self) -> None:
        self.failed = asyncio.get_running_loop().create_future()
        self._started = []
        self.ended = set()
        for spec in self.specs:
            await spec.child.start()
            self._started.append(spec)
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"{self.name}:supervise"
        )

    async def stop(self, timeout: float = 10.0) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._stop_children()

    async def restart(self) -> None:
        await self.stop()
        while not self._exits.empty():
            self._exits.get_nowait()
        await self.start()

    async def _stop_children(self) -> None:
        errors: list[BaseException] = []
        for spec in reversed(self._started):
            try:
                await asyncio.wait_for(spec.child.stop(spec.shutdown), spec.shutdown + 5.0)
            except Exception as exc:  # keep stopping the others; report all
                errors.append(exc)
                self.log.error("stopping %s failed: %r", spec.child.name, exc)
        self._started = []
        if errors:
            self.log.error("%d children failed to stop cleanly", len(errors))

    def _child_exited(self, child: Child, exc: BaseException | None) -> None:
        self._exits.put_nowait((child, exc))

    def _spec(self, child: Child) -> ChildSpec:
        return next(spec for spec in self.specs if spec.child is child)

    def _record_restart(self) -> bool:
        now = time.monotonic()
        self._restarts.append(now)
        while self._restarts and now - self._restarts[0] > self.period:
            self._restarts.popleft()
        return len(self._restarts) <= self.max_restarts

    async def _supervise(self) -> None:
        while True:
            child, exc = await self._exits.get()
            spec = self._spec(child)
            if not self._restarts_after(spec, exc):
                self.ended.add(child.name)
                continue
            if not self._record_restart():
                await self._fail(child, exc)
                return
            now = time.monotonic()
            if now - spec.last_crash > self.period:
                spec.backoff.reset()  # it ran well for a whole period: start the backoff over
            spec.last_crash = now
            delay = spec.backoff.next()
            await asyncio.sleep(delay)
            metrics.ACTOR_RESTARTS.labels(child.name).inc()
            if self.strategy is Strategy.ONE_FOR_ONE:
                self.log.warning("restarting %s after %.2fs", child.name, delay)
                await child.restart()
            else:
                self.log.warning("restarting all children after %.2fs (one_for_all)", delay)
                await self._stop_children()
                while not self._exits.empty():
                    self._exits.get_nowait()  # exits caused by our own stop are not crashes
                for other in self.specs:
                    if other.child.name not in self.ended:
                        await other.child.start()
                        self._started.append(other)

    def _restarts_after(self, spec: ChildSpec, exc: BaseException | None) -> bool:
        name = spec.child.name
        if exc is None:
            if spec.restart is Restart.PERMANENT:
                self.log.error("%s exited, but it is permanent", name)
                return True
            self.log.info("%s finished", name)
            return False
        self.log.error("%s crashed: %s: %s", name, type(exc).__name__, exc)
        if spec.restart is Restart.TEMPORARY:
            self.log.warning("%s is temporary: not restarted", name)
            return False
        return True

    async def _fail(self, child: Child, exc: BaseException | None) -> None:
        error = RestartIntensityExceeded(
            f"{self.name}: more than {self.max_restarts} restarts in {self.period:g}s "
            f"(last: {child.name}: {type(exc).__name__}: {exc})"
            if exc is not None
            else f"(last: {child.name} exited)"
        )
        self.log.critical("%s; stopping all children and escalating", error)
        await self._stop_children()
        if self.failed is not None and not self.failed.done():
            self.failed.set_result(error)
        for callback in self._links:
            callback(self, error)

    def child_names(self) -> list[str]:
        return [spec.child.name for spec in self.specs]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "strategy": self.strategy.value, "children": self.child_names()}
