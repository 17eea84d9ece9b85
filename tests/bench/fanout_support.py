"""Clients and orchestration of the fan-out benchmarks (bench_fanout, bench_dashboard).

One server process (`fanout_servers`), clients in their own processes: raw WebSocket clients
speaking Engine.IO v4 frames as bare asyncio Protocols, counting messages and measuring latency
from the price's exchange time to receipt. A run is a paced phase then a saturation phase.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec

from tests.bench.fanout_servers import SYMBOLS, serve
from tests.helpers import free_port


@dataclass
class ClientPlan:
    kind: str
    dialect: str
    url: str
    count: int
    first: int
    per_client: int


def run_clients(plan: ClientPlan, phase: Any, ready: Any, results: Any) -> None:
    """Client process entry point: `count` raw WebSocket clients."""
    import uvloop

    uvloop.run(_clients(plan, phase, ready, results))


class Counter:
    def __init__(self) -> None:
        self.phase = 0
        self.counts = [0, 0, 0, 0]
        self.latencies: list[float] = []
        self.sample = 0


class RawClient(asyncio.Protocol):
    """A WebSocket client as a bare asyncio Protocol (no task per client, no per-message
    wake-up): the load generator must stay far lighter than the server it measures. Receipt
    time is taken once per `data_received`, before any parsing."""

    def __init__(
        self, plan: ClientPlan, symbols: list[str], state: Counter, ready: asyncio.Future[None]
    ) -> None:
        self.plan, self.symbols, self.state, self.ready = plan, symbols, state, ready
        self.buffer = b""
        self.upgraded = False
        self.replies = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        path = "/ws" if self.plan.kind == "bare" else "/socket.io/?EIO=4&transport=websocket"
        transport.write(
            f"GET {path} HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def send(self, text: str) -> None:
        payload = text.encode()
        size = len(payload)
        header = (
            bytes([0x81, 0x80 | size])
            if size < 126
            else bytes([0x81, 0xFE]) + size.to_bytes(2, "big")
        )
        assert self.transport is not None
        self.transport.write(header + b"\0\0\0\0" + payload)  # masked with a zero key

    def data_received(self, data: bytes) -> None:
        now = time.time() * 1000
        buffer = self.buffer + data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.upgraded = True
            buffer = buffer[end + 4 :]
            if self.plan.kind == "bare":
                self.send(msgspec.json.encode(self.symbols).decode())
        pos = 0
        size = len(buffer)
        while size - pos >= 2:
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            if size - start < length:
                break
            self.message(buffer[start : start + length], now)
            pos = start + length
        self.buffer = buffer[pos:]

    def message(self, data: bytes, now: float) -> None:
        if not self.ready.done():
            self.handshake(data)
            return
        if data == b"2":
            self.send("3")
            return
        state = self.state
        phase = state.phase
        state.counts[phase] += 1
        state.sample += 1
        if phase == 1:
            # the first price's exchange time; in these runs every price of a message has the
            # same one, and finding it is far cheaper than decoding a 20 KB list message
            at = data.find(b'"timestamp":') + 12
            end = at
            while 48 <= data[end] <= 57:
                end += 1
            state.latencies.append(now - int(data[at:end]))

    def handshake(self, data: bytes) -> None:
        if self.plan.kind == "bare":
            self.ready.set_result(None)  # "ready"
        elif data.startswith(b"0{"):
            self.send("40")
        elif data.startswith(b"40"):
            if self.plan.dialect == "list":
                self.send(
                    '42["subscribe",'
                    + msgspec.json.encode({"symbols": self.symbols}).decode()
                    + "]"
                )
            else:
                for symbol in self.symbols:
                    self.send('42["subscribe",{"symbol":"' + symbol + '"}]')
        else:
            self.replies += (
                1  # subscription_confirmed + historical_data, or initial_data + subscribed
            )
            expected = 2 if self.plan.dialect == "list" else 2 * len(self.symbols)
            if self.replies == expected:
                self.ready.set_result(None)


async def _client(plan: ClientPlan, index: int, state: Counter) -> asyncio.Transport:
    if plan.dialect == "list":
        symbols = SYMBOLS
    else:
        symbols = [
            SYMBOLS[(index * plan.per_client + k) % len(SYMBOLS)] for k in range(plan.per_client)
        ]
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    host, port = plan.url.removeprefix("http://").split(":")
    transport, _ = await loop.create_connection(
        lambda: RawClient(plan, symbols, state, ready), host, int(port)
    )
    await asyncio.wait_for(ready, 120)
    return transport


async def _clients(plan: ClientPlan, phase: Any, ready: Any, results: Any) -> None:
    state = Counter()
    transports = []
    for first in range(0, plan.count, 100):
        batch_of = range(plan.first + first, plan.first + min(plan.count, first + 100))
        transports.extend(await asyncio.gather(*(_client(plan, i, state) for i in batch_of)))
    ready.put(plan.count)
    while phase.value < 9:
        state.phase = min(phase.value, 3)
        await asyncio.sleep(0.02)
    results.put({"counts": state.counts, "latencies": state.latencies})
    for transport in transports:
        transport.close()


# orchestration ------------------------------------------------------------
@dataclass
class Row:
    kind: str
    clients: int
    delivered: float
    p50: float
    p99: float
    cpu: float
    kb_per_client: float
    saturation: float


async def _post(url: str, **query: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.post(url, params=query) as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def _get(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        result: dict[str, Any] = await resp.json()
        return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(
    kind: str,
    dialect: str,
    clients: int,
    *,
    per_client: int,
    paced: float,
    saturate: float,
    procs: int = 2,
) -> Row:
    """One server, `clients` clients in `procs` processes: paced then saturation phase."""
    ctx = mp.get_context("spawn")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server_ready = ctx.Event()
    server = ctx.Process(target=serve, args=(kind, dialect, port, server_ready), daemon=True)
    server.start()
    if not server_ready.wait(60):
        raise RuntimeError("server did not start")
    base = asyncio.run(_get(url + "/bench/stats"))
    phase = ctx.Value("i", 0)
    ready, results = ctx.Queue(), ctx.Queue()
    workers = []
    share = clients // procs
    for k in range(procs):
        count = share if k < procs - 1 else clients - share * (procs - 1)
        plan = ClientPlan(kind, dialect, url, count, k * share, per_client)
        worker = ctx.Process(target=run_clients, args=(plan, phase, ready, results), daemon=True)
        worker.start()
        workers.append(worker)
    for _ in workers:
        ready.get(timeout=120)
    loaded = asyncio.run(_get(url + "/bench/stats"))
    # clients read `phase` every 20 ms: each switch is followed by a quiet 0.1 s or more
    phase.value = 1
    time.sleep(0.1)
    paced_result = asyncio.run(_post(url + "/bench/paced", seconds=paced))
    time.sleep(0.3)
    phase.value = 2
    time.sleep(0.5)  # a client process with thousands of sockets can be slow to look
    started = time.monotonic()
    saturation_result = asyncio.run(_post(url + "/bench/saturate", seconds=saturate))
    saturation_wall = time.monotonic() - started
    phase.value = 3
    time.sleep(0.2)
    phase.value = 9
    counts = [0, 0, 0, 0]
    paced_latencies: list[float] = []
    for _ in workers:
        result = results.get(timeout=60)
        counts = [a + b for a, b in zip(counts, result["counts"], strict=True)]
        paced_latencies.extend(result["latencies"])
    for worker in workers:
        worker.join(10)
    asyncio.run(_post(url + "/bench/stop"))
    server.join(10)
    if server.is_alive():
        server.kill()
    del saturation_result
    return Row(
        kind=kind,
        clients=clients,
        delivered=counts[1] / paced,
        p50=percentile(paced_latencies, 0.5),
        p99=percentile(paced_latencies, 0.99),
        cpu=paced_result["cpu"],
        kb_per_client=(loaded["rss"] - base["rss"]) / clients / 1024,
        saturation=counts[2] / saturation_wall,
    )


def print_table(title: str, rows: list[Row]) -> None:
    print(title)
    print(
        f"{'server':6} {'clients':>7} {'msgs/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU %':>6} "
        f"{'KB/client':>9} {'sat msgs/s':>10} {'sat ratio':>9}"
    )
    bare = {row.clients: row for row in rows if row.kind == "bare"}
    for row in rows:
        ratio = (
            row.saturation / bare[row.clients].saturation if row.clients in bare else float("nan")
        )
        print(
            f"{row.kind:6} {row.clients:7d} {row.delivered:9.0f} {row.p50:7.1f} {row.p99:7.1f} "
            f"{row.cpu * 100:6.0f} {row.kb_per_client:9.1f} {row.saturation:10.0f} {ratio:9.2f}"
        )


def main(
    doc: str,
    title: str,
    *,
    mode: str,
    per_client: int,
    sizes: list[int],
    phases: tuple[float, float],
    quick_phases: tuple[float, float],
) -> None:
    """The command line both fan-out benchmarks share: `--quick`, `--clients N ...`; for each
    size the bare baseline then the hub, printed as they finish and as one table."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--clients", type=int, nargs="*")
    args = parser.parse_args()
    chosen = args.clients or ([100, 1000] if args.quick else sizes)
    paced, saturate = quick_phases if args.quick else phases
    rows: list[Row] = []
    for clients in chosen:
        for kind in ("bare", "hub"):
            rows.append(
                measure(kind, mode, clients, per_client=per_client, paced=paced, saturate=saturate)
            )
            print(rows[-1], flush=True)
    print_table(title, rows)
