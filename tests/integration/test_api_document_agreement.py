"""Regressions found by fuzzing (test_api_fuzz.py): the served OpenAPI document accepts exactly
what the server accepts, checked with a JSON Schema validator (ECMA-262 regexes) over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import jsonschema_rs
import pytest

from actors.messages import NewSymbol
from actors.store.base import Store
from tests.integration.api_harness import Api, ServeApp, running_api


@pytest.fixture
async def api(sqlite_store: Store, serve_app: ServeApp) -> AsyncIterator[Api]:
    await sqlite_store.create_symbols([NewSymbol("BTCUSDT", "BTC", "USDT")])
    async with running_api(sqlite_store, serve_app) as api:
        yield api


async def _document(api: Api) -> dict[str, Any]:
    reply = await api.call("GET", "/api/v1/openapi.json")
    assert reply.status == 200
    document: dict[str, Any] = reply.body
    return document


def _body_validator(document: dict[str, Any], path: str, method: str) -> Any:
    body = document["paths"][path][method]["requestBody"]["content"]["application/json"]
    return jsonschema_rs.validator_for({**body["schema"], "components": document["components"]})


# Characters where Python's `\s` and ECMA-262's disagree, and controls around them.
@pytest.mark.parametrize(
    "email",
    [
        "a\x1e@example.com",
        "a@exa\x1cmple.com",
        "a\x85b@example.com",
        "a\ufeffb@example.com",
        "a\x00b@example.com",
        "a\x7fb@example.com",
        "a\xa0b@example.com",
        "a b@example.com",
        "ünï@example.com",
        "plain@example.com",
    ],
)
async def test_register_email_accepted_iff_documented(api: Api, email: str) -> None:
    document = await _document(api)
    body = {"name": "Ann", "email": email, "password": "password-123"}
    documented = _body_validator(document, "/api/v1/users/register", "post").is_valid(body)
    reply = await api.call("POST", "/api/v1/users/register", json=body)
    assert reply.status in (201, 400), reply.body
    assert (reply.status == 201) == documented, (email, reply.body)
    if reply.status == 400:
        assert reply.paths == ["email"]


def _hour_enums(document: dict[str, Any]) -> dict[str, list[int]]:
    enums = {}
    for path, operations in document["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", ()):
            if parameter["name"] == "intervalHour":
                branch = next(b for b in parameter["schema"]["anyOf"] if b.get("type") != "null")
                enums[path] = branch["enum"]
    return enums


async def test_interval_hour_documented_as_the_configured_start_hours(api: Api) -> None:
    enums = _hour_enums(await _document(api))
    assert set(enums) == {
        "/api/v1/price-data/recent",
        "/api/v1/price-data/aggregated",
        "/api/v1/price-data/{symbol}/aggregated",
    }
    assert all(hours == [1, 5, 9, 13, 17, 21] for hours in enums.values())
    for hour in range(24):
        reply = await api.call(
            "GET", "/api/v1/price-data/recent", params={"symbol": "BTCUSDT", "intervalHour": hour}
        )
        assert (reply.status == 200) == (hour in enums["/api/v1/price-data/recent"]), reply.body
        if reply.status != 200:
            assert reply.status == 400 and reply.paths == ["intervalHour"]


async def test_interval_hour_enum_follows_the_interval_settings(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    async with running_api(sqlite_store, serve_app, INTERVAL_OFFSET_HOURS="0") as api:
        enums = _hour_enums(await _document(api))
    assert enums and all(hours == [0, 4, 8, 12, 16, 20] for hours in enums.values())


@pytest.mark.parametrize(
    "body",
    [{}, {"note": "x"}, {"isActive": False}, {"baseAsset": "xbt"}, {"symbol": "BTCUSDT", "x": 1}],
)
async def test_symbol_patch_accepted_iff_documented(api: Api, body: dict[str, Any]) -> None:
    document = await _document(api)
    documented = _body_validator(document, "/api/v1/symbols/{id}", "patch").is_valid(body)
    token = await api.admin_token()
    reply = await api.call("PATCH", "/api/v1/symbols/BTCUSDT", json=body, token=token)
    assert reply.status in (200, 400), reply.body
    assert (reply.status == 200) == documented, (body, reply.body)


async def test_empty_query_values_documented_as_absent(api: Api) -> None:
    document = await _document(api)
    for operations in document["paths"].values():
        for parameter in operations.get("get", {}).get("parameters", ()):
            if parameter["in"] == "query":
                assert parameter.get("allowEmptyValue", False) is not parameter["required"]
    await api.call(
        "PATCH", "/api/v1/symbols/BTCUSDT", json={"isActive": False}, token=await api.admin_token()
    )
    for params in ({"includeInactive": ""}, {}):
        reply = await api.call("GET", "/api/v1/symbols", params=params)
        assert reply.status == 200 and reply.data == [], reply.body
    reply = await api.call("GET", "/api/v1/price-data/recent", params={"symbol": ""})
    assert reply.status == 400 and reply.paths == ["symbol"]
