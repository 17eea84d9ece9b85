"""One log format everywhere: timestamp, level, actor, message; JSON on request."""

from __future__ import annotations

import json
import logging
import re

import pytest

from actors.logs import redact, setup_logging


@pytest.fixture(autouse=True)
def _restore_root() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_text_format_names_the_actor(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "text", "front")
    logging.getLogger("x").info("plain %s", "message")
    logging.LoggerAdapter(logging.getLogger("y"), {"actor": "db-writer"}).warning("flushed")
    logging.getLogger("z").debug("hidden below the level")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2
    pattern = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO|WARNING) +\[(front|db-writer)\] .+$"
    assert all(re.match(pattern, line) for line in lines), lines
    assert "[front] plain message" in lines[0] and "[db-writer] flushed" in lines[1]


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("DEBUG", "json", "feed-0")
    logging.getLogger("x").debug("hello")
    entry = json.loads(capsys.readouterr().err.strip())
    assert entry["level"] == "DEBUG" and entry["actor"] == "feed-0" and entry["msg"] == "hello"
    assert entry["ts"].endswith("Z")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connecting to redis://:hunter2@cache:6379/0", "hunter2"),
        ("store mongodb://app:s3cr3t@db:27017/bs failed", "s3cr3t"),
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJ1c2VySWQiOiIxIn0.sig-nature_1 refused", "eyJhbGci"),
        ("{'jwt_access_secret': 'k3y-value', 'port': 5000}", "k3y-value"),
        ('body {"email": "a@b.c", "password": "pa55word"}', "pa55word"),
    ],
)
def test_every_line_is_redacted(
    text: str, secret: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 12, attack 8: secrets never reach a log line, in either format."""
    for fmt in ("text", "json"):
        setup_logging("INFO", fmt, "front")
        logging.getLogger("x").warning("%s", text)
        line = capsys.readouterr().err
        assert secret not in line and "***" in line
    assert redact("user a@b.c from 10.0.0.1 port 5000") == "user a@b.c from 10.0.0.1 port 5000"
