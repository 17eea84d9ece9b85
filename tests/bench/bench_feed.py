"""Feed reader throughput: one FeedReader against the simulator at a high rate, beside a bare
aiohttp WebSocket client (receive only) on the same streams, in the same run.

Run: `python -m tests.bench.bench_feed [--quick] [--rate 400] [--symbols 242] [--seconds 5] [--repeat 2]`.

The simulator runs in a child process; this process holds only the client under test (bare
client first, then the reader), on uvloop when installed. For each: messages per second over
the measured window, CPU (this process) per message, and the capacity that CPU cost implies
(1 / CPU per message). Loss: after the window the simulator stops sending data, the client
drains, and the frames the simulator wrote to that connection are compared with the frames the
client counted (the reader counts every frame it decoded: data, coalesced, malformed, replies).
Targets: reader >= 50,000 messages/s, >= 0.5x the bare client, 0 lost.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

from actors.bus.memory import MemoryBus
from actors.feed.protocol import stream_name
from actors.feed.reader import FeedReader
from actors.feed.rest_gate import RestGate
from actors.feed.status import FeedStatusBoard
from actors.feed.symbols import seed_symbols
from actors.store import IntervalScheme, open_store


def _run(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover
        return asyncio.run(main())
    return uvloop.run(main())


# -- the simulator, in its own process, driven over a pipe ------------------------------------
def _simulator_process(pipe: Connection, symbols: int, rate: float) -> None:
    from actors.simulator.exchange import ExchangeSimulator

    async def serve() -> None:
        sim = ExchangeSimulator(symbols=symbols, seed=1, rate=rate, activity="uniform")
        await sim.start()
        pipe.send((sim.ws_url, sim.rest_url))
        loop = asyncio.get_running_loop()
        while True:
            command, arg = await loop.run_in_executor(None, pipe.recv)
            if command == "frames":
                pipe.send(sim.frames_sent)
            elif command == "stall":
                sim.stall_data = bool(arg)
                pipe.send(None)
            else:
                break
        await sim.stop()
        pipe.send(None)

    _run(serve)


class Simulator:
    """Parent side of the simulator process."""

    def __init__(self, symbols: int, rate: float) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_simulator_process, args=(child, symbols, rate), daemon=True)
        self.proc.start()
        self.ws_url, self.rest_url = self.pipe.recv()

    async def ask(self, command: str, arg: object = None) -> Any:
        self.pipe.send((command, arg))
        return await asyncio.get_running_loop().run_in_executor(None, self.pipe.recv)

    def close(self) -> None:
        self.pipe.send(("stop", None))
        self.pipe.recv()
        self.proc.join(10)


# -- measurement -------------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    rate: float
    cpu_us: float
    sent: int
    received: int
    points: int = 0

    @property
    def lost(self) -> int:
        return self.sent - self.received


async def _measure(
    name: str, sim: Simulator, sent0: int, count: Callable[[], int], warm: float, seconds: float
) -> Result:
    """Window rate and CPU, then stop the data and drain until every written frame is counted."""
    await sim.ask("stall", False)
    await asyncio.sleep(warm)
    c0, cpu0, t0 = count(), time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    c1, cpu1, t1 = count(), time.process_time(), time.monotonic()
    await sim.ask("stall", True)
    sent = await sim.ask("frames") - sent0
    for _ in range(100):  # bounded drain: 10 s at most for what is still in flight
        if count() >= sent:
            break
        await asyncio.sleep(0.1)
        sent = await sim.ask("frames") - sent0
    messages = c1 - c0
    cpu_us = (cpu1 - cpu0) / max(messages, 1) * 1e6
    return Result(name, messages / (t1 - t0), cpu_us, sent, count())


async def bench_bare(sim: Simulator, streams: list[str], warm: float, seconds: float) -> Result:
    """Baseline: receive every frame, do nothing with it."""
    received = 0

    async def receive(ws: aiohttp.ClientWebSocketResponse) -> None:
        nonlocal received
        async for _ in ws:
            received += 1

    sent0 = await sim.ask("frames")
    url = f"{sim.ws_url}/stream?streams={'/'.join(streams)}"
    async with aiohttp.ClientSession() as session, session.ws_connect(url, max_msg_size=0) as ws:
        task = asyncio.get_running_loop().create_task(receive(ws))
        result = await _measure("bare aiohttp client", sim, sent0, lambda: received, warm, seconds)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return result


async def bench_reader(sim: Simulator, warm: float, seconds: float) -> Result:
    """One FeedReader (shard 0/1, every symbol), publishing to an in-memory bus."""
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'bench.db'}", IntervalScheme())
        await store.open()
        try:
            async with aiohttp.ClientSession() as session:
                await seed_symbols(store, session, sim.rest_url)
                sent0 = await sim.ask("frames")
                reader = FeedReader(
                    "feed-bench",
                    (0, 1),
                    sim.ws_url,
                    sim.rest_url,
                    MemoryBus(),
                    store,
                    FeedStatusBoard(),
                    RestGate(),
                    session,
                    silence_timeout=30.0,
                )
                await reader.start()
                decoder = reader.decoder

                def count() -> int:
                    return decoder.messages + decoder.replies + sum(decoder.malformed.values())

                try:
                    published0 = reader.published
                    result = await _measure("FeedReader", sim, sent0, count, warm, seconds)
                    result.points = reader.published - published0
                finally:
                    await reader.stop()
        finally:
            await store.close()
    return result


def _table(results: list[Result], baseline: Result) -> None:
    print(
        f"{'client':<22} {'msg/s':>9} {'CPU us/msg':>11} {'capacity msg/s':>15} "
        f"{'vs bare':>8} {'sent':>9} {'received':>9} {'lost':>6}"
    )
    for r in results:
        capacity = 1e6 / r.cpu_us if r.cpu_us else 0.0
        ratio = r.rate / baseline.rate if baseline.rate else 0.0
        print(
            f"{r.name:<22} {r.rate:>9,.0f} {r.cpu_us:>11.2f} {capacity:>15,.0f} {ratio:>7.2f}x "
            f"{r.sent:>9,} {r.received:>9,} {r.lost:>6,}"
        )


async def _main(args: argparse.Namespace) -> tuple[list[Result], list[Result]]:
    """Alternate bare and reader windows `--repeat` times (the machine's load varies)."""
    sim = Simulator(args.symbols, args.rate)
    bares: list[Result] = []
    readers: list[Result] = []
    try:
        from actors.simulator.catalogue import build_catalogue

        names = [lst.symbol for lst in build_catalogue(args.symbols, 1) if lst.eligible]
        streams = [stream_name(n) for n in names]
        await sim.ask("stall", True)
        for _ in range(args.repeat):
            bares.append(await bench_bare(sim, streams, args.warm, args.seconds))
            readers.append(await bench_reader(sim, args.warm, args.seconds))
    finally:
        sim.close()
    return bares, readers


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2 s windows")
    parser.add_argument("--rate", type=float, default=400.0, help="events per second per symbol")
    parser.add_argument("--symbols", type=int, default=242)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per client")
    parser.add_argument("--warm", type=float, default=1.0, help="warm-up before each window")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of bare + reader windows")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.warm, args.repeat = 2.0, 0.5, 1
    offered = args.symbols * args.rate
    print(
        f"simulator: {args.symbols} symbols x {args.rate:g} events/s = {offered:,.0f} messages/s offered"
    )
    bares, readers = _run(lambda: _main(args))
    for index, (bare, reader) in enumerate(zip(bares, readers, strict=True), 1):
        print(f"-- round {index} of {len(bares)}")
        _table([bare, reader], bare)
    bare = max(bares, key=lambda r: r.rate)
    reader = max(readers, key=lambda r: r.rate)
    lost = sum(r.lost for r in readers)
    print("-- best window of each")
    _table([bare, reader], bare)
    ok_rate = reader.rate >= 50_000
    ok_ratio = reader.rate >= 0.5 * bare.rate
    ok_cpu = reader.cpu_us <= 2.0 * bare.cpu_us
    print(
        f"targets: reader >= 50,000 msg/s: {'yes' if ok_rate else 'no'}; "
        f">= 0.5x bare: {'yes' if ok_ratio else 'no'} (CPU per message <= 2x bare: "
        f"{'yes' if ok_cpu else 'no'}); no message lost in any round: {'yes' if lost == 0 else 'no'}"
    )


if __name__ == "__main__":
    main()
