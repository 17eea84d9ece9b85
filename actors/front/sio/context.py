"""What the hub's dialect handlers share: sending to one socket, error events, known symbols."""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Sequence
from typing import Any

import socketio

from actors import metrics
from actors.cache.reader import PriceReader
from actors.front.sio.codec import EncodedEvent
from actors.front.sio.fastpath import FastPath
from actors.front.sio.limits import ReadGate
from actors.front.sio.payloads import ErrorPayload
from actors.front.sio.requests import RequestError
from actors.store.base import Store
from actors.store.intervals import IntervalScheme

NAMESPACE = "/"
# prefix of the documented-dialect rooms of sockets that take offsets (connection recovery)
OFFSET_ROOM = "~"


class SymbolDirectory:
    """The active symbols, read from the store at most once per `ttl` seconds."""

    def __init__(self, store: Store, ttl: float = 5.0) -> None:
        self.store = store
        self.ttl = ttl
        self._names: tuple[str, ...] = ()
        self._set: frozenset[str] = frozenset()
        self._expires = 0.0

    async def names(self) -> tuple[str, ...]:
        """Sorted active symbol names."""
        if time.monotonic() >= self._expires:
            records = await self.store.list_symbols(active_only=True)
            self._names = tuple(record.symbol for record in records)
            self._set = frozenset(self._names)
            self._expires = time.monotonic() + self.ttl
        return self._names

    async def require(self, symbols: Sequence[str]) -> None:
        """Raise RequestError naming the unknown symbols, if any."""
        await self.names()
        unknown = [symbol for symbol in symbols if symbol not in self._set]
        if unknown:
            shown = ", ".join(unknown[:5]) + (" ..." if len(unknown) > 5 else "")
            raise RequestError(f"unknown symbol(s): {shown}")


class HubContext:
    """Sending helpers over python-socketio and the fast path, plus the read side."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        fast: FastPath,
        reader: PriceReader,
        symbols: SymbolDirectory,
        scheme: IntervalScheme,
        *,
        gate: ReadGate | None = None,
        connected: Callable[[str], bool] = lambda sid: True,
        offsets: Container[str] = frozenset(),
    ) -> None:
        self.sio = sio
        self.fast = fast
        self.reader = reader
        self.symbols = symbols
        self.scheme = scheme
        self.gate = gate or ReadGate(4)  # expensive reads (histories, initial_data)
        self.connected = connected  # re-checked after every await before state is kept
        self.offsets = offsets  # sids of the sockets that take offsets (connection recovery)

    def room_of(self, sid: str, symbol: str) -> str:
        """The documented-dialect room of `symbol` for this socket: sockets that take offsets
        share a room of their own, whose price_update is encoded with the offset."""
        return OFFSET_ROOM + symbol if sid in self.offsets else symbol

    def eio_sid(self, sid: str) -> str | None:
        eio_sid: str | None = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        return eio_sid

    async def send(self, sid: str, event: str, data: Any) -> None:
        """One event to one socket, through the same ordered path as the broadcasts."""
        await self.send_encoded(sid, EncodedEvent(event, data))

    async def send_encoded(self, sid: str, message: EncodedEvent) -> None:
        eio_sid = self.eio_sid(sid)
        if eio_sid is not None and await self.fast.send(eio_sid, message, reply=True):
            metrics.SIO_EMITS.labels(message.event).inc()

    async def error(self, sid: str, event: str, message: str) -> None:
        """The `error` event `{event, message}`; the request changed nothing."""
        metrics.SIO_BAD_REQUESTS.labels(event).inc()
        await self.send(sid, "error", ErrorPayload(event, message))

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)
