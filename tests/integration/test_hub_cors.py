"""Socket.IO's CORS follows CORS_ORIGINS/FRONTEND_URL: exact origin, credentials, never `*`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from actors.store import Store
from tests.helpers import make_settings
from tests.integration.hub_support import HubEnv, start_hub, stop_hub

DASHBOARD = "http://localhost:5173"


@pytest.fixture
async def cors_hub(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[HubEnv]:
    settings = make_settings(CORS_ORIGINS="https://stats.example", FRONTEND_URL=DASHBOARD)
    env = await start_hub(sqlite_store, serve_app, settings=settings)
    yield env
    await stop_hub(env)


@pytest.mark.parametrize("origin", [DASHBOARD, "https://stats.example"])
async def test_allowed_origin_is_echoed_with_credentials(cors_hub: HubEnv, origin: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            cors_hub.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        ) as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Access-Control-Allow-Origin"] == origin
        assert resp.headers["Access-Control-Allow-Credentials"] == "true"
        assert (await resp.text()).startswith("0{")


async def test_other_origin_is_refused(cors_hub: HubEnv) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            cors_hub.url + "/socket.io/?EIO=4&transport=polling",
            headers={"Origin": "https://evil.example"},
        ) as resp,
    ):
        assert resp.status == 400
        assert "Access-Control-Allow-Origin" not in resp.headers
    assert cors_hub.hub.stats()["connectedClients"] == 0
