"""Hostile clients (issue 12): honest websocket clients receiving updates while hostile clients
run every attack of the issue at once, against `binance-stats run --simulate` in a subprocess.

    python -m tests.bench.bench_abuse            # 100 honest clients, 60 s phases
    python -m tests.bench.bench_abuse --quick    # 100 honest clients, 15 s phases

One run: the server starts; phase 1 measures the honest load alone (delivery latency of every
price_update = receive time - its exchange timestamp, honest disconnects, the server's RSS);
phase 2 the same honest load while an attacker process (its own interpreter, so its CPU is not
the honest clients') runs every attack; then the server settles. Honest clients connect from
127.0.0.10-19 (10 each), attackers from other 127.x addresses, so per-address limits apply to
the attackers as they would on the internet. An admin logs in every 2 s in both phases.
Targets: honest p99 within 2x of phase 1, RSS growth under 50 MB, 0 honest disconnects.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import socketio

from tests.helpers import free_port

ADMIN = {"email": "admin@example.com", "password": "admin-password-1"}
PER_CLIENT = 10  # symbols each honest client subscribes to (documented dialect)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def session_at(address: str, **kwargs: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(local_addr=(address, 0), limit=0), **kwargs
    )


# ---- the honest side ------------------------------------------------------------------------


@dataclass
class Honest:
    """Honest clients' latencies (ms), disconnects and admin logins for one phase."""

    latencies: list[float] = field(default_factory=list)
    disconnects: int = 0
    confirmed: int = 0
    cpu: float = 0.0
    logins: dict[int, int] = field(default_factory=dict)
    recording: bool = False


async def honest_clients(
    url: str, symbols: list[str], count: int, stats: Honest
) -> list[socketio.AsyncClient]:
    clients = []
    for i in range(count):
        http = session_at(f"127.0.0.{10 + i // 10}")
        client = socketio.AsyncClient(reconnection=False, http_session=http)

        async def on_price(data: dict[str, Any]) -> None:
            if stats.recording:
                stats.latencies.append(time.time() * 1000 - data["timestamp"])

        async def on_disconnect(*_: Any) -> None:
            stats.disconnects += 1

        async def on_confirmed(*_: Any) -> None:
            stats.confirmed += 1

        client.on("subscription_confirmed", on_confirmed)
        client.on("price_update", on_price)
        client.on("disconnect", on_disconnect)
        await client.connect(url, transports=["websocket"], wait_timeout=10)
        for k in range(PER_CLIENT):
            await client.emit("subscribe", {"symbol": symbols[(i * PER_CLIENT + k) % len(symbols)]})
        clients.append(client)
    return clients


async def admin_logins(url: str, stats: Honest, until: float) -> None:
    async with session_at("127.0.0.9") as http:
        while time.monotonic() < until:
            try:
                async with http.post(f"{url}/api/v1/users/login", json=ADMIN) as response:
                    await response.read()
                    stats.logins[response.status] = stats.logins.get(response.status, 0) + 1
            except aiohttp.ClientError:
                stats.logins[0] = stats.logins.get(0, 0) + 1
            await asyncio.sleep(2.0)


# ---- the attacks (run in a separate process: `--attacker URL SECONDS`) ----------------------


