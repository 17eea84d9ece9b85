"""Fixtures every test reuses: real Redis with a key prefix per test, a temporary SQLite store,
a running app on a free port."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis as redis_sync
import redis.asyncio as aioredis
from aiohttp import web

from actors.store import IntervalScheme, Store, open_store
from tests.helpers import PrivateRedis

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _answers(url: str) -> bool:
    try:
        return bool(redis_sync.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis_sync.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """127.0.0.1:6379 when it answers, else a redis-server from PATH on a free port, else skip."""
    if _answers(DEFAULT_REDIS):
        yield DEFAULT_REDIS
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("no Redis: nothing answers on 127.0.0.1:6379 and redis-server is not on PATH")
    server = PrivateRedis(Path(tempfile.mkdtemp(prefix="bs-redis-")))
    try:
        server.start()
    except AssertionError as exc:
        server.kill()
        pytest.skip(f"redis-server from PATH did not start: {exc}")
    yield server.url
    server.kill()
    shutil.rmtree(server.workdir, ignore_errors=True)


@dataclass
class RedisHandle:
    """A real Redis connection and a key prefix owned by one test."""

    url: str
    prefix: str
    client: aioredis.Redis


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[RedisHandle]:
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    client = aioredis.Redis.from_url(redis_url)
    yield RedisHandle(redis_url, prefix, client)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
async def sqlite_store(sqlite_url: str) -> AsyncIterator[Store]:
    """A temporary SQLite store, opened, closed after the test."""
    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Serve an aiohttp app on a free loopback port; returns its base URL; cleaned up after."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    yield start
    for runner in reversed(runners):
        await runner.cleanup()
