"""The official JavaScript client (socket.io-client 4 under Node) against the hub on the
front's whole app: the seed's Frontend Integration Example unchanged, and the dashboard's
list-dialect session over each transport. socket.io-client is installed from the npm registry
once (into a cache directory); without Node, npm or the registry these tests skip, saying why."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from actors.store import Store
from tests.integration.hub_support import SYMBOLS, HubEnv, now_ms, point, start_hub, stop_hub

JS_SOURCE = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def js_dir() -> Path:
    """A directory holding the node scripts and node_modules/socket.io-client."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed for the socket.io-client tests")
    manifest = (JS_SOURCE / "package.json").read_bytes()
    target = Path(tempfile.gettempdir()) / f"bs-hub-js-{hashlib.sha256(manifest).hexdigest()[:12]}"
    target.mkdir(exist_ok=True)
    (target / "package.json").write_bytes(manifest)
    if not (target / "node_modules" / "socket.io-client" / "package.json").is_file():
        try:
            done = subprocess.run(
                [npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=target,
                capture_output=True,
                text=True,
                timeout=180,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip("npm install socket.io-client timed out (registry unreachable?)")
        if done.returncode != 0:
            pytest.skip(f"npm install socket.io-client failed: {done.stderr.strip()[-300:]}")
    for script in JS_SOURCE.glob("*.mjs"):
        shutil.copyfile(script, target / script.name)
    return target


@pytest.fixture
async def full_hub(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[HubEnv]:
    env = await start_hub(sqlite_store, serve_app, full_app=True, list_period=0.3)
    yield env
    await stop_hub(env)


class Stream:
    """Publishes a price for every symbol every 100 ms and remembers what it streamed."""

    def __init__(self, env: HubEnv) -> None:
        self.env = env
        self.streamed: dict[tuple[str, int], float] = {}

    async def run(self) -> None:
        base = now_ms()
        for step in range(400):  # bounded: 40 s at most
            ts = base + step * 100
            points = [
                point(symbol, ts, 100.0 * (i + 1) + step / 4) for i, symbol in enumerate(SYMBOLS)
            ]
            for p in points:
                self.streamed[(p.symbol, p.ts)] = p.price
            await self.env.publish(*points)
            await asyncio.sleep(0.1)


async def run_node(
    js_dir: Path, script: str, env: dict[str, str], timeout: float = 40.0
) -> tuple[list[dict[str, Any]], str]:
    """Run a node script to its end (bounded); its "@@" report lines and its whole stdout."""
    proc = await asyncio.create_subprocess_exec(
        "node",
        script,
        cwd=js_dir,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"node {script} did not finish") from None
    text = out.decode()
    assert proc.returncode == 0, (
        f"node {script} exited {proc.returncode}: {text[-2000:]} {err.decode()[-2000:]}"
    )
    reports = [json.loads(line[2:]) for line in text.splitlines() if line.startswith("@@")]
    return reports, text


@contextlib.asynccontextmanager
async def streaming(env: HubEnv) -> AsyncIterator[Stream]:
    stream = Stream(env)
    task = asyncio.create_task(stream.run())
    try:
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def by_event(reports: list[dict[str, Any]]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for report in reports:
        found.setdefault(report["event"], []).append(report["data"])
    return found


async def test_frontend_integration_example_runs_unchanged(js_dir: Path, full_hub: HubEnv) -> None:
    await full_hub.store.write_points([point("BTCUSDT", now_ms() - 60_000, 99.0)])
    async with streaming(full_hub) as stream:
        reports, stdout = await run_node(js_dir, "documented.mjs", {"BS_URL": full_hub.url})
    seen = by_event(reports)
    assert seen["subscription_confirmed"] == [{"symbol": "BTCUSDT"}]
    [history] = seen["historical_data"]
    assert history["symbol"] == "BTCUSDT" and history["data"][0]["price"] == 99.0
    updates = seen["price_update"]
    assert len(updates) == 2
    for update in updates:
        assert set(update) == {"symbol", "price", "timestamp"}
        assert stream.streamed[("BTCUSDT", update["timestamp"])] == update["price"]
        assert f"BTCUSDT: ${update['price']:g}" in stdout
    assert "Historical data for BTCUSDT:" in stdout
    assert seen["transport"] == ["websocket"]  # polling first, then the upgrade
    assert "done" in seen


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_dashboard_session(js_dir: Path, full_hub: HubEnv, transport: str) -> None:
    async with streaming(full_hub) as stream:
        reports, _ = await run_node(
            js_dir,
            "dashboard.mjs",
            {"BS_URL": full_hub.url, "BS_TRANSPORTS": json.dumps([transport])},
        )
    seen = by_event(reports)
    assert "error" not in seen
    symbols = sorted(SYMBOLS)
    assert seen["symbols"] == [symbols]
    [initial] = seen["initial_data"]
    assert [item["symbol"] for item in initial["data"]] == symbols
    for item in initial["data"]:
        assert set(item) == {"symbol", "currentPrice", "timeSeries", "intervals"}
        assert [group["intervalHour"] for group in item["intervals"]] == [1, 5, 9, 13, 17, 21]
    assert seen["subscribed"][0]["symbols"] == symbols
    assert seen["order"] == [["initial_data", "subscribed"]]
    [updates] = seen["price_updates"]
    assert len(updates) == 3
    for update in updates:
        assert [item["symbol"] for item in update["updates"]] == symbols
        for item in update["updates"]:
            assert stream.streamed[(item["symbol"], item["timestamp"])] == item["price"]
            assert item["priceChangePercent"] == 1.5
    [historical] = seen["historical_data"]
    assert historical["symbol"] == symbols[0]
    assert set(historical) == {"symbol", "intervalHour", "intervalStartTime", "data", "timestamp"}
    assert seen["unsubscribed"][0]["symbols"] == symbols
    assert seen["transport"] == [transport]
