"""Credentialed CORS over real HTTP: allowed origins (CORS_ORIGINS, FRONTEND_URL), a foreign one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors.store.base import Store
from tests.integration.api_harness import Api, ServeApp, running_api

DASHBOARD = "http://localhost:5173"
FRONTEND = "https://dash.example.com"
FOREIGN = "https://evil.example.net"


@pytest.fixture
async def api(sqlite_store: Store, serve_app: ServeApp) -> AsyncIterator[Api]:
    env = {"CORS_ORIGINS": f"{DASHBOARD},http://127.0.0.1:5173", "FRONTEND_URL": FRONTEND}
    async with running_api(sqlite_store, serve_app, **env) as api:
        yield api


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }


@pytest.mark.parametrize("origin", [DASHBOARD, FRONTEND])
async def test_preflight_from_an_allowed_origin(api: Api, origin: str) -> None:
    reply = await api.call("OPTIONS", "/api/v1/symbols", headers=_preflight(origin))
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == origin
    assert reply.headers["Access-Control-Allow-Credentials"] == "true"
    allowed = {h.strip().lower() for h in reply.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in reply.headers["Access-Control-Allow-Methods"]
    assert "Origin" in reply.headers["Vary"]


async def test_preflight_from_a_foreign_origin_gets_no_grant(api: Api) -> None:
    reply = await api.call("OPTIONS", "/api/v1/symbols", headers=_preflight(FOREIGN))
    assert reply.status == 403
    assert "Access-Control-Allow-Origin" not in reply.headers
    assert "Access-Control-Allow-Credentials" not in reply.headers


async def test_requests_echo_only_allowed_origins(api: Api) -> None:
    allowed = await api.call("GET", "/api/v1/symbols", headers={"Origin": DASHBOARD})
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    foreign = await api.call("GET", "/api/v1/symbols", headers={"Origin": FOREIGN})
    assert foreign.status == 200 and "Access-Control-Allow-Origin" not in foreign.headers
    plain = await api.call("GET", "/api/v1/symbols")
    assert "Access-Control-Allow-Origin" not in plain.headers


async def test_errors_carry_the_grant_so_the_dashboard_can_read_them(api: Api) -> None:
    reply = await api.call("POST", "/api/v1/symbols", json={}, headers={"Origin": DASHBOARD})
    assert reply.status == 401
    assert reply.headers["Access-Control-Allow-Origin"] == DASHBOARD


async def test_dashboard_flow_with_a_bare_token(api: Api) -> None:
    """What the dashboard does: /users/create, login, then an admin call with the bare token."""
    created = await api.call(
        "POST",
        "/api/v1/users/create",
        headers={"Origin": DASHBOARD},
        json={
            "name": "D",
            "email": "dash@example.com",
            "password": "password-123",
            "role": "superAdmin",
        },
    )
    assert created.status == 201 and created.headers["Access-Control-Allow-Origin"] == DASHBOARD
    token = await api.login("dash@example.com")
    refused = await api.call(
        "DELETE", "/api/v1/symbols/x", token=token, bare=True, headers={"Origin": DASHBOARD}
    )
    assert refused.status == 403
    admin = await api.admin_token()
    allowed = await api.call(
        "DELETE", "/api/v1/symbols/x", token=admin, bare=True, headers={"Origin": DASHBOARD}
    )
    assert allowed.status == 404


async def test_socket_io_keeps_its_own_single_grant(
    sqlite_store: Store, serve_app: ServeApp
) -> None:
    """The REST middleware leaves /socket.io alone: python-socketio grants the same origins once."""
    async with running_api(sqlite_store, serve_app, socket_io=True, CORS_ORIGINS=DASHBOARD) as api:
        path = "/socket.io/?EIO=4&transport=polling"
        allowed = await api.call("GET", path, headers={"Origin": DASHBOARD})
        assert allowed.status == 200 and allowed.body.startswith("0{")
        assert allowed.headers.getall("Access-Control-Allow-Origin") == [DASHBOARD]
        foreign = await api.call("GET", path, headers={"Origin": FOREIGN})
        assert "Access-Control-Allow-Origin" not in foreign.headers
        status = await api.call("GET", "/api/v1/system/status")
        assert status.data["services"]["socketIO"] == {
            "activeSubscriptions": 0,
            "connectedClients": 0,
        }
