"""Tokens over real HTTP: Bearer and bare, and every kind of bad token gets 401; users get 403."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator

import jwt
import pytest

from actors.store.base import Store
from tests.integration.api_harness import Api, ServeApp, running_api

ADMIN_ROUTE = "/api/v1/symbols"
SYMBOL = {"symbol": "BTCUSDT", "baseAsset": "BTC", "quoteAsset": "USDT"}


@pytest.fixture
async def api(sqlite_store: Store, serve_app: ServeApp) -> AsyncIterator[Api]:
    async with running_api(sqlite_store, serve_app, JWT_ACCESS_EXPIRES_IN="1h") as api:
        yield api


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _admin_claims(api: Api) -> dict[str, object]:
    token = await api.admin_token()
    claims: dict[str, object] = jwt.decode(
        token, api.settings.jwt_access_secret, algorithms=["HS256"]
    )
    return claims


@pytest.mark.parametrize("bare", [False, True])
async def test_admin_token_as_bearer_or_bare(api: Api, bare: bool) -> None:
    reply = await api.call(
        "POST", ADMIN_ROUTE, json=SYMBOL, token=await api.admin_token(), bare=bare
    )
    assert reply.status == 201, reply.body
    assert reply.data["symbol"] == "BTCUSDT"


async def test_no_token_is_401(api: Api) -> None:
    reply = await api.call("POST", ADMIN_ROUTE, json=SYMBOL)
    assert reply.status == 401 and reply.body["success"] is False
    assert reply.paths == ["authorization"]
    assert (
        await api.call("POST", ADMIN_ROUTE, json=SYMBOL, headers={"Authorization": "Bearer "})
    ).status == 401


async def test_user_token_on_admin_route_is_403(api: Api) -> None:
    token = await api.user_token()
    for bare in (False, True):
        reply = await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=token, bare=bare)
        assert reply.status == 403 and reply.body["success"] is False
    assert await api.store.get_symbol_by_name("BTCUSDT") is None


async def test_auth_is_checked_before_the_body(api: Api) -> None:
    assert (await api.call("POST", ADMIN_ROUTE, json={"symbol": 1})).status == 401
    token = await api.user_token()
    assert (await api.call("POST", ADMIN_ROUTE, json={"symbol": 1}, token=token)).status == 403
    assert (await api.call("POST", ADMIN_ROUTE, data=b"x", token=token)).status == 403


async def test_expired_token_is_401(api: Api) -> None:
    claims = await _admin_claims(api)
    past = int(time.time()) - 7200
    token = jwt.encode(
        {**claims, "iat": past, "exp": past + 60}, api.settings.jwt_access_secret, algorithm="HS256"
    )
    reply = await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=token)
    assert reply.status == 401 and "expired" in reply.body["message"]


async def test_wrong_secret_is_401(api: Api) -> None:
    claims = await _admin_claims(api)
    token = jwt.encode(claims, "another-secret-" + "y" * 32, algorithm="HS256")
    assert (await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=token)).status == 401


async def test_tampered_payload_is_401(api: Api) -> None:
    user_token = await api.user_token()
    header, payload, signature = user_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = ".".join((header, _b64({**claims, "role": "admin"}), signature))
    assert (await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=forged)).status == 401
    assert (
        await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=user_token[:-3] + "abc")
    ).status == 401


async def test_alg_none_is_401(api: Api) -> None:
    claims = await _admin_claims(api)
    unsigned = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
    assert (await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=unsigned)).status == 401


@pytest.mark.parametrize(
    "header", ["Basic abc", "Bearer a b", "garbage with spaces", "Bearer x.y.z"]
)
async def test_malformed_authorization_is_401(api: Api, header: str) -> None:
    reply = await api.call("POST", ADMIN_ROUTE, json=SYMBOL, headers={"Authorization": header})
    assert reply.status == 401


async def test_token_of_a_deleted_account_is_401(api: Api) -> None:
    claims = await _admin_claims(api)
    ghost = jwt.encode(
        {**claims, "userId": "no-such-user"}, api.settings.jwt_access_secret, algorithm="HS256"
    )
    assert (await api.call("POST", ADMIN_ROUTE, json=SYMBOL, token=ghost)).status == 401


async def test_expiry_follows_jwt_access_expires_in(api: Api) -> None:
    claims = await _admin_claims(api)
    assert claims["exp"] - claims["iat"] == 3600  # type: ignore[operator]
