"""What every REST resource module shares: the Endpoint description and input decoding."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from actors.front.errors import ApiError, validation_error

API_PREFIX = "/api/v1"

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Endpoint:
    """One route: how it is served and how the OpenAPI document describes it.

    `path` is relative to /api/v1 unless `absolute`; `body`, `query` and `data` are the msgspec
    types that validate the request and shape the answer (None: nothing). `media` is how the
    answer is sent: "envelope" (data inside the JSON envelope), "json" (data alone), "text", "html".
    `query_enums` narrows query parameters to the values only known at run time (interval hours).
    """

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: Any = None
    query: Any = None
    data: Any = None
    status: int = 200
    admin: bool = False
    errors: tuple[int, ...] = ()
    absolute: bool = False
    media: str = "envelope"
    description: str = ""
    query_enums: Mapping[str, Sequence[object]] = field(default_factory=dict)

    def alias(self, path: str, summary: str) -> Endpoint:
        """The same operation served (and documented) under another path too."""
        return replace(self, path=path, summary=summary)

    @property
    def full_path(self) -> str:
        return self.path if self.absolute else API_PREFIX + self.path


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


async def read_json(request: web.Request, kind: type[T]) -> T:
    """The body decoded as `kind`: 415 unless JSON, 413 past the size limit, 400 when invalid."""
    if not _is_json(request.content_type):
        message = f"Content-Type must be application/json, not {request.content_type}"
        raise ApiError.field(415, "Content-Type", message)
    raw = await request.read()
    if not raw.strip():
        raise ApiError.field(400, "body", "A JSON body is required")
    try:
        value: T = msgspec.json.decode(raw, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise validation_error(exc, "body") from None
    return value


def read_query(request: web.Request, kind: type[T]) -> T:
    """The query string converted to `kind` (empty values count as absent); 400 when invalid."""
    values = {key: value for key, value in request.query.items() if value.strip() != ""}
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, "query") from None


def path_param(request: web.Request, name: str) -> str:
    return request.match_info[name]
