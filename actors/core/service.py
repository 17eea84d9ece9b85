"""Service: a supervised child made of asyncio tasks and no mailbox (it takes no messages).

Lifecycle: `on_start` → its tasks run (`run`, when overridden, plus any `spawn`ed loops) →
`stop()` sets the stop flag, cancels the tasks, then `on_stop`. An exception out of any task is
a crash; `run` returning while not asked to stop is a normal exit. Either way the link
callbacks (its supervisor) are told once per life: with the exception, or with None. What the
supervisor does next depends on the child's restart type (`actors.core.supervisor.Restart`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from actors import metrics
from actors.core.waiting import wait_set

# exc is None for a normal exit (a `run` that returned)
ExitCallback = Callable[["Child", BaseException | None], None]


class Child:
    """What a supervisor can supervise: a Service, an Actor or another Supervisor."""

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


class Service(Child):
    """Base class: override `on_start`/`on_stop`, and `run` for a body whose end is an exit."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.log = logging.LoggerAdapter(logging.getLogger(f"actors.{name}"), {"actor": name})
        self._links: list[ExitCallback] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._main: asyncio.Task[Any] | None = None
        self._stop_event = asyncio.Event()
        self._exited = False

    # hooks -------------------------------------------------------------
    async def on_start(self) -> None:
        """Acquire resources and spawn loops (again on each restart)."""

    async def on_stop(self) -> None:
        """Release resources; runs after the tasks are cancelled (final flushes go here)."""

    async def run(self) -> None:
        """The service's body, if it has one: returning from it ends the service's life."""

    # lifecycle ---------------------------------------------------------
    @property
    def should_stop(self) -> bool:
        return self._stop_event.is_set()

    async def sleep(self, seconds: float) -> bool:
        """Sleep that wakes early on stop; returns True when stopping."""
        return await wait_set(self._stop_event, seconds)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task[Any]:
        """Run a helper loop owned by this service; its exception crashes the service."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}:{name or 'task'}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def link(self, callback: ExitCallback) -> None:
        self._links.append(callback)

    async def start(self) -> None:
        self._stop_event.clear()
        self._exited = False
        await self.on_start()
        if type(self).run is not Service.run:
            self._main = self.spawn(self.run(), "run")

    async def restart(self) -> None:
        await self._cancel_tasks()
        await self.start()

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop producing, let a subclass drain (up to `timeout`), cancel the rest, `on_stop`."""
        self._stop_event.set()
        kept = self._kept_while_draining()
        helpers = [t for t in self._tasks if t is not kept]
        for task in helpers:
            task.cancel()
        await gather_quiet(helpers)
        await self._drain(timeout)
        await self._cancel_tasks()
        await self.on_stop()

    # for subclasses that take messages ---------------------------------
    def _kept_while_draining(self) -> asyncio.Task[Any] | None:
        return None

    async def _drain(self, timeout: float) -> None:
        """Nothing to drain without a mailbox."""

    # internals ---------------------------------------------------------
    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await gather_quiet(tasks)
        self._tasks.clear()
        self._main = None

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled() or self._exited:
            return
        exc = task.exception()
        if exc is None:
            if task is not self._main or self.should_stop:
                return
            self._exit(None)  # `run` returned: a normal exit
            return
        metrics.ACTOR_CRASHES.labels(self.name).inc()
        self._exit(exc)

    def _exit(self, exc: BaseException | None) -> None:
        self._exited = True
        for callback in self._links:
            callback(self, exc)


async def gather_quiet(tasks: list[asyncio.Task[Any]]) -> None:
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
