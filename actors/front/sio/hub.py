"""BroadcastHub: the Socket.IO side of the front (docs/architecture.md §2.5, docs/socketio.md).

python-socketio's AsyncServer on the front's aiohttp app (path /socket.io) speaks the protocol;
the hub tails the bus and broadcasts, every message encoded once (`codec`) and written by the
fast path (`fastpath`). Documented dialect: `price_update {symbol, price, timestamp}` to each
symbol's room at most once per `throttle` seconds per symbol. List dialect: one
`price_update {updates, timestamp}` per socket every `list_period` seconds, encoded once per
distinct subscription set; `interval_update` when a symbol's 4-hour interval closes.
Sockets that opted in to connection state recovery (`recovery`) get their price_updates with
the bus position as offset, and their missed ones after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec
from aiohttp import web

from actors import metrics
from actors.bus.base import Bus, Subscription, entry_key
from actors.cache.reader import PriceReader
from actors.config import Settings
from actors.core.service import Service
from actors.front.sio.codec import EncodedEvent
from actors.front.sio.context import NAMESPACE, OFFSET_ROOM, HubContext, SymbolDirectory
from actors.front.sio.dashboard import ListDialect
from actors.front.sio.documented import DocumentedDialect
from actors.front.sio.fastpath import FastPath
from actors.front.sio.guard import HandlerGuard
from actors.front.sio.limits import ConnectionLimiter, ReadGate, RequestRate, SocketLimits
from actors.front.sio.lists import ListSubscriptions
from actors.front.sio.payloads import list_price_item, price_item
from actors.front.sio.recovery import (
    WHOLE,
    ConnectionRecovery,
    Position,
    Pulse,
    RecoveringServer,
    format_position,
)
from actors.front.sio.sessions import MemorySessions, SessionStore
from actors.front.turns import LoopTurns
from actors.messages import PricePoint
from actors.store.base import Store, StoreError
from actors.store.intervals import IntervalScheme

Handler = Callable[[str, Any], Awaitable[None]]


def socket_limits(settings: Settings) -> SocketLimits:
    """The SIO_* settings as the hub's limits."""
    return SocketLimits(
        per_ip=settings.sio_max_connections_per_ip,
        total=settings.sio_max_connections,
        requests_per_second=settings.sio_requests_per_second,
        max_buffer_bytes=settings.sio_max_buffer_bytes,
        expensive_reads=settings.sio_expensive_reads,
        sweep_seconds=settings.sio_sweep_seconds,
    )


