"""Resource: a child whose only job is to own something's lifetime (a store, a cache, a server).

Placing it in a supervisor's child list orders that lifetime against the actors using it:
opened before the ones after it, closed after them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from actors.core.service import Service


class Resource(Service):
    """Calls `opener` on start (and again on a restart) and `closer` on stop; either may be
    absent (a client that connects lazily needs only closing)."""

    def __init__(
        self,
        name: str,
        opener: Callable[[], Awaitable[object]] | None = None,
        closer: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        super().__init__(name)
        self._opener = opener
        self._closer = closer

    async def on_start(self) -> None:
        if self._opener is not None:
            await self._opener()

    async def on_stop(self) -> None:
        if self._closer is not None:
            await self._closer()
