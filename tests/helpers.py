"""Small helpers shared by tests: free ports, bounded polling, settings from a dict."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from actors.bus.memory import MemoryBus
from actors.config import Settings
from actors.simulator.exchange import ExchangeSimulator
from actors.store import Store

T = TypeVar("T")


class ManualClock:
    """Monotonic seconds that a test moves by hand (`clock.now += ...`)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


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


class PrivateRedis:
    """A redis-server of this test alone, on its own port, that the test may stop and restart."""

    def __init__(self, workdir: Path, *, aof: bool = False) -> None:
        """`aof`: append-only file on (fsync every second), so a restart keeps the bus stream."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not on PATH")
        self.binary = binary
        self.workdir = workdir
        self.aof = aof
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def answers(self) -> bool:
        try:
            client = redis_sync.Redis(port=self.port, socket_connect_timeout=0.2)
            with client:
                return bool(client.ping())
        except redis_sync.RedisError:
            return False

    def start(self, timeout: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if self.aof else "no",
                "--daemonize",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not self.answers():
            assert self.proc.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)

    def client(self) -> aioredis.Redis:
        return aioredis.Redis(port=self.port)

    def shutdown(self, *, save: bool = False) -> None:
        """`redis-cli shutdown nosave` (or `save`), then wait for the process to be gone."""
        how = "save" if save else "nosave"
        subprocess.run(
            ["redis-cli", "-p", str(self.port), "shutdown", how],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if self.proc is not None:
            self.proc.wait(10)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


async def store_bus_points(bus: MemoryBus, store: Store, stop: asyncio.Event) -> None:
    """What the DbWriter does, minus batching: store every batch of the bus, then ack it."""
    sub = await bus.group("db-writer", "test")
    while not stop.is_set():
        batch = await sub.read(0.1)
        if batch is not None:
            await store.write_points(batch.points)
            await sub.ack(batch)


async def stored_prices(store: Store, symbol: str, first: int, last: int) -> dict[int, float]:
    """Second -> stored price of `symbol` over the seconds [first, last] (inclusive)."""
    points = await store.points_between(symbol, first * 1000, last * 1000 + 999)
    return {point.second: point.price for point in points}


def simulated_closes(
    sim: ExchangeSimulator, symbol: str, first: int, last: int
) -> dict[int, float]:
    """Second -> the simulator's close of `symbol`, for the seconds in [first, last] it traded."""
    closes = {second: sim.close_price(symbol, second) for second in range(first, last + 1)}
    return {second: close for second, close in closes.items() if close is not None}


async def store_matches_simulator(
    store: Store, sim: ExchangeSimulator, symbols: list[str], first: int, last: int
) -> bool:
    """Every symbol's stored seconds in [first, last] are exactly the simulator's closes."""
    for symbol in symbols:
        if await stored_prices(store, symbol, first, last) != simulated_closes(
            sim, symbol, first, last
        ):
            return False
    return True


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The status of a GET of `url` (an error status too), or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


@contextlib.contextmanager
def embedded_process(
    env: dict[str, str], cwd: Path, port: int, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """`binance-stats run` in `cwd` with `env`, yielded once its /healthz on `port` answers 200;
    killed on the way out if it still runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "actors", "run"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + timeout
        while http_status(f"http://127.0.0.1:{port}/healthz", timeout=1.0) != 200:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, f"no /healthz within {timeout:g} s"
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