class Attacks:
    """Every attack of issue 12, each a loop bounded by `until`."""

    def __init__(
        self, url: str, symbols: list[str], until: float, only: set[str] | None = None
    ) -> None:
        self.only = only
        self.url = url
        self.symbols = symbols
        self.until = until
        self.counts: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def live(self) -> bool:
        return time.monotonic() < self.until

    async def guarded(self, what: str, attack: Callable[[], Awaitable[None]]) -> None:
        if self.only is not None and what not in self.only:
            return
        while self.live():
            try:
                await attack()
            except Exception as exc:  # an attacker carries on whatever the server answers
                self.count(f"{what}: {type(exc).__name__}")
                await asyncio.sleep(0.2)

    async def _polling_open(self, http: aiohttp.ClientSession) -> str | None:
        base = f"{self.url}/socket.io/?EIO=4&transport=polling"
        async with http.get(base) as response:
            text = await response.text()
            if response.status != 200:
                self.count("1 polling: handshake refused")
                return None
        sid = str(msgspec.json.decode(text[1:])["sid"])
        async with http.post(f"{base}&sid={sid}", data="40") as response:
            await response.read()
        return f"{base}&sid={sid}"

    async def polling_memory(self, address: str) -> None:
        """1: list-form subscribes to every symbol, never polling."""
        async with session_at(address) as http:
            while self.live():
                url = await self._polling_open(http)
                if url is None:
                    await asyncio.sleep(0.5)
                    continue
                for _ in range(6):
                    shuffled = random.sample(self.symbols, len(self.symbols))
                    body = "42" + msgspec.json.encode(["subscribe", {"symbols": shuffled}]).decode()
                    async with http.post(url, data=body) as response:
                        await response.read()
                        if response.status != 200:
                            self.count("1 polling: disconnected")
                            break
                    self.count("1 polling: subscribe sent")
                await asyncio.sleep(0.5)

    async def subscribe_race(self, address: str) -> None:
        """2: a list-form subscribe racing its own disconnect."""
        async with session_at(address) as http:
            while self.live():
                url = await self._polling_open(http)
                if url is None:
                    await asyncio.sleep(0.5)
                    continue
                body = "42" + msgspec.json.encode(["subscribe", {"symbols": self.symbols}]).decode()
                send = asyncio.ensure_future(http.post(url, data=body))
                await asyncio.sleep(0.002)
                async with http.post(url, data="1") as response:
                    await response.read()
                with_response = await send
                with_response.release()
                self.count("2 race: tries")

    async def stale_token(self, address: str) -> None:
        """3: a token from before a promotion (the squatter keeps trying an admin route)."""
        async with session_at(address) as http:
            email = f"squat{random.randrange(10**9)}@example.com"
            body = {"name": "S", "email": email, "password": "squatter-pw-1"}
            async with http.post(f"{self.url}/api/v1/users/register", json=body) as response:
                await response.read()
            async with http.post(f"{self.url}/api/v1/users/login", json=body) as response:
                token = (await response.json()).get("data", {}).get("accessToken", "")
            symbol = {"symbol": "EVILUSDT", "baseAsset": "EVIL", "quoteAsset": "USDT"}
            while self.live():
                headers = {"Authorization": f"Bearer {token}"}
                async with http.post(
                    f"{self.url}/api/v1/symbols", json=symbol, headers=headers
                ) as response:
                    await response.read()
                    self.count(f"3 stale token: {response.status}")
                await asyncio.sleep(0.5)

    async def registration_flood(self) -> None:
        """4: 70 concurrent registrations a second, from rotating addresses."""
        round_no = 0
        while self.live():
            round_no += 1

            async def one(i: int, round_no: int = round_no) -> None:
                async with session_at(f"127.0.5.{1 + (round_no * 70 + i) % 250}") as http:
                    body = {"name": "F", "email": f"f{round_no}-{i}@x.io", "password": "pw-pw-pw-1"}
                    async with http.post(
                        f"{self.url}/api/v1/users/register", json=body
                    ) as response:
                        await response.read()
                        self.count(f"4 registration: {response.status}")

            await asyncio.gather(*(one(i) for i in range(70)), return_exceptions=True)
            await asyncio.sleep(1.0)

    async def lockout(self, address: str) -> None:
        """5: wrong passwords for the admin's email."""
        async with session_at(address) as http:
            wrong = {**ADMIN, "password": "guess-guess"}
            while self.live():
                async with http.post(f"{self.url}/api/v1/users/login", json=wrong) as response:
                    await response.read()
                    self.count(f"5 lockout: {response.status}")
                await asyncio.sleep(0.05)

    async def bad_inputs(self, address: str) -> None:
        """6: inputs that used to raise tracebacks, as fast as the socket may send."""
        bad = [
            ("get_interval_data", {"symbol": self.symbols[0], "intervalStartTime": 10**30}),
            ("get_interval_data", {"symbol": self.symbols[0], "intervalStartTime": "²"}),
            ("get_interval_data", {"symbol": self.symbols[0], "intervalStartTime": "5" * 5000}),
            ("subscribe", [1, 2]),
        ]
        async with session_at(address) as http:
            client = socketio.AsyncClient(reconnection=False, http_session=http)
            client.on("error", lambda *_: self.count("6 bad input: error event"))
            await client.connect(self.url, transports=["websocket"], wait_timeout=10)
            try:
                while self.live() and client.connected:
                    for event, payload in bad:
                        await client.emit(event, payload)
                    await asyncio.sleep(0.25)
            finally:
                await client.disconnect()

    async def expensive_reads(self, address: str) -> None:
        """7: shuffled full-set subscribes and 24-hour /price-data ranges."""
        async with session_at(address) as http:
            client = socketio.AsyncClient(reconnection=False, http_session=http)
            await client.connect(self.url, transports=["websocket"], wait_timeout=10)
            try:
                while self.live() and client.connected:
                    shuffled = random.sample(self.symbols, len(self.symbols))
                    await client.emit("subscribe", {"symbols": shuffled})
                    await client.emit("get_historical", {"symbol": random.choice(self.symbols)})
                    now = int(time.time() * 1000)
                    params = {"startTime": str(now - 86_400_000), "endTime": str(now)}
                    async with http.get(
                        f"{self.url}/api/v1/price-data/{self.symbols[0]}", params=params
                    ) as response:
                        await response.read()
                        self.count(f"7 price-data 24h: {response.status}")
                    await asyncio.sleep(0.1)
            finally:
                await client.disconnect()

    async def malformed_http(self) -> None:
        """8: malformed requests."""
        host, port = self.url.removeprefix("http://").split(":")
        while self.live():
            reader, writer = await asyncio.open_connection(host, int(port), local_addr=("127.0.6.1", 0))
            writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
            await reader.read(100)
            writer.close()
            self.count("8 malformed HTTP")
            await asyncio.sleep(0.1)

    async def run(self) -> None:
        loops = [
            *(self.guarded("1", lambda a=f"127.0.1.{i}": self.polling_memory(a)) for i in range(1, 6) for _ in range(20)),
            *(self.guarded("2", lambda a=f"127.0.2.{i}": self.subscribe_race(a)) for i in range(1, 5)),
            self.guarded("3", lambda: self.stale_token("127.0.3.1")),
            self.guarded("4", self.registration_flood),
            *(self.guarded("5", lambda a=f"127.0.4.{i}": self.lockout(a)) for i in range(1, 11)),
            *(self.guarded("6", lambda a=f"127.0.7.{i}": self.bad_inputs(a)) for i in range(1, 6)),
            *(self.guarded("7", lambda a=f"127.0.8.{i}": self.expensive_reads(a)) for i in range(1, 6)),
            self.guarded("8", self.malformed_http),
        ]  # fmt: skip
        await asyncio.gather(*loops)


