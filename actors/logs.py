"""One log format for every process: timestamp, level, actor, message (text or JSON)."""

from __future__ import annotations

import json
import logging
import sys
import time


class _ActorField(logging.Filter):
    """Give every record an `actor`: the actor that logged it, else the program's name."""

    def __init__(self, program: str) -> None:
        super().__init__()
        self.program = program

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "actor", None):
            record.actor = self.program
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers in production."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "actor": getattr(record, "actor", ""),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, fmt: str, program: str) -> None:
    """Configure the root logger once per process; `program` names records outside any actor."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ActorField(program))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        text = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)-7s [%(actor)s] %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        text.converter = time.gmtime
        handler.setFormatter(text)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "engineio.server", "socketio.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
