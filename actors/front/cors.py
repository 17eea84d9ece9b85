"""Credentialed CORS for the origins of CORS_ORIGINS and FRONTEND_URL (docs/rest-api.md §6).

An allowed origin is echoed exactly (never `*`) with `Access-Control-Allow-Credentials: true`;
preflight `OPTIONS` is answered here (Authorization and Content-Type, plus any other header
the browser asks for: the server ignores headers it does not know). An origin not on the list
gets no CORS header at all (and a 403 to its preflight). `*` in CORS_ORIGINS allows every
origin, still echoed one by one.
Socket.IO paths are left alone: python-socketio applies the same list itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from actors.front.errors import ErrorSource, error_response

ALLOWED_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = ("authorization", "content-type")
MAX_AGE_SECONDS = "600"
_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")


class CorsPolicy:
    """Which origins get a grant."""

    def __init__(self, origins: Iterable[str]) -> None:
        listed = tuple(origins)
        self.any_origin = "*" in listed
        self.origins = frozenset(o.rstrip("/") for o in listed if o != "*")

    def allows(self, origin: str) -> bool:
        return self.any_origin or origin.rstrip("/") in self.origins


def _grant(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Access-Control-Expose-Headers"] = "Retry-After, WWW-Authenticate"


def _add_vary(response: web.StreamResponse) -> None:
    vary = response.headers.get("Vary", "")
    if "origin" not in vary.lower():
        response.headers["Vary"] = f"{vary}, Origin" if vary else "Origin"


def cors_middleware(policy: CorsPolicy, passthrough: tuple[str, ...] = ("/socket.io",)) -> Middleware:
    """Answer preflights and add grants to the responses of allowed origins."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(passthrough):
            return await handler(request)
        origin = request.headers.get("Origin")
        preflight = (
            request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        )
        if preflight:
            return _preflight(request, policy, origin)
        response = await handler(request)
        if origin is not None and policy.allows(origin) and not response.prepared:
            _grant(response, origin)
        if not response.prepared:
            _add_vary(response)
        return response

    return middleware


def _preflight(request: web.Request, policy: CorsPolicy, origin: str | None) -> web.StreamResponse:
    if origin is None or not policy.allows(origin):
        message = "Origin not allowed"
        response = error_response(403, message, [ErrorSource("origin", message)])
        _add_vary(response)
        return response
    requested = request.headers.get("Access-Control-Request-Headers", "")
    asked = [h.strip() for h in requested.split(",") if _TOKEN.match(h.strip())]
    headers = list(dict.fromkeys([*ALLOWED_HEADERS, *(h.lower() for h in asked)]))
    response = web.Response(status=204)
    _grant(response, origin)
    response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
    response.headers["Access-Control-Allow-Headers"] = ", ".join(headers)
    response.headers["Access-Control-Max-Age"] = MAX_AGE_SECONDS
    _add_vary(response)
    return response
