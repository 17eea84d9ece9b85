"""One log format everywhere: timestamp, level, actor, message; JSON on request."""

from __future__ import annotations

import json
import logging
import re

import pytest

from actors.logs import setup_logging


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
