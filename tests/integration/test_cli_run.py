"""`binance-stats run` from a clean directory: serves /healthz with the exchange unreachable, stops on signals with 0."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.helpers import embedded_process, free_port, http_status


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
    with embedded_process(env, tmp_path, port) as proc:
        time.sleep(1.5)  # the exchange stays unreachable meanwhile: still healthy
        assert http_status(f"http://127.0.0.1:{port}/healthz") == 200
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode()
    assert b"Traceback" not in err, err.decode()
