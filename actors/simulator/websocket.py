"""The WebSocket endpoints `/ws[/<streams>]` and `/stream?streams=a/b/c`: handshake, control
requests, the 5 messages/s limit, server pings and the pong deadline."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import urllib.parse
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from aiohttp import WSMsgType, web

from actors.simulator import control
from actors.simulator.control import ControlError, Request
from actors.simulator.hub import Connection, Hub
from actors.simulator.streams import MAX_STREAMS, StreamSpec, parse_stream

MAX_CLIENT_MESSAGES_PER_SECOND = 5
CLOSE_POLICY = 1008


@dataclass
class WsSettings:
    """Connection lifecycle knobs (Binance: ping every 20 s, pong within 60 s)."""

    ping_interval: float = 20.0
    pong_timeout: float = 60.0
    stall_pings: bool = False


def _streams_query(request: web.Request) -> str:
    """The `streams` query value, percent-decoded but with `+` kept (as in `@+08:00`)."""
    for part in request.rel_url.raw_query_string.split("&"):
        key, _, value = part.partition("=")
        if key == "streams":
            return urllib.parse.unquote(value)
    return ""


class ConnectionAttempts:
    """New connection attempts per IP in a sliding window (Binance: 300 per 5 minutes [S2])."""

    def __init__(self, limit: int = 300, window: float = 300.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("connection_limit and connection_window must be positive")
        self.limit = limit
        self.window = window
        self.refused = 0
        self.total = 0  # every handshake attempt so far
        self._seen: dict[str, deque[float]] = {}

    def admit(self, ip: str, now: float) -> bool:
        """Count an attempt from `ip`; False when it is over the limit (refused, still counted)."""
        self.total += 1
        seen = self._seen.setdefault(ip, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        seen.append(now)
        if len(seen) > self.limit:
            if len(seen) > 2 * self.limit:  # bounded: refusals past twice the limit are not kept
                seen.popleft()
            self.refused += 1
            return False
        return True

    def retry_after(self, ip: str, now: float) -> float:
        """Seconds until `ip` may try again."""
        seen = self._seen.get(ip)
        if not seen or len(seen) <= self.limit:
            return 0.0
        return max(0.0, seen[len(seen) - self.limit - 1] + self.window - now)


class _HandshakeError(Exception):
    pass


def _error_response(status: int, code: int, msg: str) -> web.Response:
    return web.Response(
        status=status,
        body=msgspec.json.encode({"code": code, "msg": msg}),
        content_type="application/json",
    )


class WsEndpoint:
    """aiohttp handlers for the stream endpoints, feeding connections into the Hub."""

    def __init__(
        self,
        hub: Hub,
        settings: WsSettings,
        refusing: Callable[[], bool],
        attempts: ConnectionAttempts | None = None,
    ) -> None:
        self.hub = hub
        self.settings = settings
        self.refusing = refusing  # true during an injected outage
        self.attempts = attempts or ConnectionAttempts()
        self.tasks: set[asyncio.Task[None]] = set()

    def routes(self) -> list[web.RouteDef]:
        """The WebSocket routes."""
        return [
            web.get("/ws", self.raw),
            web.get("/ws/{streams:.*}", self.raw),
            web.get("/stream", self.combined),
        ]

    async def raw(self, request: web.Request) -> web.StreamResponse:
        """`/ws` and `/ws/<streams>`: bare payloads."""
        return await self._serve(request, request.match_info.get("streams", ""), combined=False)

    async def combined(self, request: web.Request) -> web.StreamResponse:
        """`/stream?streams=a/b/c`: payloads in the combined wrapper."""
        return await self._serve(request, _streams_query(request), combined=True)

    @staticmethod
    def _specs(text: str) -> list[StreamSpec]:
        names = [name for name in text.split("/") if name]
        if len(names) > MAX_STREAMS:
            raise _HandshakeError(f"Invalid request: too many streams (max {MAX_STREAMS})")
        specs = []
        for name in dict.fromkeys(names):
            spec = parse_stream(name)
            if spec is None:
                raise _HandshakeError("Invalid request: invalid stream")
            specs.append(spec)
        return specs

    async def _serve(
        self, request: web.Request, streams: str, *, combined: bool
    ) -> web.StreamResponse:
        now, ip = time.monotonic(), request.remote or ""
        if not self.attempts.admit(ip, now):
            response = _error_response(
                429,
                -1003,
                f"Too many new connections; at most {self.attempts.limit} every "
                f"{self.attempts.window:g} s per IP.",
            )
            response.headers["Retry-After"] = str(
                max(1, math.ceil(self.attempts.retry_after(ip, now)))
            )
            return response
        if self.refusing():
            return _error_response(503, -1000, "Service unavailable (simulated outage).")
        unit = request.query.get("timeUnit", "MILLISECOND").upper()
        try:
            if unit not in ("MILLISECOND", "MICROSECOND"):
                raise _HandshakeError("Invalid request: invalid timeUnit")
            specs = self._specs(streams)
        except _HandshakeError as exc:
            return _error_response(400, 2, str(exc))
        ws = web.WebSocketResponse(autoping=False, compress=False, max_msg_size=64 * 1024)
        await ws.prepare(request)
        transport = request.transport
        assert transport is not None
        conn = Connection(ws, transport, combined, unit == "MICROSECOND", self.hub.max_unsent)
        self.hub.add(conn)
        for spec in specs:
            self.hub.subscribe(conn, spec)
        pinger = asyncio.create_task(self._ping_loop(conn))
        try:
            await self._receive_loop(conn)
        finally:
            pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinger
            self.hub.remove(conn)
            conn.closing = True
        return ws

    async def _receive_loop(self, conn: Connection) -> None:
        ws = conn.ws
        async for msg in ws:
            if self._over_limit(conn):
                await self._close(conn, CLOSE_POLICY, "Too many requests")
                return
            if msg.type is WSMsgType.TEXT:
                self._on_text(conn, msg.data)
            elif msg.type is WSMsgType.PING:
                conn.flush()
                await ws.pong(msg.data)
            elif msg.type is WSMsgType.PONG:
                self._on_pong(conn, msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.ERROR):
                return
            # binary frames are counted against the limit and otherwise ignored

    @staticmethod
    def _over_limit(conn: Connection) -> bool:
        """True for a 6th message less than 1 s after the 5th-previous one."""
        now = time.monotonic()
        recent = conn.inbound
        over = len(recent) == MAX_CLIENT_MESSAGES_PER_SECOND and now - recent[0] < 1.0
        recent.append(now)
        return over

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        conn.flush()
        conn.closing = True
        await conn.ws.close(code=code, message=reason.encode())

    # control requests -------------------------------------------------
    def _on_text(self, conn: Connection, text: str) -> None:
        if len(text.encode()) > control.MAX_REQUEST_BYTES:
            return
        try:
            answer = self._answer(conn, control.parse_request(text))
        except ControlError as exc:
            answer = exc.body()
        conn.write_now([answer])

    def _answer(self, conn: Connection, request: Request) -> str:
        method = request.method
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            specs = []
            for name in control.stream_params(request):
                spec = parse_stream(name)
                if spec is None:
                    raise ControlError(2, "Invalid request: invalid stream", request.id)
                specs.append(spec)
            if method == "UNSUBSCRIBE":
                for spec in specs:
                    self.hub.unsubscribe(conn, spec)
                return control.reply(request.id)
            added = {spec.name for spec in specs} - conn.streams.keys()
            if len(conn.streams) + len(added) > MAX_STREAMS:
                raise ControlError(
                    2, f"Invalid request: too many streams (max {MAX_STREAMS})", request.id
                )
            for spec in specs:
                self.hub.subscribe(conn, spec)
            return control.reply(request.id)
        if method == "LIST_SUBSCRIPTIONS":
            if request.params:
                raise ControlError(2, "Invalid request: too many parameters", request.id)
            return control.reply(request.id, list(conn.streams))
        if method == "SET_PROPERTY":
            control.property_name(request, 2)
            conn.combined = control.property_value(request)
            return control.reply(request.id)
        control.property_name(request, 1)
        return control.reply(request.id, conn.combined)

    # pings -----------------------------------------------------------
    @staticmethod
    def _on_pong(conn: Connection, payload: bytes) -> None:
        sent = conn.pings.get(bytes(payload))
        if sent is None:
            return  # unsolicited pongs do not keep the link alive
        for key, when in list(conn.pings.items()):
            if when <= sent:
                del conn.pings[key]

    async def _ping_loop(self, conn: Connection) -> None:
        settings = self.settings
        next_ping = time.monotonic() + settings.ping_interval
        while not conn.closing and not conn.ws.closed:
            now = time.monotonic()
            oldest = min(conn.pings.values(), default=None)
            if oldest is not None and now - oldest >= settings.pong_timeout:
                await self._close(conn, CLOSE_POLICY, "Pong timeout")
                return
            if now >= next_ping:
                next_ping = now + settings.ping_interval
                if not settings.stall_pings:
                    payload = str(int(time.time() * 1000)).encode()
                    conn.pings[payload] = now
                    conn.flush()
                    await conn.ws.ping(payload)
                    continue
            wake = next_ping if oldest is None else min(next_ping, oldest + settings.pong_timeout)
            await asyncio.sleep(max(0.0, wake - time.monotonic()) + 0.001)
