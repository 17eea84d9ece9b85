"""The aiohttp application factory: REST under /api/v1, OpenAPI, health, readiness and metrics.

Middlewares, outermost first: metrics (by the route's canonical path), CORS, errors (every
failure rendered in the envelope). The Socket.IO hub attaches itself to the same app.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from actors import metrics
from actors.cache.base import PriceCache
from actors.cache.reader import PriceReader
from actors.config import Settings
from actors.feed.listed import ListedSymbols
from actors.feed.status import FeedStatus
from actors.front.admin import ensure_super_admin
from actors.front.auth import Guard, PasswordHasher, TokenService
from actors.front.cors import CorsPolicy, cors_middleware
from actors.front.errors import error_middleware
from actors.front.openapi import OpenApiRoutes
from actors.front.ratelimit import Limit, LoginLimiter, RegistrationLimiter
from actors.front.rest.common import Endpoint
from actors.front.rest.prices import PricesApi
from actors.front.rest.symbols import SymbolsApi
from actors.front.rest.system import HubStats, LossReport, ReadinessCheck, SystemApi
from actors.front.rest.users import UsersApi
from actors.front.turns import LoopTurns, turns_middleware
from actors.store.base import Store, StoreError

log = logging.getLogger("actors.front.app")

MAX_BODY_BYTES = 1024 * 1024
SOCKET_IO_PREFIX = "/socket.io"
TITLE = "Binance Statistics Backend"
VERSION = "1.0.0"


@dataclass
class FrontDeps:
    """What the front reads and reports on; built by the composition root."""

    settings: Settings
    store: Store
    reader: PriceReader
    feed_status: FeedStatus
    cache: PriceCache
    hub: HubStats | None = None
    readiness: Sequence[ReadinessCheck] = field(default_factory=tuple)
    bus_losses: LossReport | None = None
    listed: ListedSymbols | None = None  # the exchange's pairs, for POST /symbols
    turns: LoopTurns | None = None  # shared with the hub: requests per loop turn


SETTINGS = web.AppKey("settings", Settings)
DEPS = web.AppKey("deps", FrontDeps)
ENDPOINTS = web.AppKey("endpoints", list[Endpoint])
OPENAPI = web.AppKey("openapi", OpenApiRoutes)
LIMITER = web.AppKey("login_limiter", LoginLimiter)


async def healthz(request: web.Request) -> web.Response:
    """Alive: answers as long as the process serves HTTP, whatever the exchange or store do."""
    return web.json_response({"status": "ok"})


def metrics_middleware(passthrough: tuple[str, ...] = (SOCKET_IO_PREFIX,)) -> Middleware:
    """Count requests and time them by the matched route's canonical path (never the raw URL)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(passthrough):
            return await handler(request)
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
            metrics.HTTP_LATENCY.labels(route, request.method).observe(
                time.perf_counter() - started
            )

    return middleware


def _health_endpoint() -> Endpoint:
    return Endpoint("GET", "/healthz", healthz, "Alive", "System", absolute=True, media="json")


def build_app(settings: Settings, deps: FrontDeps | None = None) -> web.Application:
    """The front's app; dependencies arrive as arguments and live under typed AppKeys.

    Without `deps` only /healthz is served (a process whose store is not wired yet).
    """
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        middlewares=[
            metrics_middleware(),
            turns_middleware(
                deps.turns
                if deps is not None and deps.turns is not None
                else LoopTurns.from_settings(settings)
            ),
            cors_middleware(CorsPolicy(settings.allowed_origins)),
            error_middleware((SOCKET_IO_PREFIX,)),
        ],
    )
    app[SETTINGS] = settings
    endpoints = [_health_endpoint()]
    if deps is not None:
        app[DEPS] = deps
        endpoints.extend(_wire_rest(app, settings, deps))
    openapi = OpenApiRoutes(endpoints, TITLE, VERSION)
    endpoints.extend(openapi.own)
    app[OPENAPI] = openapi
    app[ENDPOINTS] = endpoints
    for endpoint in endpoints:
        app.router.add_route(endpoint.method, endpoint.full_path, endpoint.handler)
    return app


def _wire_rest(app: web.Application, settings: Settings, deps: FrontDeps) -> list[Endpoint]:
    scheme = settings.interval_scheme
    hasher = PasswordHasher(settings.bcrypt_salt_rounds)
    tokens = TokenService.from_settings(settings)
    limiter = LoginLimiter(per_pair=Limit(settings.login_max_failures, 15 * 60))
    registrations = RegistrationLimiter(
        Limit(settings.registrations_per_ip_hour, 3600),
        Limit(settings.registrations_per_minute, 60),
    )
    app[LIMITER] = limiter
    guard = Guard(tokens, deps.store)

    async def lifecycle(_: web.Application) -> AsyncIterator[None]:
        try:
            await ensure_super_admin(deps.store, settings, hasher)
        except StoreError as exc:
            log.warning("could not ensure the super admin (store unavailable): %s", exc)
        yield
        hasher.close()

    app.cleanup_ctx.append(lifecycle)
    return [
        *UsersApi(deps.store, hasher, tokens, limiter, registrations).endpoints(),
        *SymbolsApi(deps.store, guard, deps.listed).endpoints(),
        *PricesApi(
            deps.store, deps.reader, scheme, max_points=settings.price_data_max_points
        ).endpoints(),
        *SystemApi(
            deps.store,
            deps.cache,
            deps.feed_status,
            deps.hub,
            deps.readiness,
            settings.port,
            bus_losses=deps.bus_losses,
            metrics_public=not ipaddress.ip_address(settings.metrics_host).is_loopback,
        ).endpoints(),
    ]
