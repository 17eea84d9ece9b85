"""GroupConsumer: the skeleton every bus consumer group member shares; writers add a policy.

What it owns: the group subscription (opened on start, closed on stop, reopened on a restart,
after which the bus delivers again what was read and not acked), the point filter (only a
finite, positive price at a positive time is written: NaN breaks JSON and the store's NOT
NULL, and a bad point redelivered would fail every write after it), acking after a commit,
the backoff between failed writes, and the healthy/failing state /readyz reports. What a
subclass adds: how it buffers and when it writes (`consume`, `final_flush`, `ready`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import ClassVar

from actors import metrics
from actors.bus.base import Batch, Bus, Subscription
from actors.core.backoff import Backoff
from actors.core.service import Service
from actors.messages import PricePoint


def writable(point: PricePoint) -> bool:
    """A point a sink may write: positive time, finite positive price."""
    return point.ts > 0 and math.isfinite(point.price) and point.price > 0


class GroupConsumer(Service):
    """Reads the bus as member `consumer` of the subclass's `group`; acks only what it wrote."""

    group: ClassVar[str]  # the bus consumer group
    target: ClassVar[str]  # what it writes to, for the log lines

    def __init__(
        self, name: str, bus: Bus, consumer: str, backoff: Backoff, read_timeout: float
    ) -> None:
        super().__init__(name)
        self.bus = bus
        self.consumer = consumer
        self.backoff = backoff
        self.read_timeout = read_timeout
        self.writes_ok = True
        self.failures = 0  # failed writes in a row
        self._sub: Subscription | None = None
        self._rejected = metrics.POINTS_REJECTED.labels(name)

    # for subclasses ------------------------------------------------------
    async def consume(self, sub: Subscription) -> None:
        """Spawn the loops that read `sub` and write (called on every start)."""
        raise NotImplementedError

    async def final_flush(self, sub: Subscription) -> None:
        """On stop: write what is buffered if it can; what is not acked stays with the bus."""

    async def ready(self) -> bool:
        """For /readyz (a ReadinessCheck probe): the last write succeeded."""
        return self.writes_ok

    def accept(self, points: Sequence[PricePoint]) -> list[PricePoint]:
        """The writable points of a batch; the others are counted and dropped."""
        kept = [point for point in points if writable(point)]
        if len(kept) < len(points):
            self._rejected.inc(len(points) - len(kept))
        return kept

    async def ack_all(self, sub: Subscription, batches: Iterable[Batch]) -> None:
        for batch in batches:
            await sub.ack(batch)

    def write_failed(self, exc: Exception | None, held: int) -> float:
        """Record a failed write (logged once per outage); the delay before trying again."""
        self.failures += 1
        if self.writes_ok:
            self.log.warning(
                "%s write failed (%s); holding %d points and retrying", self.target, exc, held
            )
        self.writes_ok = False
        return self.backoff.next()

    def write_succeeded(self) -> None:
        if not self.writes_ok:
            self.log.info("%s writes recovered after %d failed attempts", self.target, self.failures)
        self.writes_ok = True
        self.failures = 0
        self.backoff.reset()

    # lifecycle -----------------------------------------------------------
    async def on_start(self) -> None:
        await self._close_subscription()
        self._sub = await self.bus.group(self.group, self.consumer)
        await self.consume(self._sub)

    async def on_stop(self) -> None:
        if self._sub is not None:
            await self.final_flush(self._sub)
        await self._close_subscription()

    async def _close_subscription(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.close()
