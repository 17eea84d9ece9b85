"""A running REST app on a real SQLite store and a real HTTP client, for test_api_*."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from actors.bus.memory import MemoryBus
from actors.cache.memory import MemoryCache
from actors.cache.reader import PriceReader
from actors.config import Settings
from actors.feed.listed import ListedSymbols
from actors.feed.status import FeedStatusBoard
from actors.front.admin import make_admin
from actors.front.app import FrontDeps, build_app
from actors.front.auth import PasswordHasher
from actors.front.rest.system import ReadinessCheck
from actors.front.sio.hub import BroadcastHub
from actors.store.base import Store
from tests.helpers import make_settings

ServeApp = Callable[[web.Application], Awaitable[str]]
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


class HubCounts:
    """Stands in for the Socket.IO hub's counters on /system/status."""

    def __init__(self) -> None:
        self.values = {"activeSubscriptions": 0, "connectedClients": 0}

    def stats(self) -> Mapping[str, object]:
        return dict(self.values)


@dataclass
class Reply:
    """One HTTP answer: status, decoded JSON (or None), headers."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def data(self) -> Any:
        return self.body["data"]

    @property
    def paths(self) -> list[str]:
        """The `path` of every error source."""
        return [source["path"] for source in self.body["errorSources"]]


@dataclass
class Api:
    """The app under test, its store and a client session."""

    base: str
    session: aiohttp.ClientSession
    store: Store
    settings: Settings
    feed: FeedStatusBoard
    hub: HubCounts
    app: web.Application
    cache: MemoryCache
    tokens: dict[str, str] = field(default_factory=dict)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: Any = None,
        token: str | None = None,
        bare: bool = False,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send a request; `token` goes as `Bearer <token>` (or bare with `bare=True`)."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = token if bare else f"Bearer {token}"
        async with self.session.request(
            method, self.base + path, json=json, data=data, headers=sent, params=params
        ) as response:
            raw = await response.read()
            body: Any = None
            if response.content_type == "application/json":
                body = await response.json()
            elif raw:
                body = raw.decode()
            return Reply(response.status, body, response.headers)

    async def register(
        self, email: str, password: str = "password-123", name: str = "Ann"
    ) -> Reply:
        reply = await self.call(
            "POST",
            "/api/v1/users/register",
            json={"name": name, "email": email, "password": password},
        )
        assert reply.status == 201, reply.body
        return reply

    async def login(self, email: str, password: str = "password-123") -> str:
        reply = await self.call(
            "POST", "/api/v1/users/login", json={"email": email, "password": password}
        )
        assert reply.status == 200, reply.body
        token: str = reply.data["accessToken"]
        return token

    async def user_token(self, email: str = "user@example.com") -> str:
        if email not in self.tokens:
            await self.register(email)
            self.tokens[email] = await self.login(email)
        return self.tokens[email]

    async def admin_token(self) -> str:
        if ADMIN_EMAIL not in self.tokens:
            hasher = PasswordHasher(self.settings.bcrypt_salt_rounds, workers=1)
            try:
                await make_admin(self.store, hasher, ADMIN_EMAIL, ADMIN_PASSWORD, "Admin")
            finally:
                hasher.close()
            self.tokens[ADMIN_EMAIL] = await self.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        return self.tokens[ADMIN_EMAIL]


@contextlib.asynccontextmanager
async def running_api(
    store: Store,
    serve_app: ServeApp,
    *,
    readiness: Sequence[ReadinessCheck] = (),
    socket_io: bool = False,
    listed: ListedSymbols | None = None,
    **env: str,
) -> AsyncIterator[Api]:
    """Build the real app on `store`, serve it on loopback, yield a client for it.

    With `socket_io` the real BroadcastHub is attached to the same app (as the composition does).
    """
    settings = make_settings(**env)
    scheme = settings.interval_scheme
    cache = MemoryCache()
    feed = FeedStatusBoard()
    counts = HubCounts()
    reader = PriceReader(cache, store, scheme)
    hub = BroadcastHub(MemoryBus(), reader, store, scheme, settings) if socket_io else None
    deps = FrontDeps(
        settings=settings,
        store=store,
        reader=reader,
        feed_status=feed,
        cache=cache,
        hub=hub or counts,
        readiness=readiness,
        listed=listed,
    )
    app = build_app(settings, deps)
    if hub is not None:
        hub.attach(app)
    base = await serve_app(app)
    if hub is not None:
        await hub.start()
    timeout = aiohttp.ClientTimeout(total=30)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            yield Api(base, session, store, settings, feed, counts, app, cache)
    finally:
        if hub is not None:
            await hub.stop()
