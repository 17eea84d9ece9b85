"""What a role's children are wired with, per mode: the bus, the cache, the store, feed status.

A role asks its Wiring for what it needs; the first request creates the thing and adds the
Resource child that opens and closes it, so a process holds only what its roles use, opened
before them and closed after them. `MemoryWiring` is embedded mode (one process: an in-memory
bus, one feed status board, cross-role readiness checks); `RedisWiring` is one tree program
(the Redis bus and cache, feed heartbeats through Redis, its own metrics port).
"""

from __future__ import annotations

import logging
import socket
import sys
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.asyncio as aioredis

from actors import metrics
from actors.bus.backfill_requests import (
    BackfillRequests,
    MemoryBackfillRequests,
    RedisBackfillRequests,
)
from actors.bus.base import Bus
from actors.bus.memory import MemoryBus
from actors.bus.redis import RedisBus
from actors.cache.base import PriceCache
from actors.cache.memory import MemoryCache
from actors.cache.redis import RedisCache
from actors.config import Settings
from actors.core.actor import Actor
from actors.core.resource import Resource
from actors.core.supervisor import ChildSpec
from actors.feed.listed import ListedSymbols, MemoryListedSymbols, RedisListedSymbols
from actors.feed.rest_gate import RestGate
from actors.feed.status import FeedStatus, FeedStatusBoard
from actors.feed.status_redis import RedisFeedStatus, RedisFeedStatusPublisher
from actors.front.rest.system import ReadinessCheck
from actors.front.sio.sessions import MemorySessions, RedisSessions, SessionStore
from actors.store import Store, open_store

log = logging.getLogger("actors.topology")
T = TypeVar("T")
Hook = Callable[[], Awaitable[object]] | None


class Wiring(ABC):
    """The shared parts of one process and the links between its roles."""

    mode: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.scheme = settings.interval_scheme
        self.resources: list[ChildSpec] = []  # in start order; they stop after the roles
        self.readers: list[Actor[str]] = []  # this process's feed readers (the seeder's notify)
        self.readiness: list[ReadinessCheck] = []  # probes the front's /readyz adds
        self._parts: dict[str, object] = {}

    def _once(self, name: str, make: Callable[[], T]) -> T:
        if name not in self._parts:
            self._parts[name] = make()
        return self._parts[name]  # type: ignore[return-value]

    def _own(self, name: str, thing: T, opener: Hook = None, closer: Hook = None) -> T:
        """`thing`, with a Resource child that opens and closes it."""
        self.resources.append(ChildSpec(Resource(name, opener, closer)))
        return thing

    def consumer(self, group: str) -> str:
        """This host's member name in a bus consumer group: `group@hostname`."""
        return f"{group}@{socket.gethostname()}"

    def store(self) -> Store:
        def make() -> Store:
            store = open_store(
                self.settings.database_url,
                self.scheme,
                sqlite_synchronous=self.settings.sqlite_synchronous,
            )
            return self._own("store", store, store.open, store.close)

        return self._once("store", make)

    def rest_gate(self) -> RestGate:
        """The process's share of the exchange's REST weight."""
        return self._once("rest-gate", RestGate)

    @abstractmethod
    def bus(self) -> Bus: ...

    @abstractmethod
    def cache(self) -> PriceCache: ...

    @abstractmethod
    def backfill_requests(self) -> BackfillRequests:
        """How a writer whose bus group lost points asks the feed shards to refetch them."""

    @abstractmethod
    def listed_symbols(self) -> ListedSymbols:
        """The exchange's pairs as last checked: the listing watcher writes, the front reads."""

    @abstractmethod
    def sessions(self) -> SessionStore:
        """Where the fronts keep disconnected Socket.IO sessions for connection recovery."""

    @abstractmethod
    def feed_board(self) -> FeedStatusBoard:
        """Where this process's feed readers record their state."""

    @abstractmethod
    def feed_status(self) -> FeedStatus:
        """What the front reads the feed's state from."""

    @abstractmethod
    def expose_readiness(self, check: ReadinessCheck) -> None:
        """Offer a role's readiness probe to a front in the same process, if there is one."""


def bus_history_seconds(settings: Settings) -> float:
    """How long the bus keeps what it carried: the Socket.IO recovery window replays from it
    (a client's offset is checked against the window, so the margin covers its last second)."""
    return settings.sio_recovery_seconds + 30.0


