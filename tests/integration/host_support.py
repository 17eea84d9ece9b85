"""Tree hosts for tests: directories each run by `binance-stats tree start --dir`, as separate
machines would be, sharing one Redis prefix, one SQLite store and the simulator.

A host is torn down with `binance-stats tree stop`, then SIGKILL of whatever of it is left;
`kill()` is a machine dying: supervisord and every program it ran get SIGKILL at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.tree_support import STATUS_LINE, command, tail_logs


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@dataclass
class Host:
    """One tree host: `root` is its directory, `env` what its supervisord and programs see."""

    root: Path
    env: dict[str, str]
    seen: set[int] = field(default_factory=set)

    def tree(self, action: str, timeout: float = 150.0) -> subprocess.CompletedProcess[str]:
        """`binance-stats tree ACTION` for this host."""
        return subprocess.run(
            [command("binance-stats"), "tree", action, "--dir", str(self.root)],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        result = self.tree("start")
        assert result.returncode == 0, result.stdout + result.stderr + self.logs()

    def supervisord_pid(self) -> int | None:
        try:
            pid = int((self.root / "run" / "supervisord.pid").read_text())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def status(self) -> dict[str, tuple[str, int | None]]:
        states: dict[str, tuple[str, int | None]] = {}
        for line in self.tree("status", timeout=30).stdout.splitlines():
            match = STATUS_LINE.match(line)
            if match and match.group(2).isupper():
                pid = int(match.group(3)) if match.group(3) else None
                states[match.group(1)] = (match.group(2), pid)
                if pid:
                    self.seen.add(pid)
        return states

    def wait_running(self, names: list[str], timeout: float = 60.0) -> dict[str, int]:
        """Block until the programs `names` (as supervisorctl shows them) run; their pids."""
        deadline = time.monotonic() + timeout
        states: dict[str, tuple[str, int | None]] = {}
        while time.monotonic() < deadline:
            states = self.status()
            pids = {n: pid for n, (state, pid) in states.items() if state == "RUNNING" and pid}
            if set(names) <= set(pids):
                return pids
            time.sleep(0.3)
        raise AssertionError(
            f"{self.root.name}: not all of {names} RUNNING: {states}\n{self.logs()}"
        )

    def kill(self) -> None:
        """The machine dies: SIGKILL supervisord first (nothing restarts), then its programs."""
        pid = self.supervisord_pid()
        assert pid is not None, "supervisord is not running"
        programs = children_of(pid)
        os.kill(pid, signal.SIGKILL)
        for child in programs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in (pid, *programs)) and time.monotonic() < deadline:
            time.sleep(0.05)

    def logs(self, lines: int = 12) -> str:
        return tail_logs(self.root, lines, f"{self.root.name}/")

    def teardown(self) -> None:
        pid = self.supervisord_pid()
        if pid is not None:
            self.seen.update(children_of(pid))
            with contextlib.suppress(Exception):
                self.tree("stop")
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for program in self.seen:
            if _ours(program, self.root):  # a pid seen earlier may be someone else's by now
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(program, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _ours(pid: int, root: Path) -> bool:
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == root.resolve()
    except OSError:
        return False
