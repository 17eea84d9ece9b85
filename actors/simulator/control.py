"""Live control requests (SUBSCRIBE, ...): parsing, validation and the reply/error bodies.

docs/exchange.md §3. Requests are parsed with the standard `json` module on purpose: its
errors carry the line and column that the documented `Invalid JSON` body quotes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec

METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
PROPERTY = "combined"
MAX_REQUEST_BYTES = 4096  # bigger requests are ignored silently [obs]
_ID_TEXT = re.compile(r"^[A-Za-z0-9]{1,36}$")
_INT64 = range(-(2**63), 2**63)

RequestId = int | str | None


class ErrorBody(msgspec.Struct):
    """The inner `{"code","msg"}` of an error reply."""

    code: int
    msg: str


class ErrorReply(msgspec.Struct):
    """`{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}`."""

    error: ErrorBody
    id: RequestId


class Reply(msgspec.Struct):
    """`{"result":null,"id":1}`; a list for LIST_SUBSCRIPTIONS, a bool for GET_PROPERTY."""

    result: list[str] | bool | None
    id: RequestId


class ControlError(Exception):
    """A request answered with a documented error body."""

    def __init__(self, code: int, msg: str, request_id: RequestId = None) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.request_id = request_id

    def body(self) -> str:
        """The error reply text."""
        return msgspec.json.encode(
            ErrorReply(ErrorBody(self.code, self.msg), self.request_id)
        ).decode()


@dataclass(frozen=True)
class Request:
    """A well-formed control request."""

    method: str
    params: list[Any]
    id: RequestId


def reply(request_id: RequestId, result: list[str] | bool | None = None) -> str:
    """A success reply text for `request_id`."""
    return msgspec.json.encode(Reply(result, request_id)).decode()


def _valid_id(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value in _INT64
    if isinstance(value, str):
        return _ID_TEXT.match(value) is not None
    return value is None


def parse_request(text: str) -> Request:
    """Validate a text frame as a control request; ControlError carries the documented body."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ControlError(
            3, f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(doc, dict):
        raise ControlError(
            2, f"Invalid request: invalid type: expected a map at line 1 column {len(text)}"
        )
    request_id = doc.get("id")
    echo_id = request_id if _valid_id(request_id) else None
    if "method" not in doc:
        raise ControlError(
            2, f"Invalid request: missing field `method` at line 1 column {len(text)}", echo_id
        )
    method = doc["method"]
    if method not in METHODS:
        shown = method if isinstance(method, str) else json.dumps(method)
        literal = json.dumps(method)
        column = text.find(literal) + len(literal) if literal in text else len(text)
        expected = ", ".join(f"`{name}`" for name in METHODS)
        raise ControlError(
            2,
            f"Invalid request: unknown variant `{shown}`, expected one of {expected}"
            f" at line 1 column {column}",
            echo_id,
        )
    if "id" not in doc or not _valid_id(request_id):
        raise ControlError(2, "Invalid request: request ID must be an unsigned integer", echo_id)
    params = doc.get("params", [])
    if params is None:
        params = []
    if not isinstance(params, list):
        raise ControlError(
            2, "Invalid request: invalid type: expected a sequence for `params`", request_id
        )
    return Request(method, params, request_id)


def stream_params(request: Request) -> list[str]:
    """SUBSCRIBE/UNSUBSCRIBE params: stream names (syntax is checked by the caller)."""
    if not all(isinstance(name, str) for name in request.params):
        raise ControlError(2, "Invalid request: invalid stream", request.id)
    return list(request.params)


def property_name(request: Request, arity: int) -> str:
    """The property of SET/GET_PROPERTY, after the documented checks (arity = allowed params)."""
    if len(request.params) > arity:
        raise ControlError(2, "Invalid request: too many parameters", request.id)
    name = request.params[0] if request.params else None
    if not isinstance(name, str):
        raise ControlError(2, "Invalid request: property name must be a string", request.id)
    if name != PROPERTY:
        raise ControlError(0, "Unknown property", request.id)
    return name


def property_value(request: Request) -> bool:
    """The boolean value of SET_PROPERTY."""
    value = request.params[1] if len(request.params) > 1 else None
    if not isinstance(value, bool):
        raise ControlError(1, "Invalid value type: expected Boolean", request.id)
    return value
