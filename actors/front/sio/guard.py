"""HandlerGuard: every Socket.IO request handler answers any input with a result or `error`.

A request over its socket's rate is refused with `error` (a socket far over it is
disconnected), a request from a socket that has not read its earlier answers disconnects it; a
refused request (`RequestError`), an unavailable store, a busy server, or any
unexpected exception becomes `error {event, message}` and one log line, never a traceback per
request nor silence (docs/security.md §4).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from actors import metrics
from actors.front.sio.context import HubContext
from actors.front.sio.limits import RequestRate, ServerBusy
from actors.front.sio.requests import RequestError
from actors.front.turns import LoopTurns, TurnsExhausted
from actors.store.base import StoreError

log = logging.getLogger("actors.front.sio.guard")

Handler = Callable[[str, Any], Awaitable[None]]
# refusals in a row (at the rate limit) after which the socket is disconnected
DISCONNECT_AFTER_REFUSALS = 3


class HandlerGuard:
    """Wraps the hub's event handlers with the per-socket rate and the error answer."""

    def __init__(
        self,
        ctx: HubContext,
        rate: RequestRate,
        turns: LoopTurns,
        on_limit: Callable[[str], None] = lambda eio_sid: None,
    ) -> None:
        self.ctx = ctx
        self.rate = rate
        self.turns = turns  # shared with the HTTP middleware: one share per loop turn
        self.on_limit = on_limit  # told the engine.io sid of a socket a limit disconnects
        self._refused: dict[str, int] = {}

    def forget(self, sid: str) -> None:
        """The socket is gone."""
        self.rate.forget(sid)
        self._refused.pop(sid, None)

    def wrap(self, event: str, handler: Handler) -> Callable[..., Awaitable[None]]:
        async def run(sid: str, payload: Any = None, *_: Any) -> None:
            if not self.rate.allow(sid):
                await self._over_rate(sid, event)
                return
            self._refused.pop(sid, None)
            eio_sid = self.ctx.eio_sid(sid)
            if eio_sid is not None and self.ctx.fast.behind(eio_sid):
                metrics.SIO_LIMIT_DISCONNECTS.labels("output").inc()
                log.info("disconnecting a client that does not read its answers")
                self.on_limit(eio_sid)
                await self.ctx.fast.drop(eio_sid)
                return
            try:
                await self.turns.take()  # a burst of events from many sockets is spread out
                await handler(sid, payload)
            except TurnsExhausted as exc:  # counted by LoopTurns itself
                await self.ctx.error(sid, event, exc.message)
            except RequestError as exc:
                await self.ctx.error(sid, event, str(exc))
            except ServerBusy as exc:
                metrics.SIO_BUSY.inc()
                await self.ctx.error(sid, event, str(exc))
            except StoreError as exc:
                log.warning("%s: store unavailable: %s", event, exc)
                await self.ctx.error(sid, event, "data temporarily unavailable")
            except Exception as exc:  # any input gets an answer, not a traceback
                log.warning("%s: unexpected %s: %s", event, type(exc).__name__, str(exc)[:200])
                await self.ctx.error(sid, event, "the request could not be handled")

        return run

    async def _over_rate(self, sid: str, event: str) -> None:
        metrics.SIO_RATE_LIMITED.inc()
        refused = self._refused.get(sid, 0) + 1
        self._refused[sid] = refused
        if refused > DISCONNECT_AFTER_REFUSALS * self.rate.rate:
            self._refused.pop(sid, None)
            metrics.SIO_LIMIT_DISCONNECTS.labels("rate").inc()
            log.info("disconnecting a client far over the request rate")
            eio_sid = self.ctx.eio_sid(sid)
            if eio_sid is not None:
                self.on_limit(eio_sid)
                await self.ctx.fast.drop(eio_sid)
            return
        await self.ctx.error(
            sid, event, f"rate limit: at most {int(self.rate.rate)} requests per second"
        )
