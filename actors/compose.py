"""Embedded mode's composition root: the whole tree in one process (`binance-stats run`).

The in-memory bus joins the actors; the cache is in memory unless Redis is configured; the
store is SQLite by default. Tree mode composes each supervisord program in `actors/tree.py`.
Children start in list order and stop in reverse: the feed stops first, the DbWriter flushes
late, the store closes last.
"""

from __future__ import annotations

import dataclasses
import socket

from actors.bus.backfill_requests import MemoryBackfillRequests
from actors.bus.memory import MemoryBus
from actors.cache.base import PriceCache
from actors.cache.memory import MemoryCache
from actors.cache.redis import RedisCache
from actors.config import Settings
from actors.core.resource import Resource
from actors.core.supervisor import ChildSpec, Supervisor
from actors.feed.reader import build_feed_reader
from actors.feed.rest_gate import RestGate
from actors.feed.seeder import SymbolSeeder
from actors.feed.status import FeedStatusBoard
from actors.front.assembly import front_children
from actors.front.rest.system import ReadinessCheck
from actors.simulator.exchange import ExchangeSimulator
from actors.sinks.cache_writer import CacheWriter
from actors.sinks.db_writer import STOP_TIMEOUT, DbWriter
from actors.store import open_store


def _loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_embedded(
    settings: Settings, *, simulate: bool = False, simulated_symbols: int = 242
) -> Supervisor:
    """The whole tree in one process; `simulate` runs the local exchange in-process too."""
    specs: list[ChildSpec] = []
    if simulate:
        sim = ExchangeSimulator(
            symbols=simulated_symbols, history_seconds=2 * 3600
        )  # ~100 MB bound
        port = _loopback_port()
        specs.append(
            ChildSpec(Resource("simulator", lambda: sim.start("127.0.0.1", port), sim.stop))
        )
        settings = dataclasses.replace(
            settings,
            binance_ws_url=f"ws://127.0.0.1:{port}",
            binance_rest_url=f"http://127.0.0.1:{port}",
        )
    scheme = settings.interval_scheme
    store = open_store(
        settings.database_url, scheme, sqlite_synchronous=settings.sqlite_synchronous
    )
    specs.append(ChildSpec(Resource("store", store.open, store.close)))
    cache: PriceCache
    if settings.redis.url is not None:
        redis_cache = RedisCache.from_url(settings.redis.url, settings.redis_prefix)
        specs.append(ChildSpec(Resource("cache", closer=redis_cache.close)))
        cache = redis_cache
    else:
        cache = MemoryCache()
    bus = MemoryBus(max_mb=settings.bus_max_mb)
    backfill_requests = MemoryBackfillRequests()
    db_writer = DbWriter(
        bus,
        store,
        flush_seconds=settings.db_flush_seconds,
        retention_days=settings.retention_days,
        buffer_limit=settings.db_buffer_points,
        backfill=backfill_requests,
    )
    cache_writer = CacheWriter(bus, cache, scheme)
    board = FeedStatusBoard()
    front = front_children(
        settings,
        scheme,
        bus=bus,
        store=store,
        cache=cache,
        feed_status=board,
        readiness=(ReadinessCheck("db-writer", db_writer.ready),),
    )
    gate = RestGate()
    readers = [
        build_feed_reader(
            settings,
            (k, settings.feed_shards),
            bus=bus,
            store=store,
            status=board,
            rest_gate=gate,
            backfill_requests=backfill_requests,
        )
        for k in range(settings.feed_shards)
    ]
    specs += [
        ChildSpec(db_writer, shutdown=STOP_TIMEOUT),
        ChildSpec(cache_writer),
        *front,
        ChildSpec(SymbolSeeder(store, settings.binance_rest_url, gate, notify=readers)),
        ChildSpec(
            Supervisor("feed", [ChildSpec(r) for r in readers], max_restarts=10, period=60.0)
        ),
    ]
    return Supervisor("embedded", specs, max_restarts=20, period=60.0)
