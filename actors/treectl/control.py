"""Drive this host's supervisord: start (writing what it needs first), stop, status, restart.

Everything lives under the tree's root directory (default: the current one): run/ (control
socket, pid file, run/tree.conf), logs/, and grafana/targets/tree.json. supervisorctl is
pointed at the socket, so a supervisord started by hand from supervisor.conf answers too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from actors.config import Settings
from actors.topology.wiring import redis_url
from actors.treectl.conf import render_host, render_portable
from actors.treectl.programs import host_groups
from actors.treectl.targets import render_targets, write_targets

PROG = "binance-stats tree"
STOP_DEADLINE = 120.0  # above the longest stopwaitsecs (db-writer's 60 s) plus the others


class Tree:
    """One host's tree under `root`."""

    def __init__(self, settings: Settings, root: Path) -> None:
        self.settings = settings
        self.root = root.resolve()
        self.run_dir = self.root / "run"
        self.logs_dir = self.root / "logs"
        self.conf = self.run_dir / "tree.conf"
        self.socket = self.run_dir / "supervisor.sock"
        self.pidfile = self.run_dir / "supervisord.pid"
        self.targets = self.root / "grafana" / "targets" / "tree.json"

    # state -----------------------------------------------------------------
    def pid(self) -> int | None:
        """supervisord's pid when it runs (its pid file names a live process)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            return None
        return pid

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_tool("supervisorctl"), "-s", f"unix://{self.socket}", *args],
            capture_output=True,
            text=True,
            timeout=STOP_DEADLINE,
            check=False,
        )

    # commands --------------------------------------------------------------
    def start(self, *, foreground: bool = False) -> int:
        """Write run/tree.conf and the targets, then run supervisord (daemonised)."""
        redis_url(self.settings, PROG)
        if self.pid() is not None:
            print(
                f"{PROG}: already running (pid {self.pid()}); `{PROG} restart` applies new "
                "settings",
                file=sys.stderr,
            )
            return 1
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(render_host(self.settings, self.root))
        write_targets(self.settings, self.targets)
        command = [_tool("supervisord"), "-c", str(self.conf)]
        if foreground:
            os.execv(command[0], [*command, "-n"])
        result = subprocess.run(
            command, cwd=self.root, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            print(
                f"{PROG}: supervisord failed: {(result.stderr or result.stdout).strip()}",
                file=sys.stderr,
            )
            return 1
        if not _wait_until(lambda: self.ctl("pid").returncode == 0, 30.0, 0.1):
            print(
                f"{PROG}: supervisord did not answer; see {self.logs_dir}/supervisord.log",
                file=sys.stderr,
            )
            return 1
        names = [name for group in host_groups(self.settings) for name in group.addresses()]
        print(f"started supervisord (pid {self.pid()}) in {self.root}: {' '.join(names)}")
        return 0

    def stop(self) -> int:
        """Shut supervisord down: every program gets TERM (the db-writer flushes), then exit."""
        pid = self.pid()
        if pid is None:
            print("not running")
            return 0
        result = self.ctl("shutdown")
        if not _wait_until(lambda: self.pid() is None, STOP_DEADLINE, 0.2):
            print(
                f"{PROG}: supervisord (pid {pid}) still runs: {result.stdout.strip()}",
                file=sys.stderr,
            )
            return 1
        print(f"stopped supervisord (pid {pid})")
        return 0

    def status(self) -> int:
        """supervisorctl status, with its exit status (0 when every program runs)."""
        if self.pid() is None:
            print("not running")
            return 3
        result = self.ctl("status")
        print(result.stdout, end="")
        return result.returncode

    def restart(self) -> int:
        """Stop, then start with the settings as they are now."""
        stopped = self.stop()
        return stopped if stopped else self.start()


def _tool(name: str) -> str:
    """supervisord/supervisorctl next to this interpreter (installed with the package)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        print(f"{PROG}: {name} is not installed (pip install supervisor)", file=sys.stderr)
        raise SystemExit(2)
    return found


def tree_command(
    settings: Settings, action: str, root: Path, *, foreground: bool = False, portable: bool = False
) -> int:
    """The `tree` subcommand."""
    tree = Tree(settings, root)
    if action == "start":
        return tree.start(foreground=foreground)
    if action == "stop":
        return tree.stop()
    if action == "status":
        return tree.status()
    if action == "restart":
        return tree.restart()
    if action == "targets":
        print(render_targets(settings), end="")
        return 0
    if action == "conf":
        print(render_portable() if portable else render_host(settings, tree.root), end="")
        return 0
    raise SystemExit(f"{PROG}: unknown action {action!r}")


def _wait_until(condition: Callable[[], bool], seconds: float, interval: float) -> bool:
    """Poll `condition` every `interval` s; False once `seconds` have passed without it."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
