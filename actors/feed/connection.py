"""One combined-stream WebSocket connection and its streams (docs/exchange.md §1.2, §3, §4).

The connection opens `/stream?streams=...` with as many names as fit a safe URL, SUBSCRIBEs
the rest (and any added later) in batches paced under the 5 control messages/s limit, hands
every text frame to the shared `TickerDecoder`, and reconnects with capped, jittered backoff.
`rotate()` is make-before-break: a successor is opened and subscribed, then the old socket is
closed by us (serverShutdown, the 24 h cut). aiohttp answers the server's pings (autoping).

Every socket also carries the busy canary stream (`CANARY_STREAM`), so a connection whose
symbols are all quiet still shows frames every second: silence means a dead or zombie socket,
never quiet pairs. The connection remembers the exchange second of its last frame; when a new
socket delivers its first frame, the seconds in between (down, stalled or being replaced) are
handed to `on_outage` with the symbols it carries: the only holes the backfill fills.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from typing import Literal

import aiohttp

from actors import metrics
from actors.core.backoff import Backoff
from actors.feed.decoder import Outcome, TickerDecoder
from actors.feed.protocol import CANARY_STREAM, encode_control
from actors.feed.shards import url_streams
from actors.logs import one_line

CONNECT_FAULTS = (aiohttp.ClientError, aiohttp.WSServerHandshakeError, OSError, TimeoutError)
STABLE_SECONDS = 10.0  # a socket that served this long is reopened without backoff
SUBSCRIBE_BATCH = 150  # names per SUBSCRIBE: keeps each request well under ~4 KB (docs/exchange.md §3)
_CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.ERROR,
)


BytesSocket = aiohttp.ClientWebSocketResponse[Literal[False]]  # text frames arrive as bytes


class FeedUnavailable(Exception):
    """Too many failed connection attempts in a row: the reader fails to its supervisor."""


class _Session:
    """One open socket: its control queue/pacer task and the stream names it was asked for."""

    def __init__(self, ws: BytesSocket, requested: set[str]) -> None:
        self.ws = ws
        self.requested = requested
        self.controls: asyncio.Queue[str] = asyncio.Queue(maxsize=10_000)
        self.pacer: asyncio.Task[None] | None = None
        self.opened_at = time.monotonic()
        self.frames = 0
        self.last_second = 0  # exchange second of its last data or canary frame
        self.killed = False
        self.handed_over = False  # closed by us once its successor was subscribed

    async def close(self) -> None:
        if self.pacer is not None:
            self.pacer.cancel()
            await asyncio.gather(self.pacer, return_exceptions=True)
        with contextlib.suppress(*CONNECT_FAULTS):
            await self.ws.close()


class FeedConnection:
    """A set of streams (name → symbol) served over one socket at a time."""

    def __init__(
        self,
        conn_id: str,
        ws_url: str,
        decoder: TickerDecoder,
        *,
        shard: str,
        backoff: Backoff,
        max_failures: int,
        control_interval: float = 0.25,
        url_budget: int = 4000,
        subscribe_batch: int = SUBSCRIBE_BATCH,
        connect_timeout: float = 10.0,
        on_change: Callable[[], None] = lambda: None,
        on_points: Callable[[], None] = lambda: None,
        on_outage: Callable[[list[str], int, int], None] = lambda symbols, first, last: None,
        canary: str | None = CANARY_STREAM,
    ) -> None:
        self.conn_id = conn_id
        self.base_url = ws_url
        self.decoder = decoder
        self.shard = shard
        self.backoff = backoff
        self.max_failures = max_failures
        self.control_interval = control_interval
        self.url_budget = url_budget
        self.subscribe_batch = subscribe_batch
        self.connect_timeout = connect_timeout
        self.on_change = on_change
        self.on_points = on_points  # called for each decoded point (the reader publishes them)
        self.on_outage = on_outage
        self.canary = canary
        self.last_second = 0
        self.down_from: int | None = None  # the last frame's second: possibly half delivered
        self.down_starts: dict[str, int] = {}  # symbols whose first missed second differs
        self.rejected: set[str] = set()  # stream names the exchange refused
        self._served = False  # the last socket delivered frames for STABLE_SECONDS or more
        self._requests: dict[int, list[str]] = {}  # SUBSCRIBE id → names, until answered
        self.streams: dict[str, str] = {}
        self.retired: set[str] = set()
        self.failures = 0
        self.detail = ""
        self.current: _Session | None = None
        self.successor: asyncio.Task[_Session] | None = None
        self.session: aiohttp.ClientSession | None = None
        self.log = logging.LoggerAdapter(logging.getLogger(f"actors.{shard}"), {"actor": shard})
        self._request_id = 0
        self._closers: set[asyncio.Task[bool]] = set()
        self._seen_session: _Session | None = None
        self._seen_frames = 0
        self._seen_at = 0.0
        self._connected = metrics.FEED_CONNECTED.labels(shard, conn_id)

    # stream set ----------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.current is not None

    def add(self, streams: dict[str, str]) -> None:
        """Own these streams; SUBSCRIBE them live on the open socket(s)."""
        self.streams.update(streams)
        self.retired.difference_update(streams)
        for session in self._sessions():
            self._control(session, "SUBSCRIBE", [n for n in streams if n not in session.requested])

    def remove(self, names: Iterable[str]) -> None:
        """Stop owning these streams; UNSUBSCRIBE them live."""
        gone = [n for n in names if self.streams.pop(n, None) is not None]
        self.retired.update(gone)
        for session in self._sessions():
            self._control(session, "UNSUBSCRIBE", [n for n in gone if n in session.requested])

    def _sessions(self) -> list[_Session]:
        sessions = [self.current] if self.current is not None else []
        if self.successor is not None and self.successor.done() and not self.successor.cancelled():
            if self.successor.exception() is None:
                sessions.append(self.successor.result())
        return sessions

    def _control(self, session: _Session, method: str, names: list[str]) -> None:
        for start in range(0, len(names), self.subscribe_batch):
            batch = names[start : start + self.subscribe_batch]
            self._request_id += 1
            if method == "SUBSCRIBE":
                session.requested.update(batch)
                self._requests[self._request_id] = batch
            else:
                session.requested.difference_update(batch)
            try:
                session.controls.put_nowait(encode_control(method, self._request_id, batch))
            except asyncio.QueueFull:
                self.log.warning("%s: control queue full; closing to resubscribe", self.conn_id)
                self.kill("control_overflow")
                return

    async def _pace(self, session: _Session) -> None:
        """Send queued control messages no faster than one per `control_interval` (limit 5/s)."""
        while True:
            message = await session.controls.get()
            try:
                await session.ws.send_str(message)
            except CONNECT_FAULTS:
                return  # the socket is gone; the read loop reconnects and resubscribes everything
            finally:
                session.controls.task_done()
            await asyncio.sleep(self.control_interval)

    # lifecycle -------------------------------------------------------------
    def watchdog(self, now: float, silence_timeout: float, max_age: float) -> None:
        """Each tick: close a socket silent too long; rotate one older than `max_age`."""
        session = self.current
        if session is None or not self.streams:
            return
        if session is not self._seen_session or session.frames != self._seen_frames:
            self._seen_session, self._seen_frames, self._seen_at = session, session.frames, now
        elif now - self._seen_at > silence_timeout:
            self.kill("silent")
        if now - session.opened_at > max_age:
            self.rotate("max_age")

    def kill(self, reason: str) -> None:
        """Close the current socket (e.g. silent for too long); `run` reconnects and backfills."""
        if self.current is None or self.current.killed:
            return
        self.current.killed = True
        metrics.FEED_RECONNECTS.labels(self.shard, reason).inc()
        self.log.warning("%s: closing connection (%s)", self.conn_id, reason)
        closer = asyncio.get_running_loop().create_task(self.current.ws.close())
        self._closers.add(closer)
        closer.add_done_callback(self._closer_done)

    def _closer_done(self, task: asyncio.Task[bool]) -> None:
        self._closers.discard(task)
        if not task.cancelled():
            task.exception()  # a failed close is a closed socket: nothing to report

    def rotate(self, reason: str) -> None:
        """Make-before-break: open a successor; once it is subscribed, close the current socket."""
        if self.current is None or self.successor is not None or self.session is None:
            return
        metrics.FEED_RECONNECTS.labels(self.shard, reason).inc()
        self.log.info("%s: rotating connection (%s)", self.conn_id, reason)
        self.successor = asyncio.get_running_loop().create_task(
            self._hand_over(self.session, self.current)
        )

    async def _hand_over(self, http: aiohttp.ClientSession, old: _Session) -> _Session:
        new = await self._open(http)
        with contextlib.suppress(TimeoutError):  # every SUBSCRIBE sent, then break the old one
            await asyncio.wait_for(new.controls.join(), self.connect_timeout)
            old.handed_over = True
        with contextlib.suppress(*CONNECT_FAULTS):
            await old.ws.close()
        return new

    async def _open(self, http: aiohttp.ClientSession) -> _Session:
        self._requests.clear()  # replies of a closed socket never come
        names = [n for n in self.streams if n not in self.rejected]
        if self.canary is not None:
            names.insert(0, self.canary)
        in_url = url_streams(names, self.url_budget)
        url = f"{self.base_url}/stream"
        if in_url:
            url += "?streams=" + "/".join(names[:in_url])
        async with asyncio.timeout(self.connect_timeout):
            ws = await http.ws_connect(
                url,
                autoping=True,
                decode_text=False,
                max_msg_size=16 * 1024 * 1024,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=2.0),
            )
        session = _Session(ws, set(names[:in_url]))
        session.pacer = asyncio.get_running_loop().create_task(self._pace(session))
        self._control(session, "SUBSCRIBE", names[in_url:])
        return session

    async def close(self) -> None:
        """Close every socket; the connection can `run` again afterwards."""
        if self.successor is not None:
            task, self.successor = self.successor, None
            task.cancel()
            result = (await asyncio.gather(task, return_exceptions=True))[0]
            if isinstance(result, _Session):
                await result.close()
        if self.current is not None:
            current, self.current = self.current, None
            await current.close()
        self._connected.set(0)

    async def run(self, http: aiohttp.ClientSession) -> None:
        """Connect, read, reconnect; FeedUnavailable after `max_failures` failures in a row."""
        self.session = http
        while True:
            try:
                self.current = await self._open(http)
            except CONNECT_FAULTS as exc:
                self._failed(f"connect failed: {_one_line(exc)}", "connect_failed")
                await asyncio.sleep(self.backoff.next())
                continue
            self._connected.set(1)
            self.on_change()
            reason = await self._read()
            self._connected.set(0)
            self.on_change()
            self._failed(f"disconnected ({reason}: {self.detail})", reason)
            # a socket that had served for a while is reopened at once (a zombie replaced,
            # a dropped connection); a flapping one backs off
            await asyncio.sleep(0.0 if self._served else self.backoff.next())

    def _failed(self, what: str, reason: str) -> None:
        self.failures += 1
        if self.failures >= self.max_failures:
            raise FeedUnavailable(
                f"{self.conn_id}: {self.failures} connection attempts failed in a row ({what})"
            )
        metrics.FEED_RECONNECTS.labels(self.shard, reason).inc()
        self.log.warning(
            "%s: %s; reconnecting (attempt %d of %d)",
            self.conn_id,
            what,
            self.failures + 1,
            self.max_failures,
        )

    async def _read(self) -> str:
        """Read until the socket is gone (following rotations); returns why it ended."""
        feed = self.decoder.feed
        on_points = self.on_points
        point = Outcome.POINT
        text = aiohttp.WSMsgType.TEXT
        live_frame = Outcome.HEARTBEAT  # outcomes up to this one prove the socket alive
        streams, retired = self.streams, self.retired
        reason = "closed"
        while self.current is not None:
            session = self.current
            ws = session.ws
            fresh = True
            try:
                while True:
                    msg = await ws.receive()
                    if msg.type is text:
                        outcome = feed(msg.data, streams, retired)
                        if outcome is point:
                            on_points()
                        if outcome <= live_frame:
                            session.frames += 1
                            session.last_second = self.decoder.frame_second
                            if fresh:
                                fresh = False
                                self.failures = 0
                                self.backoff.reset()
                                self._resumed(session.last_second)
                        elif outcome is Outcome.SHUTDOWN:
                            self.rotate("server_shutdown")
                        elif outcome is Outcome.CONTROL:
                            self._reply()
                    elif msg.type in _CLOSED:
                        reason = "closed" if msg.type is not aiohttp.WSMsgType.ERROR else "error"
                        self.detail = _close_detail(ws, msg)
                        break
                    else:
                        self.decoder.count_malformed("binary")
            except CONNECT_FAULTS as exc:
                reason, self.detail = "error", _one_line(exc)
            self._served = (
                session.frames > 0 and time.monotonic() - session.opened_at >= STABLE_SECONDS
            )
            if not session.handed_over:
                self._went_down(session)
            successor = await self._successor()
            await session.close()
            self.current = successor
            if successor is not None:
                self.on_change()
        return reason

    async def _successor(self) -> _Session | None:
        task, self.successor = self.successor, None
        if task is None:
            return None
        try:
            return await task
        except CONNECT_FAULTS as exc:
            self.log.warning("%s: replacement connection failed: %s", self.conn_id, _one_line(exc))
            return None

    def _went_down(self, session: _Session) -> None:
        """A socket ended (or is being replaced): from its last frame's second on (that second
        may have been cut short), seconds may be missed until the next socket's first frame."""
        self.last_second = max(self.last_second, session.last_second)
        if self.down_from is None and self.last_second > 0:
            self.down_from = last = self.last_second
            seen = self.decoder.last_second  # a point in that very second: not asked again
            self.down_starts = {
                s: last + 1 for s in self.streams.values() if seen.get(s, -1) >= last
            }

    def _resumed(self, second: int) -> None:
        """A socket's first frame: the seconds since the last one, and this one's (it may have
        begun before the subscription took effect), are this connection's outage; a symbol
        that had its point in the first of them is not asked for that second again."""
        down_from, self.down_from = self.down_from, None
        starts, self.down_starts = self.down_starts, {}
        if down_from is None or second <= down_from or not self.streams:
            return  # the same second: an overlapping successor (make-before-break)
        groups: dict[int, list[str]] = {}
        for symbol in self.streams.values():
            groups.setdefault(starts.get(symbol, down_from), []).append(symbol)
        for first, symbols in groups.items():
            if first <= second:
                self.on_outage(symbols, first, second)

    def _reply(self) -> None:
        reply = self.decoder.last_reply
        if reply is None:
            return
        names = self._requests.pop(reply.id, None) if isinstance(reply.id, int) else None
        if reply.error is None:
            return
        if names is None or len(names) == 0:
            self.log.warning(
                "%s: control request %s rejected: %s", self.conn_id, reply.id, reply.error.msg
            )
            return
        session = self.current
        if len(names) == 1:  # the culprit: never asked for again on this connection
            self.rejected.add(names[0])
            if session is not None:
                session.requested.discard(names[0])
            self.log.warning(
                "%s: the exchange rejected stream %s (%s); the others keep flowing",
                self.conn_id,
                names[0],
                reply.error.msg,
            )
            return
        if session is not None:  # a batch is refused whole: ask for each name on its own
            session.requested.difference_update(names)
            for name in names:
                self._control(session, "SUBSCRIBE", [name])


def _close_detail(ws: BytesSocket, msg: object) -> str:
    data = getattr(msg, "data", None)
    if isinstance(data, BaseException):
        return _one_line(data)
    return f"code {ws.close_code}" if ws.close_code is not None else "no close frame"


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):  # its str() carries the whole stream URL
        return f"{type(exc).__name__}: HTTP {exc.status} {exc.message}"
    return one_line(exc)
