"""System routes, OpenAPI, metrics and the error envelope over real HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from actors.front.app import ENDPOINTS
from actors.front.rest.system import ReadinessCheck
from actors.store.base import Store
from tests.integration.api_harness import Api, ServeApp, running_api


class Switch:
    """A readiness probe the test turns on and off (stands for the DbWriter's health)."""

    def __init__(self) -> None:
        self.healthy = True

    async def probe(self) -> bool:
        return self.healthy


@pytest.fixture
def writer_health() -> Switch:
    return Switch()


@pytest.fixture
async def api(
    sqlite_store: Store, serve_app: ServeApp, writer_health: Switch
) -> AsyncIterator[Api]:
    checks = [ReadinessCheck("dbWriter", writer_health.probe)]
    async with running_api(sqlite_store, serve_app, readiness=checks) as api:
        yield api


async def test_healthz_and_system_health(api: Api) -> None:
    alive = await api.call("GET", "/healthz")
    assert alive.status == 200 and alive.body == {"status": "ok"}
    health = await api.call("GET", "/api/v1/system/health")
    assert health.status == 200 and health.body["success"] is True
    assert health.data["status"] == "healthy" and isinstance(health.data["timestamp"], int)


async def test_readyz_follows_feed_store_and_extra_checks(api: Api, writer_health: Switch) -> None:
    down = await api.call("GET", "/readyz")
    assert down.status == 503 and down.body["checks"]["feed"] is False
    assert down.body["checks"]["store"] is True and down.body["checks"]["dbWriter"] is True
    api.feed.update("feed-0", connected=True, symbols=2, last_message_ms=None)
    ready = await api.call("GET", "/readyz")
    assert (
        ready.status == 200
        and ready.body["status"] == "ready"
        and all(ready.body["checks"].values())
    )
    writer_health.healthy = False
    unready = await api.call("GET", "/readyz")
    assert unready.status == 503 and unready.body["checks"]["dbWriter"] is False


async def test_readyz_shows_an_exchange_rest_ban_until_it_ends(api: Api) -> None:
    banned_until = int(time.time() * 1000) + 60_000
    api.feed.update(
        "feed-0", connected=True, symbols=2, last_message_ms=None, rest_banned_until_ms=banned_until
    )
    banned = await api.call("GET", "/readyz")
    assert banned.status == 503 and banned.body["checks"]["exchangeRest"] is False
    assert banned.body["checks"]["feed"] is True
    api.feed.update(
        "feed-0", connected=True, symbols=2, last_message_ms=None, rest_banned_until_ms=1
    )
    over = await api.call("GET", "/readyz")
    assert over.status == 200 and over.body["checks"]["exchangeRest"] is True


async def test_system_status_shape(api: Api) -> None:
    api.hub.values = {"activeSubscriptions": 7, "connectedClients": 3}
    reply = await api.call("GET", "/api/v1/system/status")
    assert reply.status == 200
    data = reply.data
    assert data["server"] == "running" and isinstance(data["timestamp"], int)
    assert data["services"]["binanceWebSocket"] == {"connected": False, "status": "disconnected"}
    assert set(data["services"]["redis"]) == {"connected", "status"}
    assert data["services"]["socketIO"] == {"activeSubscriptions": 7, "connectedClients": 3}
    api.feed.update("feed-0", connected=True, symbols=2, last_message_ms=None)
    again = await api.call("GET", "/api/v1/system/status")
    assert again.data["services"]["binanceWebSocket"] == {"connected": True, "status": "connected"}


async def test_banner_names_service_and_port(api: Api) -> None:
    reply = await api.call("GET", "/")
    port = api.base.rsplit(":", 1)[1]
    assert (
        reply.status == 200
        and reply.body.strip() == f"Binance Statistics Backend is running on port {port}"
    )
    assert "\n" not in reply.body.strip()


async def test_unknown_route_and_method_use_the_envelope(api: Api) -> None:
    missing = await api.call("GET", "/api/v1/nothing/here")
    assert (
        missing.status == 404 and missing.body["success"] is False and missing.body["errorSources"]
    )
    wrong = await api.call("PUT", "/api/v1/symbols")
    assert (
        wrong.status == 405 and wrong.body["success"] is False and "GET" in wrong.headers["Allow"]
    )


async def test_metrics_label_routes_by_canonical_path(api: Api) -> None:
    await api.call("GET", "/api/v1/symbols/abc123")
    await api.call("GET", "/api/v1/symbols/def456")
    text = (await api.call("GET", "/metrics")).body
    line = 'bs_http_requests_total{method="GET",route="/api/v1/symbols/{id}",status="404"}'
    assert line in text
    assert "abc123" not in text
    assert (
        'bs_http_request_seconds_bucket{le="0.001",method="GET",route="/api/v1/symbols/{id}"}'
        in text
    )


async def test_openapi_lists_every_route_with_its_schemas(api: Api) -> None:
    reply = await api.call("GET", "/api/v1/openapi.json")
    assert reply.status == 200
    document = reply.body
    assert document["openapi"].startswith("3.")
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    served = {
        (route.method, route.resource.canonical)
        for route in api.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert served <= listed, served - listed
    assert {(e.method, e.full_path) for e in api.app[ENDPOINTS]} == listed
    for alias in (
        "/api/v1/users/create",
        "/api/v1/symbols/active",
        "/api/v1/price-data/recent",
        "/api/v1/price-data/aggregated",
        "/api/v1/price-data/current/{symbol}",
        "/api/v1/price-data/stats/24h",
        "/api/v1/system/status",
        "/api/v1/system/health",
        "/",
    ):
        assert alias in document["paths"], alias
    schemas = document["components"]["schemas"]
    assert {
        "RegisterBody",
        "SymbolBody",
        "PriceItem",
        "IntervalAggregate",
        "Stats24h",
        "ErrorBody",
    } <= set(schemas)
    register = document["paths"]["/api/v1/users/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RegisterBody"
    }
    assert {"201", "400", "409", "413", "415"} <= set(register["responses"])
    create = document["paths"]["/api/v1/symbols"]["post"]
    assert create["security"] == [{"bearerAuth": []}]
    series = document["paths"]["/api/v1/price-data/{symbol}"]["get"]
    names = {p["name"]: p["in"] for p in series["parameters"]}
    assert names == {"symbol": "path", "startTime": "query", "endTime": "query", "limit": "query"}


async def test_schema_in_openapi_is_the_validator(api: Api) -> None:
    """The password bounds in the document are the ones the server enforces."""
    document = (await api.call("GET", "/api/v1/openapi.json")).body
    bounds = document["components"]["schemas"]["RegisterBody"]["properties"]["password"]
    too_short = "x" * (bounds["minLength"] - 1)
    reply = await api.call(
        "POST",
        "/api/v1/users/register",
        json={"name": "A", "email": "a@example.com", "password": too_short},
    )
    assert reply.status == 400 and reply.paths == ["password"]


async def test_docs_page(api: Api) -> None:
    reply = await api.call("GET", "/api/v1/docs")
    assert reply.status == 200 and reply.headers["Content-Type"].startswith("text/html")
    assert (
        "/api/v1/price-data/{symbol}/aggregated" in reply.body
        and "/api/v1/openapi.json" in reply.body
    )


async def test_without_deps_only_health_is_served(serve_app: ServeApp) -> None:
    from actors.front.app import build_app
    from tests.helpers import make_settings

    app: web.Application = build_app(make_settings())
    base = await serve_app(app)
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/healthz") as response:
            assert response.status == 200
        async with session.get(base + "/api/v1/symbols") as response:
            assert response.status == 404


async def test_openapi_document_is_valid_openapi(api: Api) -> None:
    from openapi_spec_validator import validate

    validate((await api.call("GET", "/api/v1/openapi.json")).body)


async def test_store_down_is_503_in_the_envelope(sqlite_url: str, serve_app: ServeApp) -> None:
    from actors.store import IntervalScheme, open_store

    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    async with running_api(store, serve_app) as api:
        assert (await api.call("GET", "/api/v1/symbols")).status == 200
        await store.close()
        reply = await api.call("GET", "/api/v1/symbols")
        assert reply.status == 503 and reply.body["success"] is False
        assert reply.headers["Retry-After"]
        login = await api.call(
            "POST", "/api/v1/users/login", json={"email": "a@b.io", "password": "x"}
        )
        assert login.status == 503
        ready = await api.call("GET", "/readyz")
        assert ready.status == 503 and ready.body["checks"]["store"] is False
