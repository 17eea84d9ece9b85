"""Tree mode: the composition of each supervisord program (`binance-stats actor NAME`).

Every program talks to the others over Redis: the bus stream, the cache, the feed heartbeats.
Each one serves its own Prometheus metrics on 127.0.0.1:METRICS_BASE_PORT + its offset
(front +0, cache-writer +1, db-writer +2, feed shard K +10+K; see grafana/prometheus.yml).
Children start in list order and stop in reverse: resources first, the front's server last.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import redis.asyncio as aioredis

from actors import metrics
from actors.bus.backfill_requests import RedisBackfillRequests
from actors.bus.redis import RedisBus
from actors.cache.redis import RedisCache
from actors.config import Settings
from actors.core.resource import Resource
from actors.core.supervisor import ChildSpec, Supervisor
from actors.feed.reader import build_feed_reader
from actors.feed.rest_gate import RestGate
from actors.feed.seeder import SymbolSeeder
from actors.feed.status import FeedStatusBoard
from actors.feed.status_redis import RedisFeedStatus, RedisFeedStatusPublisher
from actors.front.assembly import front_children
from actors.sinks.cache_writer import CacheWriter
from actors.store import Store, open_store

log = logging.getLogger("actors.tree")

METRICS_OFFSETS = {"front": 0, "cache-writer": 1, "db-writer": 2, "feed": 10}


def metrics_port(settings: Settings, name: str, shard: tuple[int, int]) -> int:
    """The port a program serves its metrics on; feed shard K gets base + 10 + K."""
    offset = METRICS_OFFSETS[name] + (shard[0] if name == "feed" else 0)
    return settings.metrics_base_port + offset


def redis_url(settings: Settings) -> str:
    """Tree mode cannot run without Redis: one line naming the variables, exit status 2 (like
    any configuration error)."""
    url = settings.redis.url
    if url is None:
        print(
            "binance-stats actor: tree mode needs Redis: set REDIS_URL or REDIS_HOST",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return url


class _Parts:
    """The shared resources of one program, each opened and closed by a Resource child."""

    def __init__(self, settings: Settings, name: str, shard: tuple[int, int]) -> None:
        self.settings = settings
        self.url = redis_url(settings)
        self.prefix = settings.redis_prefix
        self.scheme = settings.interval_scheme
        self.port = metrics_port(settings, name, shard)
        self.specs: list[ChildSpec] = []
        self._metrics_served = False
        self.specs.append(ChildSpec(Resource("metrics", self._serve_metrics)))

    async def _serve_metrics(self) -> None:
        if self._metrics_served:
            return  # a restarted Resource keeps the listening thread
        try:
            metrics.serve_metrics(self.port)
        except OSError as exc:
            # a program without metrics still does its work; the scrape target shows down
            log.warning("cannot serve metrics on 127.0.0.1:%d: %s", self.port, exc.strerror or exc)
            return
        self._metrics_served = True
        log.info("metrics on http://127.0.0.1:%d/metrics", self.port)

    def store(self) -> Store:
        store = open_store(
            self.settings.database_url,
            self.scheme,
            sqlite_synchronous=self.settings.sqlite_synchronous,
        )
        self.specs.append(ChildSpec(Resource("store", store.open, store.close)))
        return store

    def bus(self) -> RedisBus:
        bus = RedisBus.from_url(self.url, self.prefix, max_mb=self.settings.bus_max_mb)
        self.specs.append(ChildSpec(Resource("bus", closer=bus.close)))
        return bus

    def cache(self) -> RedisCache:
        cache = RedisCache.from_url(self.url, self.prefix)
        self.specs.append(ChildSpec(Resource("cache", closer=cache.close)))
        return cache

    def client(self) -> aioredis.Redis:
        client = aioredis.Redis.from_url(self.url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.specs.append(ChildSpec(Resource("redis", closer=client.aclose)))
        return client


def build_feed(settings: Settings, shard: tuple[int, int]) -> Supervisor:
    """Feed shard K/N: exchange streams → PricePoints → the bus; heartbeats for the fronts."""
    parts = _Parts(settings, "feed", shard)
    store, bus, client = parts.store(), parts.bus(), parts.client()
    board, gate = FeedStatusBoard(), RestGate()
    reader = build_feed_reader(
        settings,
        shard,
        bus=bus,
        store=store,
        status=board,
        rest_gate=gate,
        backfill_requests=RedisBackfillRequests(bus.client, parts.prefix),
    )
    publisher = RedisFeedStatusPublisher(board, client, parts.prefix)
    parts.specs.append(ChildSpec(publisher))
    if shard[0] == 0:  # a fresh store gets the tracked symbols once; the shards poll for them
        parts.specs.append(ChildSpec(SymbolSeeder(store, settings.binance_rest_url, gate)))
    parts.specs.append(ChildSpec(reader))
    return Supervisor(f"feed-{shard[0]}", parts.specs)


def build_cache_writer(settings: Settings) -> Supervisor:
    """The bus group `cache-writer` → the Redis cache."""
    parts = _Parts(settings, "cache-writer", (0, 1))
    bus, cache = parts.bus(), parts.cache()
    writer = CacheWriter(bus, cache, parts.scheme, consumer="cache-writer")
    parts.specs.append(ChildSpec(writer))
    return Supervisor("cache-writer", parts.specs)


def build_db_writer(settings: Settings) -> Supervisor:
    """The bus group `db-writer` → batched, idempotent store writes; flushes on TERM."""
    from actors.sinks.db_writer import STOP_TIMEOUT, DbWriter

    parts = _Parts(settings, "db-writer", (0, 1))
    store, bus = parts.store(), parts.bus()
    writer = DbWriter(
        bus,
        store,
        flush_seconds=settings.db_flush_seconds,
        retention_days=settings.retention_days,
        buffer_limit=settings.db_buffer_points,
        backfill=RedisBackfillRequests(bus.client, parts.prefix),
        consumer="db-writer",
    )
    parts.specs.append(ChildSpec(writer, shutdown=STOP_TIMEOUT))
    return Supervisor("db-writer", parts.specs)


def build_front(settings: Settings) -> Supervisor:
    """REST + Socket.IO on PORT; tails the bus (no group), so several fronts can run at once."""
    parts = _Parts(settings, "front", (0, 1))
    store, bus, cache, client = parts.store(), parts.bus(), parts.cache(), parts.client()
    feed_status = RedisFeedStatus(client, parts.prefix)
    # /readyz already probes the store, the cache and the feed heartbeats
    parts.specs += front_children(
        settings, parts.scheme, bus=bus, store=store, cache=cache, feed_status=feed_status
    )
    return Supervisor("front", parts.specs)


PROGRAMS: dict[str, Callable[[Settings, tuple[int, int]], Supervisor]] = {
    "feed": build_feed,
    "cache-writer": lambda settings, _: build_cache_writer(settings),
    "db-writer": lambda settings, _: build_db_writer(settings),
    "front": lambda settings, _: build_front(settings),
}


def build_program(settings: Settings, name: str, shard: tuple[int, int]) -> Supervisor:
    """One program of supervisor.conf."""
    try:
        build = PROGRAMS[name]
    except KeyError:
        raise SystemExit(f"binance-stats actor: unknown program {name!r}") from None
    return build(settings, shard)
