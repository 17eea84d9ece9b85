"""The encode-once websocket fast path beside python-socketio.

python-socketio keeps the protocol: handshake, events, rooms, the polling transport and its
upgrade. What it does per client on every emit (a queue put, a writer task wake-up, a packet
encode, a frame build, optional deflate) is what limits a broadcast, so the hub sends its
events here instead: an `EncodedEvent` carries one prebuilt WebSocket frame that is written
as is to the transport of every client on the websocket transport; a client still polling
(or mid-upgrade, or with packets still queued by python-socketio) gets the same packet text
through Engine.IO's normal path, so per client order is kept.

To learn each client's transport, `install` swaps Engine.IO's aiohttp websocket wrapper (for
this server only) for `_DirectWebSocket`, which records the connection while it is open and
turns off per-message deflate (compressing the same bytes again for each client is the
most expensive thing a broadcast could do).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from typing import Any

import socketio
from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

from actors import metrics
from actors.front.sio.codec import EncodedEvent

log = logging.getLogger("actors.front.sio.fastpath")

# A client with this many bytes unsent (its socket buffer on the websocket transport, the
# packets waiting for its next poll on polling) is not keeping up: further broadcasts to it are
# dropped (counted) rather than buffered without bound (docs/security.md §4).
DEFAULT_MAX_BUFFER = 256 * 1024
# Answers to its own requests are never dropped; a client with this many times the bound
# unread when it sends a request is disconnected instead (it asks and never reads).
REPLY_ALLOWANCE = 4
_PACKET_OVERHEAD = 16


def _packet_size(packet: Any) -> int:
    data = getattr(packet, "data", None)
    return _PACKET_OVERHEAD + (len(data) if isinstance(data, str | bytes) else 0)


class _SmallDeque(list[Any]):
    """The part of deque that asyncio.Queue and Event use, on a list: an empty deque costs
    about 600 bytes, an empty list 56, and each connected client's queue holds four."""

    def popleft(self) -> Any:
        return self.pop(0)


class CompactQueue(asyncio.Queue[Any]):
    """asyncio.Queue for Engine.IO's per-client packet queue, with list-backed internals
    (`_init`/`_get`/`_put` are the subclassing hooks LifoQueue and PriorityQueue use), that
    counts the bytes of the packets it holds (`nbytes`)."""

    def __init__(self, maxsize: int = 0) -> None:
        super().__init__(maxsize)
        self._getters = _SmallDeque()
        self._putters = _SmallDeque()
        self._finished._waiters = _SmallDeque()  # type: ignore[attr-defined]

    def _init(self, maxsize: int) -> None:
        self._queue = _SmallDeque()
        self.nbytes = 0

    def _get(self) -> Any:
        item = self._queue.popleft()
        self.nbytes -= _packet_size(item)
        return item

    def _put(self, item: Any) -> None:
        self._queue.append(item)
        self.nbytes += _packet_size(item)


class _Direct:
    """An open websocket-transport client: its Engine.IO socket and its TCP transport."""

    __slots__ = ("sock", "transport")

    def __init__(self, sock: Any, transport: asyncio.Transport) -> None:
        self.sock = sock
        self.transport = transport


class _DirectWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """Engine.IO's aiohttp websocket wrapper, registering the connection with a FastPath."""

    def __init__(self, handler: Any, server: Any, *, fast: FastPath) -> None:
        super().__init__(handler, server)
        self.fast = fast

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request: web.Request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(
            max_msg_size=self.server.max_http_buffer_size, compress=False
        )
        await self._sock.prepare(request)
        self.environ = environ
        sock = self.handler.__self__  # the engineio AsyncSocket this handler belongs to
        transport = request.transport
        if transport is not None:
            self.fast.direct[sock.sid] = _Direct(sock, transport)
        try:
            await self.handler(self)
        finally:
            self.fast.direct.pop(sock.sid, None)
        return self._sock


