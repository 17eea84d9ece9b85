"""The whole tree under the real supervisord, Redis and the simulator: prices reach a
Socket.IO client and the store; a kill -9 of each program in turn loses and duplicates nothing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path

import pytest
import redis.asyncio as aioredis
import socketio

from actors.cache.redis import RedisCache
from actors.messages import PricePoint
from actors.store import IntervalScheme, Store, open_store
from tests.helpers import eventually
from tests.integration.tree_support import Tree, running_tree

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def tree(tmp_path: Path, redis_url: str) -> Iterator[Tree]:
    with running_tree(
        tmp_path, redis_url, shards=2, symbols=12, extra_env={"DB_FLUSH_SECONDS": "2"}
    ) as running:
        yield running


@pytest.fixture
async def store(tree: Tree) -> AsyncIterator[Store]:
    opened = open_store(f"sqlite:///{tree.db_path}", IntervalScheme())
    await opened.open()
    yield opened
    await opened.close()


def now_ms() -> int:
    return int(time.time() * 1000)


async def symbols_of(store: Store) -> list[str]:
    return [record.symbol for record in await store.list_symbols(active_only=True)]


async def price_update_reaches_a_client(
    tree: Tree, symbol: str, timeout: float = 30.0
) -> dict[str, object]:
    """A websocket-only Socket.IO client subscribes to `symbol` and gets a price_update."""
    client = socketio.AsyncClient(reconnection=False)
    got: asyncio.Queue[dict[str, object]] = asyncio.Queue()

    @client.on("price_update")  # type: ignore[misc]
    async def on_price(data: dict[str, object]) -> None:
        if data.get("symbol") == symbol:
            got.put_nowait(data)

    await eventually(
        lambda: _connect(client, tree.front_url), timeout=timeout, interval=0.3, what="front up"
    )
    try:
        await client.emit("subscribe", {"symbol": symbol})
        return await asyncio.wait_for(got.get(), timeout)
    finally:
        await client.disconnect()


async def _connect(client: socketio.AsyncClient, url: str) -> bool:
    try:
        await client.connect(url, transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return False
    return True


async def stored_through(store: Store, symbols: list[str], second: int) -> bool:
    """Every symbol has a stored point at or after `second`."""
    for symbol in symbols:
        latest = await store.latest_point(symbol)
        if latest is None or latest.second < second:
            return False
    return True


def holes_and_duplicates(
    points: list[PricePoint], first: int, last: int
) -> tuple[list[int], list[int]]:
    """Seconds of [first, last] with no point, and seconds with more than one."""
    counts = Counter(p.second for p in points if first <= p.second <= last)
    missing = [s for s in range(first, last + 1) if s not in counts]
    return missing, sorted(s for s, n in counts.items() if n > 1)


async def store_problems(
    store: Store, symbols: list[str], first: int, last: int
) -> dict[str, dict[str, list[int]]]:
    """Per symbol, the seconds of [first, last] missing from the store or stored twice."""
    problems = {}
    for symbol in symbols:
        points = await store.points_between(symbol, first * 1000, last * 1000 + 999)
        missing, duplicated = holes_and_duplicates(points, first, last)
        if missing or duplicated:
            problems[symbol] = {"missing": missing, "duplicated": duplicated}
    return problems


async def test_kill_nine_each_program_loses_and_duplicates_nothing(
    tree: Tree, store: Store
) -> None:
    pids = await asyncio.to_thread(tree.wait_running, 60)
    assert set(pids) == set(tree.programs())
    symbols = await eventually(lambda: symbols_of(store), timeout=10, what="seeded symbols")
    assert len(symbols) == 12

    update = await price_update_reaches_a_client(tree, symbols[0])
    assert isinstance(update["price"], float | int) and isinstance(update["timestamp"], int)
    start = int(time.time())
    await eventually(
        lambda: stored_through(store, symbols, start), timeout=30, what="prices stored"
    )
    # the window opens once every symbol has its first second stored (shards subscribe at
    # different moments after the seeding)
    firsts = [
        (await store.points_between(s, (start - 600) * 1000, now_ms(), limit=1))[0].second
        for s in symbols
    ]
    first = max(firsts) + 1

    cache = RedisCache(aioredis.Redis.from_url(tree.redis_url), tree.prefix)
    try:
        for program in ("feed:feed_00", "feed:feed_01", "cache-writer", "db-writer", "front"):
            old, new = await asyncio.to_thread(tree.kill9, program)
            assert new != old, program
            # it works again: new points keep arriving in the store and the cache
            now = int(time.time())
            await eventually(
                partial(stored_through, store, symbols, now),
                timeout=30,
                what=f"prices stored after kill -9 of {program}\n{tree.logs()}",
            )
            await eventually(
                partial(_cached_since, cache, symbols, now),
                timeout=30,
                what=f"prices cached after kill -9 of {program}",
            )
        await price_update_reaches_a_client(tree, symbols[-1])

        # supervisorctl restart: TERM, the DbWriter flushes its buffer and exits by itself
        out = await asyncio.to_thread(tree.ctl, "restart", "db-writer")
        assert "db-writer: stopped" in out and "db-writer: started" in out, out
        log = (tree.root / "logs" / "supervisord.log").read_text()
        assert "stopped: db-writer (exit status 0)" in log, log[-1500:]
        out = await asyncio.to_thread(tree.ctl, "stop", "front")
        assert (await asyncio.to_thread(tree.status))["front"][0] == "STOPPED", out
        await asyncio.to_thread(tree.ctl, "start", "front")
        await asyncio.to_thread(tree.wait_running, 30)
        now = int(time.time())
        await eventually(
            partial(stored_through, store, symbols, now), timeout=30, what="stored after restart"
        )
    finally:
        await cache.close()

    last = int(time.time()) + 2
    assert last - first >= 12  # the window spans every kill and restart
    await eventually(
        lambda: stored_through(store, symbols, last), timeout=30, what="the last second stored"
    )
    problems = await store_problems(store, symbols, first, last)
    assert not problems, f"window {first}..{last}: {problems}\n{tree.logs()}"
    restarts = await asyncio.to_thread(tree.status)
    assert all(state == "RUNNING" for state, _ in restarts.values()), restarts


async def _cached_since(cache: RedisCache, symbols: list[str], second: int) -> bool:
    latest = await cache.latest(symbols)
    return len(latest) == len(symbols) and all(p.second >= second for p in latest.values())
