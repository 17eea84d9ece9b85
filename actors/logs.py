"""One log format for every process: timestamp, level, actor, message (text or JSON).

Every line is redacted on its way out (`redact`): passwords in URLs, JWTs, bearer tokens and
`password=`/`secret=`/`token=` values never reach a log (docs/security.md §2). A client's
malformed HTTP is one INFO line (`MalformedHttp`), not an ERROR traceback.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from aiohttp.http_exceptions import HttpProcessingError

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][\w+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
_JWT = re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]+")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[\w.~+/-]+=*")
_KEY_VALUE = re.compile(
    r"(?i)(?P<key>\b[\w-]*(?:password|passwd|secret|token|api_key|apikey)[\w-]*)"
    r"(?P<sep>\\?['\"]?\s*[:=]\s*\\?['\"]?)(?P<value>[^'\"\s,;&}\\]+)"
)


def redact(text: str) -> str:
    """`text` without secrets: URL passwords, JWTs, bearer tokens, password/secret/token values."""
    text = _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", text)
    text = _JWT.sub("***", text)
    text = _BEARER.sub(r"\1 ***", text)
    return _KEY_VALUE.sub(r"\g<key>\g<sep>***", text)


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message` (a warning line, never a traceback)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _Redacting(logging.Formatter):
    """Any formatter's output, redacted (the traceback text included)."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record))


class MalformedHttp(logging.Filter):
    """aiohttp logs a client's malformed request as an ERROR with a traceback; it is the
    client's fault, so it becomes one INFO line naming the client and the problem."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        if not logging.getLogger().isEnabledFor(logging.INFO):
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg, record.args = "malformed HTTP from %s: %s", (remote, exc.message)
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.INFO, "INFO"
        return True


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
        handler.setFormatter(_Redacting(JsonFormatter()))
    else:
        text = logging.Formatter(
            "%(asctime)s.%(msecs)03dZ %(levelname)-7s [%(actor)s] %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
        text.converter = time.gmtime
        handler.setFormatter(_Redacting(text))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedHttp) for f in server_log.filters):
        server_log.addFilter(MalformedHttp())
    for noisy in ("aiohttp.access", "engineio.server", "socketio.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # one warning per refused handshake would let a flood write the log (and stall the loop
    # on it): refusals are counted in bs_sio_refused_connections_total instead
    logging.getLogger("engineio.server").setLevel(max(logging.ERROR, root.level))
