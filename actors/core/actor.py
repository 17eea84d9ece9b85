"""The Actor: one asyncio task over a bounded mailbox, plus any helper tasks it owns.

Lifecycle (same order everywhere): `on_start` → tasks run → `stop()` sets the stop flag,
cancels helper tasks, drains the mailbox, cancels the handle loop, then `on_stop`. An
exception out of any of its tasks is a crash: the actor's link callbacks (its supervisor)
are told once, with the exception. The instance and its mailbox survive a restart, so
nothing already accepted into the mailbox is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

from actors import metrics

M = TypeVar("M")
ExitCallback = Callable[["Child", BaseException], None]


class Child:
    """What a supervisor can supervise: an Actor or another Supervisor."""

    name: str

    def link(self, callback: ExitCallback) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self, timeout: float = 10.0) -> None:
        raise NotImplementedError

    async def restart(self) -> None:
        """Discard running tasks (brutally) and start again from `on_start`."""
        raise NotImplementedError


class Actor(Child, Generic[M]):
    """Base class: override `handle` (and `on_start`/`on_stop`); add loops with `spawn`."""

    def __init__(self, name: str, *, mailbox_size: int = 1000) -> None:
        if mailbox_size <= 0:
            raise ValueError("an actor's mailbox must be bounded")
        self.name = name
        self.mailbox: asyncio.Queue[M] = asyncio.Queue(maxsize=mailbox_size)
        self.log = logging.LoggerAdapter(logging.getLogger(f"actors.{name}"), {"actor": name})
        self._links: list[ExitCallback] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stop_event = asyncio.Event()
        self._crashed = False
        self._handled = metrics.ACTOR_HANDLED.labels(name)
        metrics.ACTOR_MAILBOX_DEPTH.labels(name).set_function(self.mailbox.qsize)

    # hooks -------------------------------------------------------------
    async def on_start(self) -> None:
        """Acquire resources; runs before any message is handled (again on each restart)."""

    async def on_stop(self) -> None:
        """Release resources; runs after the mailbox is drained (final flushes go here)."""

    async def handle(self, message: M) -> None:
        """Handle one mailbox message. An exception here crashes the actor."""
        raise NotImplementedError

    # messaging ---------------------------------------------------------
    async def tell(self, message: M) -> None:
        """Put a message in the mailbox, waiting while it is full (backpressure)."""
        await self.mailbox.put(message)

    def try_tell(self, message: M) -> bool:
        """Put without waiting; a full mailbox drops the message and counts it."""
        try:
            self.mailbox.put_nowait(message)
        except asyncio.QueueFull:
            metrics.ACTOR_DROPPED.labels(self.name).inc()
            return False
        return True

    # lifecycle ---------------------------------------------------------
    @property
    def should_stop(self) -> bool:
        return self._stop_event.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep that wakes early on stop; returns True when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), timeout=max(0.0, seconds))
        return self._stop_event.is_set()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run a helper loop owned by this actor; its exception crashes the actor."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name or 'task'}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def link(self, callback: ExitCallback) -> None:
        self._links.append(callback)

    async def start(self) -> None:
        self._stop_event.clear()
        self._crashed = False
        await self.on_start()
        self._loop_task = self.spawn(self._handle_loop(), "mailbox")

    async def restart(self) -> None:
        await self._cancel_tasks()
        await self.start()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop producing, drain what is in the mailbox (up to `timeout`), then `on_stop`."""
        self._stop_event.set()
        helpers = [t for t in self._tasks if t is not self._loop_task]
        for task in helpers:
            task.cancel()
        await _gather_quiet(helpers)
        loop_alive = self._loop_task is not None and not self._loop_task.done()
        if loop_alive and not self.mailbox.empty():
            try:
                await asyncio.wait_for(self.mailbox.join(), timeout)
            except TimeoutError:
                self.log.warning(
                    "stop: %d messages left undrained after %.1fs", self.mailbox.qsize(), timeout
                )
        await self._cancel_tasks()
        await self.on_stop()

    # internals ---------------------------------------------------------
    async def _handle_loop(self) -> None:
        while True:
            message = await self.mailbox.get()
            try:
                await self.handle(message)
                self._handled.inc()
            finally:
                self.mailbox.task_done()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await _gather_quiet(tasks)
        self._tasks.clear()
        self._loop_task = None

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._crashed:
            return
        exc = task.exception()
        if exc is None:
            return
        self._crashed = True
        metrics.ACTOR_CRASHES.labels(self.name).inc()
        for callback in self._links:
            callback(self, exc)


async def _gather_quiet(tasks: list[asyncio.Task[Any]]) -> None:
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
