"""Process introspection gauges: the task count follows the loop, SQLite's heap is reported."""

from __future__ import annotations

import asyncio
import sqlite3

from prometheus_client import REGISTRY

from actors.core.introspect import sqlite_memory_bytes, watch_loop


def _gauge(name: str) -> float | None:
    value = REGISTRY.get_sample_value(name)
    return None if value is None else float(value)


async def test_task_count_follows_the_watched_loop() -> None:
    watch_loop(asyncio.get_running_loop())
    before = _gauge("bs_asyncio_tasks")
    assert before is not None and before >= 1  # this test's own task
    stop = asyncio.Event()
    waiters = [asyncio.create_task(stop.wait()) for _ in range(5)]
    assert _gauge("bs_asyncio_tasks") == before + 5
    stop.set()
    await asyncio.gather(*waiters)
    assert _gauge("bs_asyncio_tasks") == before
    assert (_gauge("bs_threads") or 0) >= 1


def test_sqlite_memory_grows_with_a_page_cache_and_falls_when_it_closes() -> None:
    before = sqlite_memory_bytes()
    assert before is not None
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (x BLOB)")
    conn.executemany("INSERT INTO t VALUES (?)", [(b"x" * 100,)] * 20_000)
    held = sqlite_memory_bytes()
    assert held is not None and held > before + 1_000_000
    conn.close()
    after = sqlite_memory_bytes()
    assert after is not None and after < held - 1_000_000


def test_python_blocks_and_malloc_bytes_follow_allocations() -> None:
    loop = asyncio.new_event_loop()
    watch_loop(loop)  # registers the collector whatever ran before
    loop.close()
    blocks = _gauge("bs_python_allocated_blocks")
    held = [object() for _ in range(50_000)]
    grown = _gauge("bs_python_allocated_blocks")
    assert blocks is not None and grown is not None and grown >= blocks + 40_000
    del held
    in_use = _gauge("bs_malloc_in_use_bytes")
    if in_use is not None:  # glibc only
        big = bytearray(8 * 1024 * 1024)
        assert (_gauge("bs_malloc_in_use_bytes") or 0) >= in_use + 8_000_000
        del big
