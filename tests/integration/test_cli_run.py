"""`binance-stats run` from a clean directory: serves /healthz with the exchange unreachable, stops on signals with 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import free_port


def _healthz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as response:
            return int(response.status)
    except OSError:
        return None


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_healthz_and_stops_cleanly(sig: signal.Signals, tmp_path: Path) -> None:
    port, dead = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        HOST="127.0.0.1",
        BINANCE_WS_URL=f"ws://127.0.0.1:{dead}",
        BINANCE_REST_URL=f"http://127.0.0.1:{dead}",
        LOG_LEVEL="info",
        REDIS_HOST="",
        REDIS_URL="",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "actors", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while _healthz(port) != 200:
            assert proc.poll() is None, proc.communicate()[1].decode()
            assert time.monotonic() < deadline, "no /healthz within 30 s"
            time.sleep(0.1)
        time.sleep(1.5)  # the exchange stays unreachable meanwhile: still healthy
        assert _healthz(port) == 200
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()
