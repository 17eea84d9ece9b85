"""The Actor: a Service with a bounded mailbox and a loop handling its messages one at a time.

Lifecycle as a Service's, with the mailbox in it: `stop()` cancels the helper tasks, drains
the mailbox (up to the timeout), cancels the handle loop, then `on_stop`. The instance and its
mailbox survive a restart, so nothing already accepted into the mailbox is lost. Children that
take no messages are Services (`actors.core.service`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

from actors import metrics
from actors.core.service import Child, ExitCallback, Service

__all__ = ["Actor", "Child", "ExitCallback"]

M = TypeVar("M")


class Actor(Service, Generic[M]):
    """Base class: override `handle` (and `on_start`/`on_stop`); add loops with `spawn`."""

    def __init__(self, name: str, *, mailbox_size: int = 1000) -> None:
        if mailbox_size <= 0:
            raise ValueError("an actor's mailbox must be bounded")
        super().__init__(name)
        self.mailbox: asyncio.Queue[M] = asyncio.Queue(maxsize=mailbox_size)
        self._loop_task: asyncio.Task[None] | None = None
        self._handled = metrics.ACTOR_HANDLED.labels(name)
        metrics.ACTOR_MAILBOX_DEPTH.labels(name).set_function(self.mailbox.qsize)

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
    async def start(self) -> None:
        await super().start()
        self._loop_task = self.spawn(self._handle_loop(), "mailbox")

    def _kept_while_draining(self) -> asyncio.Task[Any] | None:
        return self._loop_task

    async def _drain(self, timeout: float) -> None:
        loop_alive = self._loop_task is not None and not self._loop_task.done()
        if loop_alive and not self.mailbox.empty():
            try:
                await asyncio.wait_for(self.mailbox.join(), timeout)
            except TimeoutError:
                self.log.warning(
                    "stop: %d messages left undrained after %.1fs", self.mailbox.qsize(), timeout
                )

    async def _cancel_tasks(self) -> None:
        await super()._cancel_tasks()
        self._loop_task = None

    async def _handle_loop(self) -> None:
        while True:
            message = await self.mailbox.get()
            try:
                await self.handle(message)
                self._handled.inc()
            finally:
                self.mailbox.task_done()
