"""Issue 12, attack 8 replayed against a real `binance-stats run` process: secrets stay out of
its log, a client's malformed HTTP is one INFO line, and /metrics is not served to other hosts."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import embedded_process, free_port, http_status

REDIS_PASSWORD = "hunter2-redis-pw"
ADMIN_PASSWORD = "super-admin-pw-77"
JWT_SECRET = "jwt-secret-" + "q" * 40


def _outward_address() -> str | None:
    """This host's own non-loopback address (traffic to it never leaves the host), if any."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port, dead = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        PORT=str(port),
        HOST="0.0.0.0",
        BINANCE_WS_URL=f"ws://127.0.0.1:{dead}",
        BINANCE_REST_URL=f"http://127.0.0.1:{dead}",
        LOG_LEVEL="info",
        REDIS_HOST="",
        # the local Redis has no password: every command with this one fails, and is logged
        REDIS_URL=f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
        SUPER_ADMIN_EMAIL="root@example.com",
        SUPER_ADMIN_PASSWORD=ADMIN_PASSWORD,
        JWT_ACCESS_SECRET=JWT_SECRET,
        BCRYPT_SALT_ROUNDS="4",
    )
    with embedded_process(env, tmp_path, port) as proc:
        yield proc, port


def test_secrets_stay_out_of_the_log_and_bad_http_is_one_info_line(
    running: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = running
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")
        assert b" 400 " in raw.recv(100)
    token_in_url = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiJ4In0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
    http_status(f"http://127.0.0.1:{port}/api/v1/price-data/{token_in_url}")
    assert http_status(f"http://127.0.0.1:{port}/metrics") == 200  # loopback: served
    outward = _outward_address()
    if outward is not None:
        assert http_status(f"http://{outward}:{port}/metrics") == 404
        assert http_status(f"http://{outward}:{port}/healthz") == 200
    time.sleep(1.0)  # the cache writer meets the Redis refusal meanwhile
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    log = err.decode()
    assert "redis://:***@127.0.0.1:6379/0" in log  # the start-up line, redacted
    for secret in (REDIS_PASSWORD, ADMIN_PASSWORD, JWT_SECRET, token_in_url):
        assert secret not in log
    malformed = [line for line in log.splitlines() if "malformed HTTP" in line]
    assert len(malformed) == 1 and " INFO " in malformed[0], log
    assert "Traceback" not in log and "Error handling request" not in log
