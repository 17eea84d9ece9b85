"""`binance-stats simulate` as a real process: prints its URLs, serves, stops cleanly on SIGINT."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from actors.simulator.exchange import ExchangeSimulator
from tests.integration.simulator_support import connect

COMMAND = (sys.executable, "-c", "from actors.cli import main; main()", "simulate")


async def _spawn(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *COMMAND,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "LOG_LEVEL": "warning", "APP_ENV": "development"},
    )


async def test_simulate_serves_the_printed_urls_and_exits_0_on_sigint() -> None:
    proc = await _spawn(
        "--port", "0", "--symbols", "5", "--rate", "4", "--malformed-rate", "0", "--seed", "9"
    )
    try:
        assert proc.stdout is not None
        urls: dict[str, str] = {}
        while len(urls) < 2:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line, "simulator exited before printing its URLs"
            if "=" in line and line.startswith("BINANCE_"):
                key, value = line.strip().split("=", 1)
                urls[key] = value
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{urls['BINANCE_REST_URL']}/api/v3/exchangeInfo") as resp:
                body = await resp.json()
        assert sum(1 for entry in body["symbols"] if entry["quoteAsset"] == "USDT") >= 5
        async with connect(f"{urls['BINANCE_WS_URL']}/ws/btcusdt@miniTicker") as client:
            assert (await client.data(1))[0]["s"] == "BTCUSDT"
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_bad_options_exit_2_with_a_message() -> None:
    proc = await _spawn("--malformed-rate", "1.5")
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 2 and b"--malformed-rate" in out and b"Traceback" not in out


async def test_a_busy_port_is_one_line_and_exit_1() -> None:
    async with ExchangeSimulator(symbols=3) as sim:
        port = sim.rest_url.rsplit(":", 1)[1]
        proc = await _spawn("--port", port, "--symbols", "3")
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    assert proc.returncode == 1 and b"cannot listen" in out and b"Traceback" not in out


async def test_start_twice_is_refused_and_a_failed_start_can_be_retried() -> None:
    async with ExchangeSimulator(symbols=3) as sim:
        with pytest.raises(RuntimeError):
            await sim.start()
        port = int(sim.rest_url.rsplit(":", 1)[1])
        other = ExchangeSimulator(symbols=3)
        with pytest.raises(OSError):
            await other.start(port=port)
        await other.start()
        await other.stop()
