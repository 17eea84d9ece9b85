"""Simulator push rate: one combined-stream connection, 242 `@miniTicker` streams, increasing rate.

Run: `python -m tests.bench.simulator_throughput [--quick]`. The simulator runs in its own
process (`binance-stats simulate`); this process only counts frames (aiohttp client, JSON
decoded for one frame in 100 to measure lag = arrival - E). `sim us/msg` (simulator CPU time
per delivered message, all work included) holds up on a busy machine where msg/s does not:
one free core sustains about 1e6 / that many messages a second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time

import aiohttp
import msgspec

SYMBOLS = 242


async def _measure(ws_url: str, streams: list[str], seconds: float) -> tuple[float, float, float]:
    url = f"{ws_url}/stream?streams={'/'.join(streams)}"
    lags: list[float] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
        warm_until = time.monotonic() + 1.0
        while time.monotonic() < warm_until:
            await ws.receive(timeout=5)
        count = 0
        started = time.monotonic()
        cpu = time.process_time()
        deadline = started + seconds
        while (now := time.monotonic()) < deadline:
            msg = await ws.receive(timeout=5)
            count += 1
            if count % 100 == 0:
                event = msgspec.json.decode(msg.data)["data"]["E"]
                lags.append(time.time() * 1000 - event)
        elapsed = now - started
        client_cpu = (time.process_time() - cpu) / elapsed
    lags.sort()
    return count / elapsed, lags[len(lags) // 2] if lags else 0.0, client_cpu


def _start(rate: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from actors.cli import main; main()",
            "simulate",
            "--port",
            "0",
            "--rate",
            str(rate),
            "--symbols",
            str(SYMBOLS),
            "--activity",
            "uniform",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "LOG_LEVEL": "warning"},
    )
    assert proc.stdout is not None
    for _ in range(20):
        line = proc.stdout.readline()
        match = re.match(r"BINANCE_WS_URL=(\S+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    raise RuntimeError("simulator did not print its URL")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 s per rate, fewer rates")
    parser.add_argument(
        "--rates", default="", help="comma-separated rates (default 1,50,150,250,400)"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",") if r] or (
        [1, 250] if args.quick else [1, 50, 150, 250, 400]
    )
    seconds = 2.0 if args.quick else 4.0
    streams = [f"{name.lower()}@miniTicker" for name in _symbol_names()]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(
        f"{'rate':>6} {'target msg/s':>13} {'got msg/s':>10} {'ratio':>6} {'p50 lag ms':>11} "
        f"{'sim CPU':>8} {'sim us/msg':>10} {'client CPU':>10}"
    )
    for rate in rates:
        proc, ws_url = _start(rate)
        try:
            cpu0, t0 = _cpu_seconds(proc.pid), time.monotonic()
            got, lag, client_cpu = asyncio.run(_measure(ws_url, streams, seconds))
            sim_cpu = (_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        finally:
            proc.terminate()
            proc.wait(10)
        target = rate * SYMBOLS
        print(
            f"{rate:>6g} {target:>13,.0f} {got:>10,.0f} {got / target:>6.2f} {lag:>11.1f} "
            f"{sim_cpu:>8.0%} {sim_cpu / got * 1e6:>10.1f} {client_cpu:>10.0%}"
        )


def _symbol_names() -> list[str]:
    from actors.simulator.catalogue import build_catalogue

    return [listing.symbol for listing in build_catalogue(SYMBOLS, 1) if listing.eligible]


if __name__ == "__main__":
    main()
