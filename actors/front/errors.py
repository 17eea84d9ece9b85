"""The JSON envelope (docs/rest-api.md §1, §2) and the middleware that turns every failure into it.

Success: `{"success": true, "message": ..., "data": ...}`. Failure: `{"success": false,
"message": ..., "errorSources": [{"path": ..., "message": ...}]}`. Bad input is always a 4xx;
only a bug in our own code is a 500 (logged with its traceback once).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from actors.store.base import StoreError

log = logging.getLogger("actors.front.errors")

JSON = "application/json"

_REASONS = {
    400: "Validation error",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ErrorSource(msgspec.Struct, frozen=True):
    """Where a request went wrong: a field name (`email`, `symbols[0].symbol`) or `body`/`token`."""

    path: str
    message: str


class ErrorBody(msgspec.Struct, frozen=True, rename="camel"):
    """The failure envelope."""

    message: str
    error_sources: list[ErrorSource]
    success: bool = False


class ApiError(Exception):
    """An expected failure with its HTTP status; raised by handlers, rendered by the middleware."""

    def __init__(
        self,
        status: int,
        message: str,
        sources: Sequence[ErrorSource] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.sources = list(sources) or [ErrorSource("", message)]
        self.headers = dict(headers or {})

    @classmethod
    def field(cls, status: int, path: str, message: str) -> ApiError:
        """A failure caused by one named field."""
        return cls(status, message, [ErrorSource(path, message)])


def envelope(data: Any, message: str = "OK", status: int = 200) -> web.Response:
    """A success response in the envelope; `data` may hold msgspec Structs."""
    body = msgspec.json.encode({"success": True, "message": message, "data": data})
    return web.Response(body=body, status=status, content_type=JSON)


LONG_LIST_CHUNK = 1_000


async def envelope_long(
    items: Sequence[Any], build: Callable[[Sequence[Any]], list[Any]], message: str = "OK"
) -> web.Response:
    """The envelope of a long list (a 24 h price range: 10,000 points, ~4 ms of work), built and
    encoded `LONG_LIST_CHUNK` items at a time with the loop let go in between, so one request
    never holds every other client's updates for milliseconds (docs/security.md §5)."""
    parts = []
    for at in range(0, len(items), LONG_LIST_CHUNK):
        if at:
            await asyncio.sleep(0)
        parts.append(msgspec.json.encode(build(items[at : at + LONG_LIST_CHUNK]))[1:-1])
    return envelope(msgspec.Raw(b"[" + b",".join(parts) + b"]"), message)


def error_response(
    status: int,
    message: str,
    sources: Sequence[ErrorSource],
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """A failure response in the envelope."""
    body = msgspec.json.encode(ErrorBody(message=message, error_sources=list(sources)))
    return web.Response(body=body, status=status, content_type=JSON, headers=headers)


_AT_PATH = re.compile(r"^(?P<msg>.*?) - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"missing required field `(?P<field>[^`]+)`")


def validation_error(exc: msgspec.ValidationError | msgspec.DecodeError, where: str) -> ApiError:
    """A 400 naming the offending field from msgspec's message (`... - at `$.a[0].b``)."""
    text = str(exc)
    path, message = "", text
    match = _AT_PATH.match(text)
    if match:
        message, path = match.group("msg"), match.group("path").lstrip(".")
    missing = _MISSING.search(message)
    if missing:
        path = f"{path}.{missing.group('field')}" if path else missing.group("field")
        message = f"{missing.group('field')} is required"
    if not path:
        path = where
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        message = "malformed JSON: " + text
    return ApiError(400, f"Invalid {where}: {message}", [ErrorSource(path, message)])


def _passthrough(request: web.Request, prefixes: tuple[str, ...]) -> bool:
    return request.path.startswith(prefixes)


def error_middleware(passthrough: tuple[str, ...] = ("/socket.io",)) -> Middleware:
    """Render ApiError, aiohttp's HTTP errors, store outages and bugs as envelopes."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if _passthrough(request, passthrough):
            return await handler(request)
        try:
            return await handler(request)
        except ApiError as exc:
            return error_response(exc.status, exc.message, exc.sources, exc.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            message = _REASONS.get(exc.status, exc.reason)
            if exc.status == 404:
                message = f"Route not found: {request.method} {request.path}"
            headers = {
                k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")
            }
            return error_response(exc.status, message, [ErrorSource("", message)], headers)
        except StoreError as exc:
            log.warning("store unavailable for %s %s: %s", request.method, request.path, exc)
            message = "The store is unavailable; try again shortly"
            return error_response(503, message, [ErrorSource("", message)], {"Retry-After": "5"})
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            message = _REASONS[500]
            return error_response(500, message, [ErrorSource("", message)])

    return middleware
