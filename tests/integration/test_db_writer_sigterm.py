"""SIGTERM to a real process running a DbWriter: every point it took from the bus is in the
SQLite file afterwards, although its flush interval (60 s) never came round."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path

import pytest

from actors.store import IntervalScheme, open_store

pytestmark = pytest.mark.timeout(60)

CHILD = Path(__file__).with_name("db_writer_child.py")


async def test_sigterm_flushes_everything_acknowledged(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first_ts = (int(time.time()) - 7200) * 1000
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(CHILD),
        url,
        str(first_ts),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert line.strip() == b"ready", line
        store = open_store(url, IntervalScheme())
        await store.open()
        try:
            assert await store.latest_point("BTCUSDT") is None  # nothing flushed before the signal
        finally:
            await store.close()
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

    store = open_store(url, IntervalScheme())
    await store.open()
    try:
        points = await store.points_between("BTCUSDT", first_ts, first_ts + published * 1000)
    finally:
        await store.close()
    assert [p.ts for p in points] == [first_ts + i * 1000 + 3 for i in range(published)]
    assert [p.price for p in points] == [100.0 + i for i in range(published)]
