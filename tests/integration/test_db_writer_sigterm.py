"""DbWriter processes: SIGTERM flushes every point it took from the bus into the SQLite file,
although its flush interval (60 s) never came round; SIGKILL loses nothing either, because
nothing unwritten was acked and the next writer gets it again from the Redis bus."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import pytest

from actors.bus.redis import RedisBus
from actors.messages import PricePoint
from actors.store import IntervalScheme, open_store
from tests.conftest import RedisHandle

pytestmark = pytest.mark.timeout(60)

CHILD = Path(__file__).with_name("db_writer_child.py")


async def spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def expect_line(proc: asyncio.subprocess.Process, line: bytes) -> None:
    assert proc.stdout is not None
    got = await asyncio.wait_for(proc.stdout.readline(), 20)
    assert got.strip() == line, got


async def read_points(url: str, first_ts: int, last_ts: int) -> list[PricePoint]:
    store = open_store(url, IntervalScheme())
    await store.open()
    try:
        return await store.points_between("BTCUSDT", first_ts, last_ts)
    finally:
        await store.close()


async def test_sigterm_flushes_everything_acknowledged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first_ts = (int(time.time()) - 7200) * 1000
    proc = await spawn(url, str(first_ts))
    try:
        await expect_line(proc, b"ready")
        # Nothing flushed before the signal: the 60 s interval has not come round.
        assert await read_points(url, first_ts, first_ts + 86_400_000) == []
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    summary = json.loads(out.decode().strip().splitlines()[-1])
    published = summary["published"]
    assert published >= 200 and summary["unacked"] == 0
    points = await read_points(url, first_ts, first_ts + 86_400_000)
    assert [p.ts for p in points] == [first_ts + i * 1000 + 3 for i in range(published)]
    assert [p.price for p in points] == [100.0 + i for i in range(published)]


async def test_a_killed_writer_loses_nothing(tmp_path: Path, redis: RedisHandle) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first_ts = (int(time.time()) - 7200) * 1000
    sent = [PricePoint("BTCUSDT", first_ts + i * 1000 + 3, 100.0 + i) for i in range(300)]
    bus = RedisBus.from_url(redis.url, redis.prefix, points_per_entry=10)
    await bus.publish(sent)
    await bus.close()
    args = (url, "0", "--redis", redis.url, "--prefix", redis.prefix, "--expect", "300")
    first = await spawn(*args)
    try:
        await expect_line(first, b"buffered")
    finally:
        first.kill()  # SIGKILL: no final flush
        await first.wait()
    assert await read_points(url, first_ts, sent[-1].ts) == []

    second = await spawn(*args)  # same consumer: its pending entries come back to it
    try:
        await expect_line(second, b"buffered")
        second.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(second.communicate(), 30)
    finally:
        if second.returncode is None:
            second.kill()
            await second.wait()
    assert second.returncode == 0, err.decode()
    assert await read_points(url, first_ts, sent[-1].ts) == sent
    pending = await redis.client.xpending(f"{redis.prefix}ticks", "db-writer")
    assert pending["pending"] == 0
