"""A fresh clone runs the tree with no other step: `binance-stats tree start` (which writes
run/tree.conf and the Prometheus targets), and plain `supervisord -c supervisor.conf`."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.integration.host_support import Host
from tests.integration.tree_support import (
    ROOT,
    Simulator,
    command,
    drop_prefix,
    metrics_base,
    tree_env,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _clone(tmp_path: Path, name: str) -> Path:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout")
    target = tmp_path / name
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=60)
    assert not (target / "run" / "supervisor.sock").exists()
    return target


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    sim = Simulator.start(symbols=4)
    try:
        yield sim
    finally:
        sim.stop()


def _env(simulator: Simulator, redis_url: str, clone: Path, prefix: str) -> dict[str, str]:
    env = tree_env(
        simulator,
        redis_url,
        prefix,
        clone / "store.db",
        port=free_port(),
        metrics_base=metrics_base(1),
        shards=1,
    )
    env.pop("FEED_SHARDS")  # `tree start` reads the settings; FEED_SHARDS defaults to 1
    return env


def test_tree_start_in_a_fresh_clone_then_stop(
    tmp_path: Path, redis_url: str, simulator: Simulator
) -> None:
    clone = _clone(tmp_path, "clone")
    prefix = f"test:clone:{uuid.uuid4().hex[:10]}:"
    host = Host(clone, _env(simulator, redis_url, clone, prefix))
    try:
        result = subprocess.run(  # from the clone's root, no --dir: the plain command
            [command("binance-stats"), "tree", "start"],
            env=host.env,
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "started supervisord" in result.stdout
        programs = ["db-writer", "cache-writer", "front", "feed:feed_00"]
        host.wait_running(programs)
        targets = json.loads((clone / "grafana" / "targets" / "tree.json").read_text())
        base = int(host.env["METRICS_BASE_PORT"])
        assert {t["labels"]["program"]: t["targets"][0] for t in targets} == {
            "db-writer": f"127.0.0.1:{base + 2}",
            "cache-writer": f"127.0.0.1:{base + 1}",
            "front": f"127.0.0.1:{base}",
            "feed_00": f"127.0.0.1:{base + 10}",
        }
        again = host.tree("start")
        assert again.returncode == 1 and "already running" in again.stderr
        before = host.wait_running(programs)
        restarted = host.tree("restart")  # stop, then start with the settings as they are now
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        after = host.wait_running(programs)
        assert all(after[name] != before[name] for name in programs)
        stopped = host.tree("stop")
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert host.supervisord_pid() is None
        assert "stopped: db-writer (exit status 0)" in (clone / "logs/supervisord.log").read_text()
        assert host.tree("status").returncode == 3
        git = subprocess.run(
            ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
        )
        assert git.stdout == "", git.stdout  # what it wrote is ignored; nothing tracked moved
    finally:
        host.teardown()
        drop_prefix(redis_url, prefix)


def test_plain_supervisord_in_a_fresh_clone(
    tmp_path: Path, redis_url: str, simulator: Simulator
) -> None:
    clone = _clone(tmp_path, "plain")
    prefix = f"test:clone:{uuid.uuid4().hex[:10]}:"
    env = _env(simulator, redis_url, clone, prefix) | {"FEED_SHARDS": "1"}
    host = Host(clone, env)
    ctl = [command("supervisorctl"), "-c", str(clone / "supervisor.conf")]
    try:
        started = subprocess.run(
            [command("supervisord"), "-c", "supervisor.conf"],
            env=env,
            cwd=clone,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        host.wait_running(["db-writer", "cache-writer", "front", "feed:feed_00"])
        subprocess.run([*ctl, "shutdown"], env=env, capture_output=True, timeout=120, check=False)
        deadline = time.monotonic() + 90
        while host.supervisord_pid() is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert host.supervisord_pid() is None
    finally:
        host.teardown()
        drop_prefix(redis_url, prefix)
