"""`binance-stats run --simulate` end to end: exchange → feed → cache/store → REST and Socket.IO,
then SIGTERM: exit 0 and every price a client saw is in the SQLite file, with no missing second."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import socketio

from actors.store import IntervalScheme, open_store
from tests.helpers import eventually, free_port


async def test_run_simulate_end_to_end(tmp_path: Path) -> None:
    port = free_port()
    env = dict(os.environ)
    env.update(PORT=str(port), HOST="127.0.0.1", DB_FLUSH_SECONDS="0.5", LOG_LEVEL="warning")
    env.pop("REDIS_HOST", None)
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block the loop
        [sys.executable, "-m", "actors", "run", "--simulate", "--symbols", "12"],
        cwd=tmp_path,
        env=env,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    seen: list[dict[str, object]] = []
    try:
        async with aiohttp.ClientSession() as http:

            async def ready() -> bool:
                assert proc.poll() is None, "binance-stats run exited early"
                try:
                    async with http.get(f"{base}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False

            await eventually(ready, timeout=30, what="/readyz 200")
            client = socketio.AsyncClient()
            got = asyncio.Event()
            history: list[object] = []

            @client.on("price_update")  # type: ignore[misc]
            async def on_price(data: dict[str, object]) -> None:
                seen.append(data)
                if len(seen) >= 4:
                    got.set()

            @client.on("historical_data")  # type: ignore[misc]
            async def on_history(data: dict[str, object]) -> None:
                history.append(data)

            await client.connect(base, transports=["websocket"])
            await client.emit("subscribe", {"symbol": "BTCUSDT"})
            await asyncio.wait_for(got.wait(), 20)
            await client.disconnect()
            assert history, "historical_data follows a subscription"
            assert all(item["symbol"] == "BTCUSDT" for item in seen)
            async with http.get(f"{base}/api/v1/price-data/BTCUSDT/latest") as response:
                latest = (await response.json())["data"]
            assert latest["symbol"] == "BTCUSDT" and isinstance(latest["price"], float)
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.to_thread(proc.communicate, timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()

    store = open_store(f"sqlite:///{tmp_path / 'data' / 'binance_statistics.db'}", IntervalScheme())
    await store.open()
    try:
        first, last = int(seen[0]["timestamp"]), int(seen[-1]["timestamp"])  # type: ignore[call-overload]
        stored = await store.points_between("BTCUSDT", first - 5_000, last + 5_000)
    finally:
        await store.close()
    by_ts = {p.ts: p.price for p in stored}
    for update in seen:
        assert by_ts.get(int(update["timestamp"])) == update["price"], (
            "a delivered price was not stored"
        )  # type: ignore[call-overload]
    seconds = [p.ts // 1000 for p in stored]
    assert seconds == sorted(set(seconds)), "duplicated second"
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), "missing second"
