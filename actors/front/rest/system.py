"""System: the dashboard's /system/status and /system/health, the `/` banner, /readyz, /metrics."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import msgspec
import prometheus_client
from aiohttp import web
from redis.exceptions import RedisError

from actors.bus.loss import LossView
from actors.cache.base import CacheError, PriceCache
from actors.feed.status import FeedStatus
from actors.front.errors import envelope
from actors.front.rest.common import Endpoint
from actors.front.schemas import (
    HealthView,
    Readiness,
    Services,
    ServiceState,
    SocketStats,
    StatusView,
)
from actors.store.base import Store, StoreError

log = logging.getLogger("actors.front.system")

CHECK_TIMEOUT_SECONDS = 2.0


class HubStats(Protocol):
    """What the Socket.IO hub tells /system/status."""

    def stats(self) -> Mapping[str, object]:
        """`{activeSubscriptions: int, connectedClients: int}`."""


# What the bus lost per group (Bus.losses): reported by /readyz without failing it, since a
# front serving live prices is ready whatever the store missed (the writer backfills it).
LossReport = Callable[[], Awaitable[Mapping[str, LossView]]]


@dataclass(frozen=True)
class ReadinessCheck:
    """A named probe for /readyz (e.g. the DbWriter's buffer, a Redis bus); True when healthy."""

    name: str
    probe: Callable[[], Awaitable[bool]]


async def _probe(name: str, probe: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return bool(await asyncio.wait_for(probe(), CHECK_TIMEOUT_SECONDS))
    except (TimeoutError, CacheError, StoreError, OSError) as exc:
        log.warning("readiness check %s failed: %s", name, exc)
        return False


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _count(stats: Mapping[str, object], key: str) -> int:
    value = stats.get(key, 0)
    return value if isinstance(value, int) else 0


class SystemApi:
    """Status and health handlers."""

    def __init__(
        self,
        store: Store,
        cache: PriceCache,
        feed_status: FeedStatus,
        hub: HubStats | None,
        readiness: Sequence[ReadinessCheck],
        port: int,
        *,
        bus_losses: LossReport | None = None,
        metrics_public: bool = False,
    ) -> None:
        self.store = store
        self.cache = cache
        self.feed_status = feed_status
        self.hub = hub
        self.readiness = tuple(readiness)
        self.port = port
        self.metrics_public = metrics_public
        self.bus_losses = bus_losses

    def endpoints(self) -> list[Endpoint]:
        tag = "System"
        return [
            Endpoint(
                "GET",
                "/system/status",
                self.status,
                "Server and service status",
                tag,
                data=StatusView,
            ),
            Endpoint(
                "GET", "/system/health", self.health, "Health in the envelope", tag, data=HealthView
            ),
            Endpoint(
                "GET", "/", self.banner, "A one-line banner", tag, absolute=True, media="text"
            ),
            Endpoint(
                "GET",
                "/readyz",
                self.ready,
                "Ready: store, cache and feed answer",
                tag,
                absolute=True,
                data=Readiness,
                errors=(503,),
                media="json",
                description="Not enveloped: `{status, checks}`; 503 when any check fails.",
            ),
            Endpoint(
                "GET",
                "/metrics",
                self.metrics,
                "Prometheus metrics",
                tag,
                absolute=True,
                media="text",
                errors=(404,),
                description="Answered to loopback clients only, unless METRICS_HOST is a "
                "non-loopback address (404 otherwise).",
            ),
        ]

    async def _checks(self) -> dict[str, bool]:
        probes: list[tuple[str, Callable[[], Awaitable[bool]]]] = [
            ("store", self.store.ping),
            ("cache", self.cache.ping),
            ("feed", self.feed_status.connected),
            ("exchangeRest", self.feed_status.rest_allowed),
            *((check.name, check.probe) for check in self.readiness),
        ]
        results = await asyncio.gather(*(_probe(name, probe) for name, probe in probes))
        return {name: ok for (name, _), ok in zip(probes, results, strict=True)}

    async def ready(self, request: web.Request) -> web.Response:
        checks = await self._checks()
        ok = all(checks.values())
        losses = await self._losses()
        body = msgspec.json.encode(Readiness("ready" if ok else "not ready", checks, losses))
        return web.Response(body=body, status=200 if ok else 503, content_type="application/json")

    async def _losses(self) -> dict[str, LossView]:
        if self.bus_losses is None:
            return {}
        try:
            return dict(await asyncio.wait_for(self.bus_losses(), CHECK_TIMEOUT_SECONDS))
        except (TimeoutError, RedisError) as exc:
            log.warning("bus losses unavailable: %s", exc)
            return {}

    async def status(self, request: web.Request) -> web.Response:
        feed_ok, cache_ok = await asyncio.gather(
            _probe("feed", self.feed_status.connected), _probe("cache", self.cache.ping)
        )
        hub = self.hub.stats() if self.hub is not None else {}
        view = StatusView(
            server="running",
            timestamp=int(time.time() * 1000),
            services=Services(
                binance_web_socket=ServiceState(
                    feed_ok, "connected" if feed_ok else "disconnected"
                ),
                redis=ServiceState(cache_ok, "connected" if cache_ok else "disconnected"),
                socket_io=SocketStats(
                    _count(hub, "activeSubscriptions"), _count(hub, "connectedClients")
                ),
            ),
        )
        return envelope(view, "System status retrieved successfully")

    async def health(self, request: web.Request) -> web.Response:
        return envelope(HealthView("healthy", int(time.time() * 1000)), "Server is healthy")

    async def banner(self, request: web.Request) -> web.Response:
        port = self.port
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            port = int(sockname[1])
        return web.Response(text=f"Binance Statistics Backend is running on port {port}\n")

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.metrics_public and not _is_loopback(request.remote):
            raise web.HTTPNotFound()
        payload = prometheus_client.generate_latest()
        return web.Response(
            body=payload, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
        )
