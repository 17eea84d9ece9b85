"""Connection state recovery (docs/socketio.md), in the protocol of socket.io >= 4.6 and its
official client.

Wire: the CONNECT reply `40{"sid":...,"pid":...}` carries a private session id; every
price_update to the socket carries its offset as a last argument
(`42["price_update",{...},"<offset>"]`); after a cut, the client's CONNECT sends
`{"pid":...,"offset":...}` in its auth, and a reply with the same `pid` tells it that it was
recovered (`socket.recovered`): its rooms and list subscription are back and every
price_update it missed comes, in order, before live ones. Only a socket whose first CONNECT auth
holds `recover: true` (or a `pid`) takes part: others (python-socketio's client calls handlers
with a fixed number of arguments) never see a pid or an offset.

An offset is a bus position, the same on every front: `<entry id>:<index>` is the point at
`index` of bus entry `<entry id>`, a bare `<entry id>` the whole entry. Sessions wait in a
`SessionStore` (Redis in tree mode, so any front can take them) for the recovery window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

import socketio
from socketio import packet

from actors.bus.base import Bus, EntriesGone, entry_key
from actors.front.sio.codec import EncodedEvent
from actors.front.sio.context import NAMESPACE, OFFSET_ROOM
from actors.front.sio.fastpath import FastPath
from actors.front.sio.lists import ListSubscriptions
from actors.front.sio.payloads import list_price_item, price_item
from actors.front.sio.sessions import SessionErrors, SessionState, SessionStore
from actors.messages import PricePoint

log = logging.getLogger("actors.front.sio.recovery")

Position = tuple[int, int, int]  # entry ms, entry seq, point index (WHOLE: the whole entry)
WHOLE = 1 << 62
PAGE = 512  # bus entries read per round of a replay
CATCH_UP_SECONDS = 5.0  # how long a replay waits for this front to reach the client's offset
# reasons after which the client does not come back (an explicit disconnect on either side)
_FINAL = {"client disconnect", "server disconnect"}


def format_position(position: Position) -> str:
    ms, seq, index = position
    return f"{ms}-{seq}" if index >= WHOLE else f"{ms}-{seq}:{index}"


def parse_offset(text: str) -> Position:
    """An offset as a position; ValueError when it is not one of ours."""
    entry, colon, index = text.partition(":")
    ms, seq = entry_key(entry)
    if not colon:
        return ms, seq, WHOLE
    if not index.isdigit():
        raise ValueError(f"not an offset: {text!r}")
    return ms, seq, int(index)


class RecoveringServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server whose CONNECT reply carries the socket's `pid`, and which
    tells `recovery` once that reply is on its way (a replay must follow it, not precede it)."""

    recovery: ConnectionRecovery | None = None

    async def _send_packet(self, eio_sid: str, pkt: Any) -> None:
        data = pkt.data
        recovery = self.recovery
        if (
            recovery is None
            or pkt.packet_type != packet.CONNECT
            or not isinstance(data, dict)
            or not isinstance(data.get("sid"), str)
        ):
            await super()._send_packet(eio_sid, pkt)
            return
        sid = data["sid"]
        pid = recovery.pids.get(sid)
        if pid is not None:
            data["pid"] = pid
        await super()._send_packet(eio_sid, pkt)
        recovery.connect_sent(sid)

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        # An Engine.IO close, whoever sent it (a client's engine closed, this front stopping),
        # is a lost transport: the session is kept. Only a Socket.IO DISCONNECT packet (the
        # client's `disconnect()`) or `sio.disconnect` ends it for good.
        await super()._handle_eio_disconnect(eio_sid, self.reason.TRANSPORT_CLOSE)


