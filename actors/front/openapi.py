"""OpenAPI 3 from the Endpoint list and the same msgspec types that validate requests.

`/api/v1/openapi.json` serves the document; `/api/v1/docs` a self-contained HTML page listing
every operation (no external scripts, so it works offline and under a strict CSP).
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from aiohttp import web

from actors.front.errors import ErrorBody
from actors.front.rest.common import Endpoint

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"{([^}]+)}")
_TEXT = {"type": "string"}
# An example lets readers (and fuzzers) reach a symbol that exists; any trading pair is accepted.
_PATH_SCHEMAS = {"symbol": {"type": "string", "examples": ["BTCUSDT"]}}
_DESCRIPTIONS = {
    200: "Success",
    201: "Created",
    400: "Validation error: `errorSources` names the field",
    401: "Missing, expired or invalid token",
    403: "The token's user is not an admin",
    404: "Not found",
    409: "Duplicate (email or symbol)",
    413: "Body over 1 MiB",
    415: "Content-Type is not application/json",
    429: "Too many failed logins; see Retry-After",
    503: "Not ready, or the store is unavailable (see Retry-After)",
}


def _envelope(data: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["success", "message", "data"],
        "properties": {
            "success": {"type": "boolean", "const": True},
            "message": {"type": "string"},
            "data": data if data is not None else {"type": "null"},
        },
    }


def _operation_id(endpoint: Endpoint) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", endpoint.full_path).strip("_") or "root"
    return f"{endpoint.method.lower()}_{words}"


def build_document(endpoints: Sequence[Endpoint], title: str, version: str) -> dict[str, Any]:
    """The OpenAPI document of `endpoints`."""
    kinds: list[Any] = [ErrorBody]
    for endpoint in endpoints:
        kinds.extend(k for k in (endpoint.body, endpoint.query, endpoint.data) if k is not None)
    schemas, components = msgspec.json.schema_components(kinds, ref_template=REF_TEMPLATE)
    schema_of = {id(kind): schema for kind, schema in zip(kinds, schemas, strict=True)}
    error_ref = schema_of[id(ErrorBody)]
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        operation: dict[str, Any] = {
            "operationId": _operation_id(endpoint),
            "summary": endpoint.summary,
            "tags": [endpoint.tag],
        }
        if endpoint.description:
            operation["description"] = endpoint.description
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": _PATH_SCHEMAS.get(name, _TEXT)}
            for name in _PATH_PARAM.findall(endpoint.path)
        ]
        if endpoint.query is not None:
            parameters.extend(
                _query_parameters(schema_of[id(endpoint.query)], components, endpoint.query_enums)
            )
        if parameters:
            operation["parameters"] = parameters
        if endpoint.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of[id(endpoint.body)]}},
            }
        if endpoint.admin:
            operation["security"] = [{"bearerAuth": []}]
        operation["responses"] = _responses(endpoint, schema_of, error_ref)
        paths.setdefault(endpoint.full_path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "`Authorization: Bearer <jwt>`; a bare `<jwt>` works too.",
                }
            },
        },
    }


def _responses(
    endpoint: Endpoint, schema_of: dict[int, Any], error_ref: dict[str, Any]
) -> dict[str, Any]:
    data = schema_of[id(endpoint.data)] if endpoint.data is not None else None
    if endpoint.media == "text":
        body: dict[str, Any] = {"text/plain": {"schema": {"type": "string"}}}
    elif endpoint.media == "html":
        body = {"text/html": {"schema": {"type": "string"}}}
    elif endpoint.media == "json":
        body = {"application/json": {"schema": data or {"type": "object"}}}
    else:
        body = {"application/json": {"schema": _envelope(data)}}
    responses: dict[str, Any] = {
        str(endpoint.status): {
            "description": _DESCRIPTIONS.get(endpoint.status, "Success"),
            "content": body,
        }
    }
    # every enveloped route reads the store, whose outage is a 503 with Retry-After
    outage = (503,) if endpoint.media == "envelope" and endpoint.tag != "System" else ()
    for status in sorted({*endpoint.errors, *outage}):
        content = body if endpoint.media == "json" else {"application/json": {"schema": error_ref}}
        responses[str(status)] = {
            "description": _DESCRIPTIONS.get(status, "Error"),
            "content": content,
        }
    return responses


def _only(prop: dict[str, Any], values: Sequence[object]) -> dict[str, Any]:
    """`prop` (or its non-null branch) narrowed to `values`."""
    if "anyOf" in prop:
        branches = [b if b.get("type") == "null" else _only(b, values) for b in prop["anyOf"]]
        return {**prop, "anyOf": branches}
    return {**prop, "enum": list(values)}


def _query_parameters(
    ref: dict[str, Any], components: dict[str, Any], enums: Mapping[str, Sequence[object]]
) -> list[dict[str, Any]]:
    schema = components[ref["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": _only(prop, enums[name]) if name in enums else prop,
        }
        if name not in required:
            # read_query takes `?name=` for an absent parameter (dashboards send empty ones)
            parameter["allowEmptyValue"] = True
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def docs_page(document: dict[str, Any]) -> str:
    """A plain HTML listing of every operation of `document`."""
    rows = []
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            params = ", ".join(
                f"{p['name']}{'' if p['required'] else '?'} ({p['in']})"
                for p in op.get("parameters", ())
            )
            body = "JSON body" if "requestBody" in op else ""
            auth = "admin" if "security" in op else ""
            statuses = ", ".join(op["responses"])
            cells = (method.upper(), path, op["summary"], params, body, auth, statuses)
            rows.append(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
            )
    title = html.escape(document["info"]["title"])
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{title} API</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>"
        f"<h1>{title} API</h1>"
        "<p>Machine-readable: <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a> (OpenAPI 3). "
        "Answers use the envelope <code>{success, message, data}</code>; errors "
        "<code>{success: false, message, errorSources: [{path, message}]}</code>.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Summary</th><th>Parameters</th><th>Body</th>"
        "<th>Auth</th><th>Statuses</th></tr>" + "".join(rows) + "</table></body></html>"
    )


class OpenApiRoutes:
    """Serves the document (built once, listing these two routes too) and the docs page."""

    def __init__(self, endpoints: Sequence[Endpoint], title: str, version: str) -> None:
        self.own = [
            Endpoint(
                "GET",
                "/openapi.json",
                self.openapi_json,
                "This OpenAPI document",
                "Docs",
                media="json",
            ),
            Endpoint(
                "GET",
                "/docs",
                self.docs,
                "A human-readable list of the operations",
                "Docs",
                media="html",
            ),
        ]
        self.document = build_document([*endpoints, *self.own], title, version)
        self._json = msgspec.json.encode(self.document)
        self._html = docs_page(self.document)

    async def openapi_json(self, request: web.Request) -> web.Response:
        return web.Response(body=self._json, content_type="application/json")

    async def docs(self, request: web.Request) -> web.Response:
        return web.Response(text=self._html, content_type="text/html")