class FastPath:
    """Sends `EncodedEvent`s to Socket.IO clients: one write per websocket client."""

    def __init__(
        self,
        sio: socketio.AsyncServer,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> None:
        self.sio = sio
        self.max_buffer = max_buffer
        self.max_reply_buffer = max_buffer * REPLY_ALLOWANCE
        self.direct: dict[str, _Direct] = {}  # engine.io sid -> open websocket connection
        # while corked, frames for one transport are gathered and written with one syscall
        self._corked: dict[asyncio.Transport, list[bytes]] | None = None
        self._dropped = metrics.SIO_DROPPED

    def install(self) -> None:
        """Take over the websocket wrapper and the per-client queue of this server's Engine.IO
        (the instance's, not the module's or the class's)."""
        eio = self.sio.eio
        eio._async = {**eio._async, "websocket": functools.partial(_DirectWebSocket, fast=self)}
        eio.create_queue = CompactQueue

    def _ready(self, eio_sid: str) -> _Direct | None:
        conn = self.direct.get(eio_sid)
        if conn is None:
            return None
        sock = conn.sock
        if (
            sock.upgrading
            or not sock.upgraded
            or sock.closing
            or sock.closed
            or not sock.queue.empty()
        ):
            return None
        return conn

    async def send(self, eio_sid: str, message: EncodedEvent, *, reply: bool = False) -> bool:
        """Deliver to one client; False when it is gone or (unless this is a `reply`, the
        answer to the client's own request) too far behind: then it is dropped and counted.
        Replies are bounded before the request runs instead (`behind`)."""
        conn = self._ready(eio_sid)
        if conn is None:
            sock = self.sio.eio.sockets.get(eio_sid)
            if sock is None:
                return False
            if not reply and _queued_bytes(sock) > self.max_buffer:
                self._dropped.inc()  # a polling client that stopped polling
                return False
            try:
                await self.sio.eio.send(eio_sid, message.packet)
            except (KeyError, OSError):
                return False
            return eio_sid in self.sio.eio.sockets
        transport = conn.transport
        if transport.is_closing():
            return False
        if not reply and transport.get_write_buffer_size() > self.max_buffer:
            self._dropped.inc()
            return False
        transport.write(message.frame)
        return True

    def unread(self, eio_sid: str) -> int:
        """Bytes sent to the client and not yet taken by it (socket buffer, polling queue)."""
        conn = self.direct.get(eio_sid)
        queued = 0 if conn is None else conn.transport.get_write_buffer_size()
        sock = self.sio.eio.sockets.get(eio_sid)
        if sock is not None:
            queued += _queued_bytes(sock)
        return queued

    def behind(self, eio_sid: str) -> bool:
        """Whether the client has more than REPLY_ALLOWANCE times the bound unread: it asks
        and does not read its answers, so it gets no more (the caller disconnects it)."""
        return self.unread(eio_sid) > self.max_reply_buffer

    async def send_many(self, eio_sids: Iterable[str], message: EncodedEvent) -> int:
        """Deliver one encoded message to many clients; returns how many got it."""
        frame = message.frame
        limit = self.max_buffer
        direct = self.direct
        slow: list[str] = []
        corked = self._corked
        sent = dropped = 0
        for eio_sid in eio_sids:
            conn = direct.get(eio_sid)
            if conn is not None:
                sock = conn.sock
                transport = conn.transport
                if (
                    sock.upgraded
                    and not sock.upgrading
                    and not sock.closing
                    and not sock.closed
                    and sock.queue.empty()
                    and not transport.is_closing()
                ):
                    if transport.get_write_buffer_size() > limit:
                        dropped += 1
                    elif corked is not None:
                        pending = corked.get(transport)
                        if pending is None:
                            corked[transport] = [frame]
                        else:
                            pending.append(frame)
                        sent += 1
                    else:
                        transport.write(frame)
                        sent += 1
                    continue
            slow.append(eio_sid)
        for eio_sid in slow:
            if await self.send(eio_sid, message):
                sent += 1
        if dropped:
            self._dropped.inc(dropped)
        return sent

    async def drop(self, eio_sid: str) -> None:
        """Close a client at once, discarding what it has not read (python-engineio's own
        disconnect waits for the queue to drain, which a client that never polls never does);
        the usual disconnect handlers run."""
        sock = self.sio.eio.sockets.get(eio_sid)
        if sock is None:
            return
        queue = sock.queue
        while not queue.empty():
            queue.get_nowait()
            queue.task_done()
        conn = self.direct.get(eio_sid)
        await sock.close(wait=False, abort=True)
        self.sio.eio.sockets.pop(eio_sid, None)
        if conn is not None:
            conn.transport.abort()
        elif not sock.upgraded:
            queue.put_nowait(None)  # answers a GET that may be waiting

    def cork(self) -> None:
        """Gather websocket frames per client until `uncork` (one write per client per batch)."""
        if self._corked is None:
            self._corked = {}

    def uncork(self) -> None:
        """Write what was gathered since `cork`, one write per client."""
        corked, self._corked = self._corked, None
        if not corked:
            return
        for transport, frames in corked.items():
            if not transport.is_closing():
                transport.write(frames[0] if len(frames) == 1 else b"".join(frames))

    def release_poll(self, eio_sid: str) -> None:
        """Answer a polling client's pending GET when its socket closes (python-engineio would
        otherwise hold it until the ping timeout, and a closing client waits for it)."""
        sock = self.sio.eio.sockets.get(eio_sid)
        if sock is not None and not sock.upgraded:
            sock.queue.put_nowait(None)

    def backlog(self) -> int:
        """Bytes written to websocket clients and not yet taken by the kernel."""
        return sum(conn.transport.get_write_buffer_size() for conn in self.direct.values())

    def queued_bytes(self) -> int:
        """Bytes waiting for clients: websocket buffers plus every client's packet queue."""
        queued = sum(_queued_bytes(sock) for sock in list(self.sio.eio.sockets.values()))
        return self.backlog() + queued


def _queued_bytes(sock: Any) -> int:
    nbytes = getattr(sock.queue, "nbytes", None)
    return int(nbytes) if nbytes is not None else _PACKET_OVERHEAD * sock.queue.qsize()
