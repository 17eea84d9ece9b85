"""Small helpers shared by tests: free ports, bounded polling, settings from a dict."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from actors.config import Settings

T = TypeVar("T")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(**env: str) -> Settings:
    """Settings from exactly these variables (no process environment, no .env)."""
    base = {
        "JWT_ACCESS_SECRET": "test-secret-" + "x" * 32,
        "BCRYPT_SALT_ROUNDS": "4",
        "LOG_LEVEL": "warning",
    }
    base.update(env)
    return Settings.from_env(environ=base, dotenv=None)


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns a truthy value or `timeout` passes (then fail naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
