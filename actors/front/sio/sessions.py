"""Where a disconnected Socket.IO session waits for its client (connection state recovery,
docs/socketio.md): in Redis in tree mode, so that any front can take it, in memory in embedded
mode. A session is taken once (the first front to ask gets it) and expires on its own after
the recovery window.
"""

from __future__ import annotations

import time
from typing import Protocol

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

_ENCODER = msgspec.msgpack.Encoder()


class SessionState(msgspec.Struct, frozen=True):
    """What a recovered socket gets back: its rooms (documented dialect), its list
    subscription (list dialect) and the bus position it was current with when it started."""

    rooms: list[str]
    lists: list[str]
    start: str


_DECODER = msgspec.msgpack.Decoder(SessionState)


class SessionStore(Protocol):
    """Keeps disconnected sessions by private session id (`pid`) for `ttl` seconds."""

    async def save(self, pid: str, state: SessionState, ttl: float) -> None: ...

    async def take(self, pid: str) -> SessionState | None:
        """The session, removed from the store; None when unknown, expired or unreadable."""


class MemorySessions:
    """Embedded mode: a dict; expired sessions are dropped whenever one is saved."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[float, SessionState]] = {}

    async def save(self, pid: str, state: SessionState, ttl: float) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._sessions.items() if expires <= now]:
            del self._sessions[key]
        self._sessions[pid] = (now + ttl, state)

    async def take(self, pid: str) -> SessionState | None:
        found = self._sessions.pop(pid, None)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]


class RedisSessions:
    """Tree mode: one key `{prefix}sio:session:{pid}` per session, with the window as TTL.

    Redis being down costs recovery, not the connection: a save or take that fails is a fresh
    session for the client (logged by the caller)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = f"{prefix}sio:session:"

    async def save(self, pid: str, state: SessionState, ttl: float) -> None:
        await self.client.set(self.prefix + pid, _ENCODER.encode(state), px=max(1, int(ttl * 1000)))

    async def take(self, pid: str) -> SessionState | None:
        raw = await self.client.getdel(self.prefix + pid)
        if raw is None:
            return None
        try:
            return _DECODER.decode(raw if isinstance(raw, bytes) else raw.encode())
        except msgspec.DecodeError:
            return None


SessionErrors = (RedisError, OSError)
