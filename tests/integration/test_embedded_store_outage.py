"""Live first in embedded mode: `binance-stats run --simulate` whose SQLite file another process
holds locked for longer than the DbWriter's buffer and the bus's bound last. Socket.IO clients
keep receiving every second meanwhile; the points the bus dropped are counted, logged with
their range, reported by /readyz, backfilled from klines once the store writes again, and the
stored series ends up whole."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from actors.store import IntervalScheme, open_store
from tests.helpers import eventually, free_port

pytestmark = pytest.mark.timeout(180)

SYMBOL = "BTCUSDT"
OUTAGE_SECONDS = 14.0  # the store refuses writes this long (each attempt waits busy_timeout)


async def _json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        return await response.json()


async def test_a_locked_store_never_stops_live_prices_and_ends_whole(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        DB_FLUSH_SECONDS="0.3",
        DB_BUFFER_POINTS="20",  # the writer holds ~3 s of 6 symbols
        BUS_MAX_MB="0.004",  # the bus ~24 points more: the outage overflows both
        LOG_LEVEL="info",
    )
    for name in ("REDIS_HOST", "REDIS_URL"):
        env.pop(name, None)
    log_path = tmp_path / "run.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block the loop
            [
                sys.executable,
                "-m",
                "actors",
                "run",
                "--simulate",
                "--symbols",
                "6",
                "--activity",
                "uniform",
            ],
            cwd=tmp_path,
            env=env,
            stderr=log_file,
        )
    db_path = tmp_path / "data" / "binance_statistics.db"
    base = f"http://127.0.0.1:{port}"
    updates: list[dict[str, Any]] = []
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert proc.poll() is None, log_path.read_text()
                try:
                    async with http.get(f"{base}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(ready, timeout=40, what="/readyz 200")
            client = socketio.AsyncClient()

            @client.on("price_update")  # type: ignore[misc]
            async def on_price(data: dict[str, Any]) -> None:
                updates.append(data)

            await client.connect(base, transports=["websocket"])
            await client.emit("subscribe", {"symbol": SYMBOL})

            async def flowing() -> bool:
                return len(updates) >= 2

            await eventually(flowing, timeout=20, what="live prices")

            locker = sqlite3.connect(db_path, timeout=10, isolation_level=None)
            locker.execute("BEGIN EXCLUSIVE")  # every write of the DbWriter now fails
            locked_at = time.time()
            await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself: nothing to wait for
            during = [u for u in updates if u["timestamp"] >= locked_at * 1000]
            locker.execute("ROLLBACK")
            locker.close()
            unlocked_at = time.time()

            async def recovered() -> dict[str, Any] | None:
                body = await _json(http, f"{base}/readyz")
                view = body.get("busLosses", {}).get("db-writer")
                return view if view and view["awaitingBackfill"] == 0 else None

            await eventually(recovered, timeout=30, what="the loss handed to the feed")
            await asyncio.sleep(1.5)  # a couple more live seconds after the outage
            await client.disconnect()

            # The writer may still be in its retry backoff when the first loss is handed over,
            # so more may be dropped after it: settled is when the counter and the view agree.
            async def settled() -> tuple[dict[str, Any], float] | None:
                view = await recovered()
                text = await (await http.get(f"{base}/metrics")).text()
                found = re.search(r'bs_bus_dropped_points_total\{reader="db-writer"\} (\S+)', text)
                if view is None or found is None or float(found.group(1)) != view["points"]:
                    return None
                return view, time.time()

            view, settled_at = await eventually(
                settled, timeout=30, what="every dropped point in the loss handed to the feed"
            )
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = log_path.read_text()
    assert proc.returncode == 0, log
    assert "Traceback" not in log, log

    # live first: a price every second for the whole outage
    seconds = sorted({int(u["timestamp"]) // 1000 for u in during})
    assert seconds and seconds[-1] - seconds[0] >= OUTAGE_SECONDS - 3, seconds
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "a live second was not sent"

    # the loss: counted, logged with its range, reported
    assert view["points"] > 0 and view["symbols"] == 6
    assert locked_at * 1000 - 5_000 <= view["first"] <= view["last"] <= settled_at * 1000
    lines = [line for line in log.splitlines() if "group db-writer lost" in line]
    assert lines and re.search(r"lost \d+ points of \d+ symbols, \S+ \.\. \S+ UTC", lines[0]), log
    asked = [line for line in log.splitlines() if "asked the feed to backfill" in line]
    assert asked and re.search(r"\d+ points of 6 symbols, \S+ \.\. \S+ UTC", asked[0]), log
    assert "backfilling 6 symbols" in log, log

    # the store is whole: every second from before the outage to after it, once
    store = open_store(f"sqlite:///{db_path}", IntervalScheme())
    await store.open()
    try:
        first_ms = int(updates[0]["timestamp"])
        last_ms = int(unlocked_at * 1000)
        stored = await store.points_between(SYMBOL, first_ms, last_ms)
    finally:
        await store.close()
    got = [p.ts // 1000 for p in stored]
    assert got == sorted(set(got)), "duplicated second"
    assert got == list(range(first_ms // 1000, last_ms // 1000 + 1)), "missing second"
    assert any(p.backfill for p in stored), "the lost range came from klines"