class MemoryWiring(Wiring):
    """Embedded mode: one process, so roles share an in-memory bus and one status board."""

    mode = "embedded"

    def bus(self) -> Bus:
        def make() -> Bus:
            bus = MemoryBus(
                max_mb=self.settings.bus_max_mb, history_seconds=bus_history_seconds(self.settings)
            )
            return self._own("bus", bus, closer=bus.close)

        return self._once("bus", make)

    def sessions(self) -> SessionStore:
        return self._once("sessions", MemorySessions)

    def backfill_requests(self) -> BackfillRequests:
        return self._once("backfill-requests", MemoryBackfillRequests)

    def cache(self) -> PriceCache:
        def make() -> PriceCache:
            url = self.settings.redis.url
            cache: PriceCache
            window = self.settings.cache_window_ms
            if url is None:
                cache = MemoryCache(window_ms=window)
            else:  # a Redis cache survives a restart of the process
                cache = RedisCache.from_url(url, self.settings.redis_prefix, window_ms=window)
            return self._own("cache", cache, closer=cache.close)

        return self._once("cache", make)

    def feed_board(self) -> FeedStatusBoard:
        return self._once("feed-board", FeedStatusBoard)

    def listed_symbols(self) -> ListedSymbols:
        return self._once("listed-symbols", MemoryListedSymbols)

    def feed_status(self) -> FeedStatus:
        return self.feed_board()

    def expose_readiness(self, check: ReadinessCheck) -> None:
        self.readiness.append(check)


def redis_url(settings: Settings, command: str = "binance-stats actor") -> str:
    """Tree mode cannot run without Redis: one line naming the variables, exit status 2 (like
    any configuration error)."""
    url = settings.redis.url
    if url is None:
        print(
            f"{command}: tree mode needs Redis: set REDIS_URL or REDIS_HOST",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


class RedisWiring(Wiring):
    """One tree program: everything shared with other programs goes through Redis; the program
    serves its own metrics on `metrics_port`."""

    mode = "tree"

    def __init__(self, settings: Settings, metrics_port: int) -> None:
        super().__init__(settings)
        self.url = redis_url(settings)
        self.prefix = settings.redis_prefix
        self.metrics_port = metrics_port
        self._metrics_served = False
        self._own("metrics", None, self._serve_metrics)

    async def _serve_metrics(self) -> None:
        if self._metrics_served:
            return  # a restarted Resource keeps the listening thread
        try:
            metrics.serve_metrics(self.metrics_port, self.settings.metrics_host)
        except OSError as exc:
            # a program without metrics still does its work; the scrape target shows down
            log.warning("cannot serve metrics on %s: %s", self._metrics_at, exc.strerror or exc)
            return
        self._metrics_served = True
        log.info("metrics on http://%s/metrics", self._metrics_at)

    @property
    def _metrics_at(self) -> str:
        return f"{self.settings.metrics_host}:{self.metrics_port}"

    def bus(self) -> RedisBus:
        def make() -> RedisBus:
            bus = RedisBus.from_url(
                self.url,
                self.prefix,
                max_mb=self.settings.bus_max_mb,
                keep_seconds=bus_history_seconds(self.settings),
            )
            return self._own("bus", bus, closer=bus.close)

        return self._once("bus", make)

    def sessions(self) -> SessionStore:
        return self._once("sessions", lambda: RedisSessions(self._client(), self.prefix))

    def cache(self) -> PriceCache:
        def make() -> PriceCache:
            cache = RedisCache.from_url(
                self.url, self.prefix, window_ms=self.settings.cache_window_ms
            )
            return self._own("cache", cache, closer=cache.close)

        return self._once("cache", make)

    def backfill_requests(self) -> BackfillRequests:
        # on the bus's connection: a request is about the bus's own entries
        return self._once(
            "backfill-requests", lambda: RedisBackfillRequests(self.bus().client, self.prefix)
        )

    def _client(self) -> aioredis.Redis:
        def make() -> aioredis.Redis:
            client = aioredis.Redis.from_url(
                self.url, socket_timeout=2.0, socket_connect_timeout=2.0
            )
            return self._own("redis", client, closer=client.aclose)

        return self._once("redis", make)

    def feed_board(self) -> FeedStatusBoard:
        def make() -> FeedStatusBoard:
            board = FeedStatusBoard()
            publisher = RedisFeedStatusPublisher(board, self._client(), self.prefix)
            self.resources.append(ChildSpec(publisher))  # heartbeats for the fronts
            return board

        return self._once("feed-board", make)

    def feed_status(self) -> FeedStatus:
        return self._once("feed-status", lambda: RedisFeedStatus(self._client(), self.prefix))

    def listed_symbols(self) -> ListedSymbols:
        # kept three checks long: a dead watcher's list expires instead of going stale
        ttl = max(3600.0, 3.0 * self.settings.listing_check_seconds)
        return self._once(
            "listed-symbols",
            lambda: RedisListedSymbols(self._client(), self.prefix, ttl_seconds=ttl),
        )

    def expose_readiness(self, check: ReadinessCheck) -> None:
        """A front in another process cannot call it; its /readyz probes the store and the
        cache itself."""