class Pulse:
    """Wakes every waiter each time `fire` is called (the hub fires it after each batch)."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    def fire(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, timeout: float) -> None:
        if self._waiter is None:
            self._waiter = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._waiter), max(0.0, timeout))


class _Plan:
    """A session being recovered: what it had, and the position its client is current with."""

    __slots__ = ("position", "state")

    def __init__(self, state: SessionState, position: Position) -> None:
        self.state = state
        self.position = position


class ConnectionRecovery:
    """pids, sessions saved at disconnect, and the replay that brings a recovered socket back.

    `position` is the hub's bus position (the last point its broadcast took) and `advanced`
    fires whenever it moves; `spawn` runs a task owned by the hub.
    """

    def __init__(
        self,
        sio: socketio.AsyncServer,
        fast: FastPath,
        bus: Bus,
        sessions: SessionStore,
        lists: ListSubscriptions,
        *,
        window: float,
        gap_ms: int,
        position: Callable[[], Position],
        advanced: Pulse,
        spawn: Callable[[Coroutine[Any, Any, None], str], object],
        connected: Callable[[str], bool],
    ) -> None:
        self.sio = sio
        self.fast = fast
        self.bus = bus
        self.sessions = sessions
        self.lists = lists
        self.window = window
        self.gap_ms = gap_ms
        self.position = position
        self.advanced = advanced
        self.spawn = spawn
        self.connected = connected
        self.pids: dict[str, str] = {}  # sid -> pid, for every socket that takes offsets
        self.starts: dict[str, Position] = {}  # sid -> position its state was current at
        self.plans: dict[str, _Plan] = {}
        self._unsaved: set[str] = set()  # sids whose session must not be kept

    # connect ------------------------------------------------------------
    async def on_connect(self, sid: str, auth: Any) -> None:
        """Before the CONNECT reply: a new pid, or the taken session of a returning client."""
        if self.window <= 0 or not isinstance(auth, dict):
            return
        pid = auth.get("pid")
        if not (auth.get("recover") is True or isinstance(pid, str)):
            return
        plan = await self._plan(pid, auth.get("offset")) if isinstance(pid, str) else None
        if plan is None:
            self.pids[sid] = secrets.token_urlsafe(16)
            self.starts[sid] = self.position()
            return
        assert isinstance(pid, str)
        self.pids[sid] = pid
        self.plans[sid] = plan

    async def _plan(self, pid: str, offset: Any) -> _Plan | None:
        try:
            state = await self.sessions.take(pid)
        except SessionErrors as exc:
            log.warning("session %s… not readable (%s): a fresh session", pid[:6], exc)
            return None
        if state is None:
            return None
        try:
            position = parse_offset(state.start)
            if isinstance(offset, str):
                position = max(position, parse_offset(offset))
        except ValueError:
            return None
        if position[0] < time.time() * 1000 - self.window * 1000:
            return None  # older than the window: what it missed may be gone
        try:  # the bus still holds everything after it?
            partial = position[2] < WHOLE
            await self.bus.entries(f"{position[0]}-{position[1]}", "0-0", 1, inclusive=partial)
        except EntriesGone:
            return None
        return _Plan(state, position)

    def connect_sent(self, sid: str) -> None:
        if sid in self.plans:
            self.spawn(self._restore(sid), "recover")

    # disconnect ---------------------------------------------------------
    async def on_disconnect(self, sid: str, reason: Any) -> None:
        """Keep the session for the window unless the client or the server ended it."""
        pid = self.pids.pop(sid, None)
        start = self.starts.pop(sid, None)
        plan = self.plans.pop(sid, None)
        if pid is None or sid in self._unsaved or str(reason) in _FINAL:
            self._unsaved.discard(sid)
            return
        if plan is not None:  # cut again while being recovered
            state = plan.state
        else:
            rooms = self.sio.rooms(sid, namespace=NAMESPACE)
            state = SessionState(
                rooms=sorted(r[len(OFFSET_ROOM) :] for r in rooms if r.startswith(OFFSET_ROOM)),
                lists=sorted(self.lists.symbols_of(sid)),
                start=format_position(start or self.position()),
            )
        try:
            await self.sessions.save(pid, state, self.window)
        except SessionErrors as exc:
            log.warning("session of %s not kept (%s): it will reconnect fresh", sid, exc)

    # replay -------------------------------------------------------------
    async def _restore(self, sid: str) -> None:
        try:
            await self._replay(sid)
        except (EntriesGone, *SessionErrors) as exc:
            # the CONNECT reply already said "recovered": cut the transport so that the client
            # reconnects, finds no session and starts fresh
            log.warning("recovery of %s failed (%s): cutting it to start fresh", sid, exc)
            self._unsaved.add(sid)
            eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
            sock = self.sio.eio.sockets.get(eio_sid) if eio_sid else None
            if sock is not None:
                await sock.close(wait=False, abort=True)

    async def _replay(self, sid: str) -> None:
        plan = self.plans.get(sid)
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, NAMESPACE)
        if plan is None or eio_sid is None:
            return
        replay = _Replay(plan.state, self.gap_ms)
        position = plan.position
        deadline = time.monotonic() + CATCH_UP_SECONDS
        while True:
            if not self.connected(sid) or sid not in self.plans:
                return  # gone again: on_disconnect kept the session as it came
            target = self.position()
            if position == target:
                last = replay.flush()
                if not last:
                    break  # caught up, and nothing awaited since the check
                await self._send_all(eio_sid, last)
            elif position < target:
                position = await self._replay_page(eio_sid, replay, position, target)
            elif time.monotonic() < deadline:  # this front is behind the client's offset
                await self.advanced.wait(deadline - time.monotonic())
            else:
                break  # still behind: join anyway (the client may see a point twice)
        # live updates start right after `position`: no await since it was compared
        for symbol in plan.state.rooms:
            self.sio.manager.basic_enter_room(sid, NAMESPACE, OFFSET_ROOM + symbol)
        if plan.state.lists:
            self.lists.set(sid, eio_sid, frozenset(plan.state.lists))
        self.starts[sid] = position
        del self.plans[sid]

    async def _replay_page(
        self, eio_sid: str, replay: _Replay, position: Position, target: Position
    ) -> Position:
        ms, seq, index = position
        end = f"{target[0]}-{target[1]}"
        # a partly sent entry is read again (its points up to `index` are skipped below)
        entries = await self.bus.entries(f"{ms}-{seq}", end, PAGE, inclusive=index < WHOLE)
        for entry_id, points in entries:
            key = entry_key(entry_id)
            for at, point in enumerate(points):
                here = (key[0], key[1], at)
                if here <= position:
                    continue
                if here > target:
                    break
                replay.take(point, here)
                position = here
        if len(entries) < PAGE:
            position = max(position, target)  # the bus holds nothing else up to the target
        await self._send_all(eio_sid, replay.drain())
        return position

    async def _send_all(self, eio_sid: str, messages: list[EncodedEvent]) -> None:
        """Send in order, waiting (up to 10 s each) while the client has more than half its
        bound unread: a replay is large, and the bound drops what does not fit."""
        limit = self.fast.max_buffer // 2
        for message in messages:
            for _ in range(2000):  # 5 ms steps
                if self.fast.unread(eio_sid) <= limit:
                    break
                await asyncio.sleep(0.005)
            await self.fast.send(eio_sid, message, reply=True)


class _Replay:
    """The price_updates a session missed, as the hub would have sent them: each point of its
    rooms (at most one per symbol per throttle), and per second of exchange time one list-form
    update with the symbols of its list that changed in that second."""

    def __init__(self, state: SessionState, gap_ms: int) -> None:
        self.rooms = frozenset(state.rooms)
        self.lists = frozenset(state.lists)
        self.gap_ms = gap_ms
        self.last_ts: dict[str, int] = {}
        self.ready: list[EncodedEvent] = []
        self.second = -1
        self.changed: dict[str, PricePoint] = {}
        self.changed_at: Position = (0, 0, 0)

    def take(self, point: PricePoint, position: Position) -> None:
        symbol = point.symbol
        if symbol in self.rooms:
            last = self.last_ts.get(symbol)
            if last is None or point.ts >= last + self.gap_ms:
                self.last_ts[symbol] = point.ts
                offset = format_position(position)
                self.ready.append(EncodedEvent("price_update", price_item(point), offset))
        if symbol in self.lists:
            second = point.ts // 1000
            if second != self.second and self.changed:
                self.ready.append(self._list_update())
            self.second = second
            self.changed[symbol] = point
            self.changed_at = position

    def drain(self) -> list[EncodedEvent]:
        ready, self.ready = self.ready, []
        return ready

    def flush(self) -> list[EncodedEvent]:
        """What is ready plus the list update of the second still open."""
        ready = self.drain()
        if self.changed:
            ready.append(self._list_update())
        return ready

    def _list_update(self) -> EncodedEvent:
        changed, self.changed = self.changed, {}
        updates = [list_price_item(changed[s]) for s in sorted(changed)]
        data = {"updates": updates, "timestamp": max(p.ts for p in changed.values())}
        return EncodedEvent("price_update", data, format_position(self.changed_at))