def attacker_main(url: str, seconds: float, symbols: list[str]) -> None:
    only = os.environ.get("BENCH_ABUSE_ONLY")
    attacks = Attacks(
        url, symbols, time.monotonic() + seconds, set(only.split(",")) if only else None
    )
    asyncio.run(attacks.run())
    print(msgspec.json.encode(attacks.counts).decode())


# ---- the run -----------------------------------------------------------------------------


def start_server(workdir: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
        REDIS_HOST="",
        REDIS_URL="",
        LOG_LEVEL="warning",
        SUPER_ADMIN_EMAIL=ADMIN["email"],
        SUPER_ADMIN_PASSWORD=ADMIN["password"],
        JWT_ACCESS_SECRET="bench-secret-" + "b" * 32,
    )
    return subprocess.Popen(
        [sys.executable, "-m", "actors", "run", "--simulate"],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "server.log", "wb"),
    )


async def wait_for_symbols(url: str, deadline: float) -> list[str]:
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{url}/api/v1/symbols") as response:
                    if response.status == 200:
                        names = [s["symbol"] for s in (await response.json())["data"]]
                        if len(names) >= 100:
                            return names
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("the server did not list its symbols in time")


async def sample_rss(pid: int, samples: list[float], until: float) -> None:
    while time.monotonic() < until:
        samples.append(rss_mb(pid))
        await asyncio.sleep(0.5)


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def measure(
    url: str, pid: int, stats: Honest, seconds: float, attack: list[str] | None
) -> tuple[list[float], dict[str, int]]:
    stats.latencies.clear()
    stats.logins.clear()
    stats.disconnects = 0
    until = time.monotonic() + seconds
    rss: list[float] = []
    attacker = None
    if attack is not None:
        # the attackers' CPU stands in for other machines': lowest priority on this one
        attacker = await asyncio.create_subprocess_exec(
            "nice", "-n", "19", sys.executable, "-m", "tests.bench.bench_abuse", "--attacker",
            url, str(seconds), ",".join(attack), stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
    stats.recording = True
    cpu = cpu_seconds(pid)
    started = time.monotonic()
    await asyncio.gather(sample_rss(pid, rss, until), admin_logins(url, stats, until))
    stats.recording = False
    stats.cpu = (cpu_seconds(pid) - cpu) / (time.monotonic() - started)
    counts: dict[str, int] = {}
    if attacker is not None:
        out, _ = await asyncio.wait_for(attacker.communicate(), 60)
        lines = out.decode().strip().splitlines()
        counts = msgspec.json.decode(lines[-1]) if lines else {}
    return rss, counts


async def run(count: int, seconds: float, settle: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-abuse-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(workdir, port)
    try:
        symbols = await wait_for_symbols(url, time.monotonic() + 60)
        await asyncio.sleep(3.0)  # prices flowing
        stats = Honest()
        clients = await honest_clients(url, symbols, count, stats)
        for _ in range(900):  # at most 180 s: every history read done, the load is steady
            if stats.confirmed >= count * PER_CLIENT:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(2.0)
        confirmed = stats.confirmed
        quiet_rss, _ = await measure(url, server.pid, stats, seconds, None)
        quiet = (list(stats.latencies), stats.disconnects, dict(stats.logins), stats.cpu)
        attack_rss, counts = await measure(url, server.pid, stats, seconds, symbols)
        attacked = (list(stats.latencies), stats.disconnects, dict(stats.logins), stats.cpu)
        await asyncio.sleep(settle)
        settled = rss_mb(server.pid)
        for client in clients:
            await client.disconnect()
            await client.eio.http.close()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    base_rss = statistics.median(quiet_rss)
    print(f"\nhostile clients: {count} honest websocket clients x {PER_CLIENT} symbols "
          f"({confirmed} subscriptions confirmed before measuring), {seconds:.0f} s per phase\n")  # fmt: skip
    print("| phase | honest msgs | p50 ms | p99 ms | p99 vs quiet | RSS MB median / peak "
          "| server CPU | honest disconnects | admin logins |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    q99 = quantile(quiet[0], 0.99)
    for name, (lat, disc, logins, cpu), rss in (
        ("no attack", quiet, quiet_rss),
        ("every attack", attacked, attack_rss),
    ):
        p99 = quantile(lat, 0.99)
        print(
            f"| {name} | {len(lat):,} | {quantile(lat, 0.5):.0f} | {p99:.0f} | {p99 / q99:.2f}x "
            f"| {statistics.median(rss):.0f} / {max(rss):.0f} | {cpu:.0%} | {disc} | {logins} |"
        )
    growth = max(attack_rss) - base_rss
    print(f"\nRSS growth under attack (peak - quiet median): {growth:+.1f} MB; "
          f"{settle:.0f} s after: {settled:.0f} MB")  # fmt: skip
    print("\nattacks (counts of outcomes):")
    for key in sorted(counts):
        print(f"  {key}: {counts[key]:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="15 s phases")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--attacker", nargs=3, metavar=("URL", "SECONDS", "SYMBOLS"))
    args = parser.parse_args()
    if args.attacker:
        url, seconds, symbols = args.attacker
        attacker_main(url, float(seconds), symbols.split(","))
        return
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    asyncio.run(run(args.clients, seconds, settle=5.0 if args.quick else 15.0))


if __name__ == "__main__":
    main()
