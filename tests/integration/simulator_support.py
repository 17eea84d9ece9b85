"""Shared parts of the simulator protocol tests: a running simulator and a frame-reading client."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec


class Client:
    """One WebSocket client connection to the simulator, reading JSON frames."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws

    async def send(self, request: dict[str, Any]) -> None:
        await self.ws.send_str(msgspec.json.encode(request).decode())

    async def next_json(self, timeout: float = 5.0) -> Any:
        """The next text frame, decoded (pings and pongs skipped, unanswered)."""
        async with asyncio.timeout(timeout):  # receive(timeout=) restarts on each autoping
            msg = await self.ws.receive()
            while msg.type in (aiohttp.WSMsgType.PING, aiohttp.WSMsgType.PONG):
                msg = await self.ws.receive()
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return msgspec.json.decode(msg.data)

    async def reply(self, request_id: object, timeout: float = 5.0) -> dict[str, Any]:
        """The next control reply (a frame with `id` == request_id), skipping data frames."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            frame = await self.next_json(timeout=max(0.01, deadline - time.monotonic()))
            if isinstance(frame, dict) and "id" in frame and frame.get("id") == request_id:
                return frame
        raise AssertionError(f"no reply with id {request_id!r} within {timeout}s")

    async def data(self, count: int, timeout: float = 5.0) -> list[Any]:
        """The next `count` data frames (control replies skipped)."""
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            assert time.monotonic() < deadline, (
                f"only {len(out)} of {count} data frames in {timeout}s"
            )
            frame = await self.next_json(timeout=max(0.01, deadline - time.monotonic()))
            if not (isinstance(frame, dict) and ("result" in frame or "error" in frame)):
                out.append(frame)
        return out

    async def closed(self, timeout: float = 5.0) -> aiohttp.WSMessage:
        """Read until the server closes the connection; the closing message."""
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.ws.receive()
                if msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    return msg


@contextlib.asynccontextmanager
async def connect(url: str, *, autoping: bool = True) -> AsyncIterator[Client]:
    """A client connected to `url` (closed on exit)."""
    async with aiohttp.ClientSession() as session, session.ws_connect(url, autoping=autoping) as ws:
        yield Client(session, ws)