class BroadcastHub(Service):
    """Socket.IO server, client events of both dialects, and the price broadcasts."""

    def __init__(
        self,
        bus: Bus,
        reader: PriceReader,
        store: Store,
        scheme: IntervalScheme,
        settings: Settings,
        *,
        throttle: float = 1.0,
        list_period: float = 1.0,
        interval_close_delay: float | None = None,
        limits: SocketLimits | None = None,
        sessions: SessionStore | None = None,
        turns: LoopTurns | None = None,
        name: str = "hub",
    ) -> None:
        super().__init__(name)
        self.bus = bus
        self.throttle = throttle
        # A point is sent at once when its *exchange* time is a throttle past the last one sent
        # (50 ms of slack for the exchange's own timer): anchoring on arrival or send times
        # instead turns one early or late arrival into a hold that delays every later second.
        # Only a point within the same throttle window of exchange time is held, then sent
        # (latest wins) once the throttle has passed on the wall clock.
        self._gap_ms = int(throttle * 1000) - 50
        self._last_ts: dict[str, int] = {}
        self.list_period = list_period
        # the store holds an interval's last points only after the DbWriter's next flush
        self.interval_close_delay = (
            settings.db_flush_seconds + 1.0
            if interval_close_delay is None
            else interval_close_delay
        )
        origins = settings.allowed_origins
        self.sio = RecoveringServer(
            async_mode="aiohttp",
            cors_allowed_origins="*" if "*" in origins else list(origins) or None,
            cors_credentials=True,
            async_handlers=False,  # one socket's events are handled in the order sent
        )
        self.limits = limits or socket_limits(settings)
        self.fast = FastPath(self.sio, max_buffer=self.limits.max_buffer_bytes)
        self.fast.install()
        self.lists = ListSubscriptions()
        # the bus position of the last point the broadcast took (an offset for recovery)
        self.position: Position = (0, 0, WHOLE)
        self.advanced = Pulse()
        self.recovery = ConnectionRecovery(
            self.sio,
            self.fast,
            bus,
            sessions or MemorySessions(),
            self.lists,
            window=settings.sio_recovery_seconds,
            gap_ms=self._gap_ms,
            position=lambda: self.position,
            advanced=self.advanced,
            spawn=self.spawn,
            connected=self.is_connected,
        )
        self.sio.recovery = self.recovery
        self.lists.offsets = self.recovery.pids
        self.connections = ConnectionLimiter(self.limits.per_ip, self.limits.total)
        self.ctx = HubContext(
            self.sio,
            self.fast,
            reader,
            SymbolDirectory(store),
            scheme,
            gate=ReadGate(self.limits.expensive_reads),
            connected=self.is_connected,
            offsets=self.recovery.pids,
        )
        self.guard = HandlerGuard(
            self.ctx,
            RequestRate(self.limits.requests_per_second),
            turns or LoopTurns.from_settings(settings),
            on_limit=self.connections.penalize,
        )
        self.documented = DocumentedDialect(self.ctx)
        self.dashboard = ListDialect(self.ctx, self.lists)
        self.latest: dict[str, PricePoint] = {}
        self._last_sent: dict[str, float] = {}
        self._pending: dict[str, PricePoint] = {}
        self._next_due = float("inf")
        self._dirty: set[str] = set()
        self._list_due = 0.0
        self._interval_of: dict[str, int] = {}
        self._connected: dict[str, str | None] = {}  # sid -> engine.io sid
        self._price_emits = metrics.SIO_EMITS.labels("price_update")
        self._shut_down = False
        self._register_handlers()
        self._admit_connections()

    # wiring -------------------------------------------------------------
    def attach(self, app: web.Application) -> None:
        """Mount the Socket.IO server (path /socket.io) on the front's aiohttp app."""
        for method in ("GET", "POST", "OPTIONS"):
            app.router.add_route(method, "/socket.io/", self._handle_request)

    async def _handle_request(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET" and "sid" not in request.query:
            # A handshake past a connection limit is refused here, before python-engineio
            # builds its request environ and a session: a flood of refused handshakes from
            # one address is the cheapest answer the front can give (docs/security.md §4).
            refused = self.connections.refusal(request.remote or "unknown")
            if refused is not None:
                self._count_refusal()
                return web.Response(
                    status=401, body=msgspec.json.encode(refused), content_type="application/json"
                )
        try:
            response: web.StreamResponse = await self.sio.handle_request(request)
        except KeyError:
            # python-engineio raises KeyError for a request on a session that closed while the
            # request was on its way: the client's mistake, answered 400 and not a traceback
            return web.Response(status=400, text="Session is disconnected")
        return response

    def stats(self) -> dict[str, int]:
        """For /system/status: `{activeSubscriptions, connectedClients}`."""
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        in_rooms = sum(
            len(members)
            for room, members in rooms.items()
            if room is not None and room not in members
        )
        return {
            "activeSubscriptions": in_rooms + self.lists.subscription_count(),
            "connectedClients": len(self._connected),
        }

    def _register_handlers(self) -> None:
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        events: dict[str, Handler] = {
            "subscribe": self._subscribe,
            "unsubscribe": self._unsubscribe,
            "get_all_symbols": self.documented.get_all_symbols,
            "get_multiple_prices": self.documented.get_multiple_prices,
            "get_interval_data": self.documented.get_interval_data,
            "get_recent_intervals": self.documented.get_recent_intervals,
            "get_historical": self.dashboard.get_historical,
        }
        for event, handler in events.items():
            self.sio.on(event, self.guard.wrap(event, handler))

    def _admit_connections(self) -> None:
        """Count Engine.IO sessions per client address around python-socketio's own handlers:
        a handshake past a limit is refused (401 with the reason) before any state is kept."""
        eio = self.sio.eio
        on_connect = eio.handlers["connect"]
        on_disconnect = eio.handlers["disconnect"]
        connections = self.connections

        async def connect(eio_sid: str, environ: dict[str, Any]) -> Any:
            request = environ.get("aiohttp.request")
            ip = (request.remote if request is not None else None) or "unknown"
            refused = connections.admit(eio_sid, ip)
            if refused is not None:
                self._count_refusal()
                return refused
            try:
                result = await on_connect(eio_sid, environ)
            except BaseException:
                connections.release(eio_sid)
                raise
            if result is False:
                connections.release(eio_sid)
            return result

        async def disconnect(eio_sid: str, reason: Any = None) -> Any:
            connections.release(eio_sid)
            return await on_disconnect(eio_sid, reason)

        eio.on("connect", connect)
        eio.on("disconnect", disconnect)

    def _count_refusal(self) -> None:
        full = len(self.connections) >= self.connections.total
        metrics.SIO_REFUSED_CONNECTIONS.labels("total" if full else "per_ip").inc()

    def is_connected(self, sid: str) -> bool:
        """Whether the Socket.IO socket `sid` is still connected (re-checked after awaits)."""
        return sid in self._connected

    def sweep(self) -> int:
        """Drop the subscriptions (list groups, rooms) and limiter entries of sockets that are
        gone; returns how many subscriptions it found (each one a leak, so counted)."""
        live = self._connected
        found = 0
        for sid in [sid for sid in self.lists.by_sid if sid not in live]:
            self.lists.remove(sid)
            found += 1
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        for room, members in list(rooms.items()):
            if room is None:
                continue
            for sid in [sid for sid in members if sid != room and sid not in live]:
                self.sio.manager.basic_leave_room(sid, NAMESPACE, room)
                found += 1
        self.connections.reconcile(self.sio.eio.sockets)
        self.connections.handshakes.prune()
        for sid in [sid for sid in self.guard.rate.tracked() if sid not in live]:
            self.guard.forget(sid)
        self.ctx.gate.callers.prune()
        if found:
            metrics.SIO_SWEPT.inc(found)
            self.log.warning("swept %d subscriptions of disconnected sockets", found)
        metrics.SIO_QUEUED_BYTES.set(self.fast.queued_bytes())
        return found

    async def _sweep_loop(self) -> None:
        while not await self.sleep(self.limits.sweep_seconds):
            self.sweep()

    @staticmethod
    def _is_list_form(payload: Any) -> bool:
        return isinstance(payload, dict) and "symbols" in payload

    async def _subscribe(self, sid: str, payload: Any) -> None:
        if self._is_list_form(payload):
            await self.dashboard.subscribe(sid, payload)
        else:
            await self.documented.subscribe(sid, payload)
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        metrics.SIO_ROOMS.set(
            sum(1 for room in rooms if room is not None and room not in self._connected)
        )

    async def _unsubscribe(self, sid: str, payload: Any) -> None:
        if self._is_list_form(payload):
            await self.dashboard.unsubscribe(sid, payload)
        else:
            await self.documented.unsubscribe(sid, payload)

    async def _on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        self._connected[sid] = self.ctx.eio_sid(sid)
        metrics.SIO_CLIENTS.set(len(self._connected))
        await self.recovery.on_connect(sid, auth)

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        await self.recovery.on_disconnect(sid, reason)
        eio_sid = self._connected.pop(sid, None)
        self.lists.remove(sid)
        self.guard.forget(sid)
        if eio_sid is not None:
            self.fast.release_poll(eio_sid)
        metrics.SIO_CLIENTS.set(len(self._connected))

    # lifecycle ----------------------------------------------------------
    async def on_start(self) -> None:
        subscription = await self.bus.tail()
        self.position = (*entry_key(subscription.start), WHOLE)
        self.spawn(self._broadcast_loop(subscription), "broadcast")
        self.spawn(self._sweep_loop(), "sweep")

    async def on_stop(self) -> None:
        # An Engine.IO close (not a Socket.IO disconnect, after which clients stay away) makes
        # every client reconnect, to this front when it is back or to another one.
        for sock in list(self.sio.eio.sockets.values()):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.close(wait=False, abort=False), 1.0)
        if not self._shut_down:  # python-engineio's shutdown cannot run twice
            self._shut_down = True
            await self.sio.shutdown()

    # broadcasting -------------------------------------------------------
    async def _broadcast_loop(self, subscription: Subscription) -> None:
        try:
            while not self.should_stop:
                timeout = self._wait_time()
                batch = await subscription.read(timeout)
                self.fast.cork()
                try:
                    if batch is not None:
                        await self.on_points(batch.points, batch.entries)
                    await self.flush_due()
                finally:
                    self.fast.uncork()
        finally:
            await subscription.close()

    def _wait_time(self) -> float:
        due = self._next_due if self._pending else float("inf")
        if self._dirty and self.lists.groups:
            due = min(due, self._list_due)
        return min(0.5, max(0.0, due - time.monotonic()))

    async def on_points(
        self, points: Sequence[PricePoint], entries: Sequence[tuple[str, int]] | None = None
    ) -> None:
        """Take new points: broadcast each symbol's now if its throttle allows, else keep it.
        `entries` (bus entry id, point count) moves `position` along, point by point."""
        closed: list[tuple[str, int]] = []
        rooms = self.sio.manager.rooms.get(NAMESPACE, {})
        take = self._take
        if entries is None:
            for point in points:
                await take(point, rooms, closed)
        else:
            index = 0
            for entry_id, count in entries:
                ms, seq = entry_key(entry_id)
                for at in range(count):
                    self.position = (ms, seq, at)
                    await take(points[index], rooms, closed)
                    index += 1
        self.advanced.fire()
        if closed:
            self.spawn(self._intervals_closed(closed), "interval-close")

    async def _take(
        self, point: PricePoint, rooms: dict[Any, Any], closed: list[tuple[str, int]]
    ) -> None:
        symbol = point.symbol
        known = self.latest.get(symbol)
        if known is not None and known.ts >= point.ts:
            return
        self.latest[symbol] = point
        self._dirty.add(symbol)
        start = self.ctx.scheme.start_of(point.ts)
        previous = self._interval_of.get(symbol)
        if previous is not None and start > previous:
            closed.append((symbol, previous))
        self._interval_of[symbol] = start
        members = rooms.get(symbol)
        offset_members = rooms.get(OFFSET_ROOM + symbol) if self.recovery.pids else None
        if members is None and offset_members is None:
            return
        last_ts = self._last_ts.get(symbol)
        if last_ts is None or point.ts >= last_ts + self._gap_ms:
            self._pending.pop(symbol, None)  # superseded by a newer second
            await self._emit_price(point, members, offset_members)
            self._last_sent[symbol], self._last_ts[symbol] = time.monotonic(), point.ts
        else:
            self._pending[symbol] = point
            due = self._last_sent.get(symbol, 0.0) + self.throttle
            self._next_due = min(self._next_due, due)

    async def flush_due(self) -> None:
        """Send held points whose throttle has passed, and the list form when it is due."""
        now = time.monotonic()
        if self._pending and now >= self._next_due:
            rooms = self.sio.manager.rooms.get(NAMESPACE, {})
            next_due = float("inf")
            for symbol, point in list(self._pending.items()):
                due = self._last_sent.get(symbol, 0.0) + self.throttle
                if now < due:
                    next_due = min(next_due, due)
                    continue
                del self._pending[symbol]
                members, offset_members = rooms.get(symbol), rooms.get(OFFSET_ROOM + symbol)
                if members or offset_members:
                    await self._emit_price(point, members, offset_members)
                    self._last_sent[symbol], self._last_ts[symbol] = now, point.ts
            self._next_due = next_due
        if self._dirty and now >= self._list_due:
            await self._emit_lists()

    async def _emit_price(
        self,
        point: PricePoint,
        members: dict[str, str] | None,
        offset_members: dict[str, str] | None,
    ) -> None:
        """To a symbol's room, and with the current offset to its room of offset takers."""
        item = price_item(point)
        sent = 0
        if members:
            sent += await self.fast.send_many(members.values(), EncodedEvent("price_update", item))
        if offset_members:
            offset = format_position(self.position)
            message = EncodedEvent("price_update", item, offset)
            sent += await self.fast.send_many(offset_members.values(), message)
        self._price_emits.inc(sent)
        metrics.SIO_BROADCAST_LAG.observe(max(0.0, time.time() - point.ts / 1000))

    async def _emit_lists(self) -> None:
        dirty, self._dirty = self._dirty, set()
        self._list_due = time.monotonic() + self.list_period
        now_ms = int(time.time() * 1000)
        for group in list(self.lists.groups.values()):
            if dirty.isdisjoint(group.symbols):
                continue
            updates = [
                list_price_item(self.latest[s]) for s in sorted(group.symbols) if s in self.latest
            ]
            data = {"updates": updates, "timestamp": now_ms}
            sent = 0
            if group.eio_sids:
                message = EncodedEvent("price_update", data)
                sent += await self.fast.send_many(list(group.eio_sids.values()), message)
            if group.offset_sids:
                message = EncodedEvent("price_update", data, format_position(self.position))
                sent += await self.fast.send_many(list(group.offset_sids.values()), message)
            self._price_emits.inc(sent)

    async def _intervals_closed(self, closed: list[tuple[str, int]]) -> None:
        """interval_update to the list subscribers of each symbol whose interval just closed."""
        if self.interval_close_delay > 0 and await self.sleep(self.interval_close_delay):
            return
        for symbol, start in closed:
            targets = self.lists.subscribers_of(symbol)
            if not targets:
                continue
            try:
                aggregate = await self.ctx.reader.interval(symbol, start)
            except StoreError as exc:
                self.log.warning("interval_update %s: store unavailable: %s", symbol, exc)
                continue
            if aggregate is None:
                continue
            message = EncodedEvent(
                "interval_update",
                {
                    "symbol": symbol,
                    "intervalHour": aggregate.interval_hour,
                    "data": aggregate,
                    "timestamp": int(time.time() * 1000),
                },
            )
            sent = await self.fast.send_many([eio for _, eio in targets], message)
            metrics.SIO_EMITS.labels("interval_update").inc(sent)
