"""The whole process tree for tests: the simulator and supervisord running supervisor.conf.

Each `Tree` gets its own temporary directory (a copy of supervisor.conf, so its socket, pid
and logs live there), its own Redis key prefix, SQLite file, front port and metrics ports.
Teardown is `supervisorctl shutdown`, then SIGKILL of anything left, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_sync

from tests.helpers import eventually, free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
STATUS_LINE = re.compile(r"^(\S+)\s+(\w+)\s*(?:pid (\d+))?")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def metrics_base(shards: int) -> int:
    """A METRICS_BASE_PORT whose program ports (+0..+2, +10..+10+shards) are all free now."""
    for _ in range(200):
        base = random.randrange(20_000, 60_000)
        ports = [base, base + 1, base + 2, *(base + 10 + k for k in range(shards))]
        if all(_bindable(port) for port in ports):
            return base
    raise RuntimeError("no free range of metrics ports")


def command(name: str) -> str:
    """A console script of this environment (skips the test when it is not installed)."""
    found = shutil.which(name, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        pytest.skip(f"{name} is not installed")
    return found


@dataclass
class Simulator:
    """`binance-stats simulate` in its own process."""

    proc: subprocess.Popen[str]
    ws_url: str
    rest_url: str

    @classmethod
    def start(
        cls,
        symbols: int,
        rate: float = 1.0,
        timeout: float = 30.0,
        extra_args: tuple[str, ...] = (),
        activity: str | None = "uniform",
    ) -> Simulator:
        """`extra_args` are more `simulate` options (faults such as `--drop-every 60`); the tree
        tests count prices of every symbol, so they ask for `uniform` activity (None: the
        simulator's default, for an earlier revision without the option)."""
        proc = subprocess.Popen(
            [
                command("binance-stats"),
                "simulate",
                "--port",
                "0",
                "--symbols",
                str(symbols),
                "--rate",
                str(rate),
                "--seed",
                "7",
                *(("--activity", activity) if activity else ()),
                *extra_args,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
        urls: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while len(urls) < 2:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                proc.kill()
                raise AssertionError("the simulator did not print its URLs") from None
            key, _, value = line.strip().partition("=")
            if key in ("BINANCE_WS_URL", "BINANCE_REST_URL"):
                urls[key] = value
        return cls(proc, urls["BINANCE_WS_URL"], urls["BINANCE_REST_URL"])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)


@dataclass
class Tree:
    """A running tree; `env` is what every program sees."""

    root: Path
    env: dict[str, str]
    simulator: Simulator
    port: int
    metrics_base: int
    shards: int
    redis_url: str
    prefix: str
    db_path: Path
    supervisord: subprocess.Popen[bytes] | None = None
    seen_pids: set[int] = field(default_factory=set)

    @property
    def conf(self) -> Path:
        return self.root / "supervisor.conf"

    @property
    def front_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def programs(self) -> list[str]:
        feeds = [f"feed:feed_{k:02d}" for k in range(self.shards)]
        return ["db-writer", "cache-writer", *feeds, "front"]

    def metrics_ports(self) -> dict[str, int]:
        """Program → its metrics port (the offsets of actors/topology/roles.py)."""
        ports = {
            "front": self.metrics_base,
            "cache-writer": self.metrics_base + 1,
            "db-writer": self.metrics_base + 2,
        }
        ports.update({f"feed_{k:02d}": self.metrics_base + 10 + k for k in range(self.shards)})
        return ports

    # supervisorctl ------------------------------------------------------------
    def ctl(self, *args: str, timeout: float = 30.0) -> str:
        result = subprocess.run(
            [command("supervisorctl"), "-c", str(self.conf), *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        return result.stdout + result.stderr

    def status(self) -> dict[str, tuple[str, int | None]]:
        states: dict[str, tuple[str, int | None]] = {}
        for line in self.ctl("status").splitlines():
            match = STATUS_LINE.match(line)
            if match and match.group(2).isupper():
                pid = int(match.group(3)) if match.group(3) else None
                states[match.group(1)] = (match.group(2), pid)
                if pid:
                    self.seen_pids.add(pid)
        return states

    def wait_running(
        self, timeout: float = 60.0, *, not_pid: dict[str, int] | None = None
    ) -> dict[str, int]:
        """Block until every program is RUNNING (with a pid other than `not_pid`'s); their pids."""
        deadline = time.monotonic() + timeout
        states: dict[str, tuple[str, int | None]] = {}
        while time.monotonic() < deadline:
            states = self.status()
            pids = {
                name: pid for name, (state, pid) in states.items() if state == "RUNNING" and pid
            }
            fresh = all(
                pids.get(name) not in (None, (not_pid or {}).get(name)) for name in self.programs()
            )
            if fresh:
                return pids
            time.sleep(0.2)
        raise AssertionError(f"programs not all RUNNING after {timeout}s: {states}\n{self.logs()}")

    def kill9(self, name: str, timeout: float = 60.0) -> tuple[int, int]:
        """SIGKILL one program; wait until supervisord runs it again. (old pid, new pid)"""
        old = self.wait_running(timeout)[name]
        os.kill(old, signal.SIGKILL)
        new = self.wait_running(timeout, not_pid={name: old})[name]
        return old, new

    def logs(self, lines: int = 15) -> str:
        return tail_logs(self.root, lines)

    # lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        # no seed-symbols: on a fresh store, feed shard 0 loads the symbols from exchangeInfo
        self.supervisord = subprocess.Popen(
            [command("supervisord"), "-n", "-c", str(self.conf)],
            env=self.env,
            cwd=self.root,
            start_new_session=True,
            stdout=(self.root / "logs" / "supervisord.out").open("wb"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while not (self.root / "run" / "supervisor.sock").exists():
            if time.monotonic() > deadline or self.supervisord.poll() is not None:
                raise AssertionError("supervisord did not start:\n" + self.logs())
            time.sleep(0.05)

    def _ours(self, pid: int) -> bool:
        """A program of this tree: it runs in this tree's directory (supervisor.conf's %(here)s)."""
        try:
            return Path(os.readlink(f"/proc/{pid}/cwd")) == self.root.resolve()
        except OSError:
            return False

    def stop(self) -> None:
        if self.supervisord is not None:
            with contextlib.suppress(Exception):
                self.status()  # remember the latest pids for the SIGKILL sweep
            with contextlib.suppress(Exception):
                self.ctl("shutdown", timeout=15)
            try:
                self.supervisord.wait(40)
            except subprocess.TimeoutExpired:
                self.supervisord.kill()
                self.supervisord.wait(10)
        for pid in self.seen_pids:
            if self._ours(pid):  # a pid seen earlier may belong to someone else by now
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        self.simulator.stop()
        drop_prefix(self.redis_url, self.prefix)


def tail_logs(root: Path, lines: int = 15, label: str = "") -> str:
    """The last lines of every log under root/logs, for an assertion's message."""
    parts = []
    for path in sorted((root / "logs").glob("*.log")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {label}{path.name}\n" + "\n".join(tail))
    return "\n".join(parts)


def tree_env(
    simulator: Simulator,
    redis_url: str,
    prefix: str,
    db_path: Path,
    *,
    port: int,
    metrics_base: int,
    shards: int,
) -> dict[str, str]:
    """What every program of a test tree sees: loopback ports, its own Redis prefix and SQLite
    file, the simulator as the exchange, short intervals."""
    return {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REDIS_", "DATABASE_", "BINANCE_"))
        },
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "APP_ENV": "test",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_BASE_PORT": str(metrics_base),
        "FEED_SHARDS": str(shards),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "BINANCE_WS_URL": simulator.ws_url,
        "BINANCE_REST_URL": simulator.rest_url,
        "DB_FLUSH_SECONDS": "1",
        "JWT_ACCESS_SECRET": "tree-test-secret-" + "x" * 32,
        "BCRYPT_SALT_ROUNDS": "4",
        "LOG_LEVEL": "info",
        "FEED_BACKOFF_MAX_SECONDS": "2",
    }


def drop_prefix(redis_url: str, prefix: str) -> None:
    """Delete a test's Redis keys."""
    client = redis_sync.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextlib.contextmanager
def running_tree(
    tmp: Path,
    redis_url: str,
    *,
    shards: int = 2,
    symbols: int = 12,
    rate: float = 1.0,
    extra_env: dict[str, str] | None = None,
    simulator_args: tuple[str, ...] = (),
    activity: str | None = "uniform",
) -> Iterator[Tree]:
    """Start the simulator and the whole tree under the real supervisord; tear both down after."""
    command("supervisord")
    root = tmp / "tree"
    (root / "run").mkdir(parents=True)
    (root / "logs").mkdir()
    shutil.copy(ROOT / "supervisor.conf", root / "supervisor.conf")
    simulator = Simulator.start(symbols, rate, extra_args=simulator_args, activity=activity)
    port, base = free_port(), metrics_base(shards)
    prefix = f"test:tree:{uuid.uuid4().hex[:10]}:"
    db_path = root / "store.db"
    env = tree_env(
        simulator, redis_url, prefix, db_path, port=port, metrics_base=base, shards=shards
    )
    env.update(extra_env or {})
    tree = Tree(root, env, simulator, port, base, shards, redis_url, prefix, db_path)
    try:
        tree.start()
        yield tree
    finally:
        tree.stop()


@contextlib.contextmanager
def extra_front(tree: Tree, name: str = "front-2", **env: str) -> Iterator[str]:
    """`binance-stats actor front` once more beside the tree's, on its own HTTP and metrics
    ports (`env` overrides the tree's variables); yields its URL."""
    port = free_port()
    environ = {**tree.env, "PORT": str(port), "METRICS_BASE_PORT": str(metrics_base(0)), **env}
    log = (tree.root / "logs" / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        ["binance-stats", "actor", "front"],
        env=environ,
        cwd=tree.root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def shared_tree(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Tree]:
    """One tree for the tests that only watch it (several fronts, Prometheus)."""
    with running_tree(tmp_path_factory.mktemp("shared"), redis_url, shards=2, symbols=12) as tree:
        tree.wait_running(60)
        yield tree


async def tree_symbols(tree: Tree, timeout: float = 30.0) -> list[str]:
    """The active symbols the tree follows (seeded from the simulator by feed shard 0), sorted."""
    from actors.store import IntervalScheme, open_store

    store = open_store(f"sqlite:///{tree.db_path}", IntervalScheme())
    await store.open()

    async def listed() -> list[str]:
        return [record.symbol for record in await store.list_symbols(active_only=True)]

    try:
        return await eventually(listed, timeout=timeout, what="symbols seeded by the feed")
    finally:
        await store.close()
