"""The roles of the process tree, each declared once with its children.

A role builds its children from a Wiring; embedded mode builds every role with one
MemoryWiring, tree mode builds one role per supervisord program with a RedisWiring. ROLES is
in start order: the writers first (their readiness checks exist when the front is built, and
they stop last so they drain what the others sent), the front, the feed last (it stops first).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from actors.config import Settings
from actors.core.supervisor import ChildSpec
from actors.feed.listings import ListingWatcher
from actors.feed.reader import build_feed_reader
from actors.front.assembly import front_children
from actors.front.rest.system import ReadinessCheck
from actors.sinks import cache_writer, db_writer
from actors.topology.wiring import Wiring

Shard = tuple[int, int]  # (K, N): shard K of N


def feed_children(wiring: Wiring, shard: Shard) -> list[ChildSpec]:
    """Feed shard K/N: exchange streams → PricePoints → the bus. Shard 0 also runs the listing
    watcher (exchangeInfo every LISTING_CHECK_SECONDS: seeds a fresh store, follows listings
    and delistings, wakes the readers of its process)."""
    settings = wiring.settings
    store, bus = wiring.store(), wiring.bus()
    reader = build_feed_reader(
        settings,
        shard,
        bus=bus,
        store=store,
        status=wiring.feed_board(),
        rest_gate=wiring.rest_gate(),
        backfill_requests=wiring.backfill_requests(),
    )
    wiring.readers.append(reader)
    children = [ChildSpec(reader)]
    if shard[0] == 0:  # the other shards poll the store for the symbols
        watcher = ListingWatcher(
            store,
            settings.binance_rest_url,
            wiring.rest_gate(),
            wiring.listed_symbols(),
            interval=settings.listing_check_seconds,
            notify=wiring.readers,
        )
        children.insert(0, ChildSpec(watcher))
    return children


def cache_writer_children(wiring: Wiring, shard: Shard) -> list[ChildSpec]:
    """The bus group `cache-writer` → the price cache."""
    writer = cache_writer.CacheWriter(
        wiring.bus(),
        wiring.cache(),
        wiring.scheme,
        consumer=wiring.consumer(cache_writer.GROUP),
    )
    return [ChildSpec(writer)]


def db_writer_children(wiring: Wiring, shard: Shard) -> list[ChildSpec]:
    """The bus group `db-writer` → batched, idempotent store writes; flushes on stop."""
    settings = wiring.settings
    store, bus = wiring.store(), wiring.bus()
    writer = db_writer.DbWriter(
        bus,
        store,
        flush_seconds=settings.db_flush_seconds,
        retention_days=settings.retention_days,
        buffer_limit=settings.db_buffer_points,
        backfill=wiring.backfill_requests(),
        consumer=wiring.consumer(db_writer.GROUP),
    )
    wiring.expose_readiness(ReadinessCheck("db-writer", writer.ready))
    return [ChildSpec(writer, shutdown=db_writer.STOP_TIMEOUT)]


def front_role_children(wiring: Wiring, instance: Shard) -> list[ChildSpec]:
    """REST + Socket.IO on PORT (+K for front K of a host); tails the bus (no group), so any
    number of fronts can run, on any number of hosts."""
    store, bus, cache = wiring.store(), wiring.bus(), wiring.cache()
    settings = wiring.settings
    if instance[0]:
        settings = dataclasses.replace(settings, port=settings.port + instance[0])
    return front_children(
        settings,
        wiring.scheme,
        bus=bus,
        store=store,
        cache=cache,
        feed_status=wiring.feed_status(),
        listed=wiring.listed_symbols(),
        readiness=wiring.readiness,
        sessions=wiring.sessions(),
    )


@dataclass(frozen=True)
class Role:
    """One role: its children, how many instances run (feed: one per shard, each owning a part
    of the symbols; front: FRONTS replicas per host in tree mode), and how supervisord runs it
    (start priority, seconds between TERM and KILL, help line of supervisor.conf)."""

    name: str
    build: Callable[[Wiring, Shard], list[ChildSpec]]
    metrics_offsets: Callable[[int], int]  # instance K -> METRICS_BASE_PORT + offset
    priority: int
    stop_wait: int
    about: str
    sharded: bool = False  # instances partition the work: embedded mode runs them all
    replicated: bool = False  # instances serve the same: embedded mode runs one

    def count(self, settings: Settings) -> int:
        """How many instances a tree host runs."""
        if self.sharded:
            return settings.feed_shards
        return settings.fronts if self.replicated else 1

    def shards(self, settings: Settings) -> list[Shard]:
        """The (K, N) instances one process of embedded mode runs."""
        n = self.count(settings) if self.sharded else 1
        return [(k, n) for k in range(n)]

    def program(self, instance: Shard) -> str:
        """The name of its process (and root supervisor) in tree mode."""
        numbered = self.sharded or (self.replicated and instance[1] > 1)
        return f"{self.name}-{instance[0]}" if numbered else self.name


ROLES: tuple[Role, ...] = (
    Role(
        "db-writer",
        db_writer_children,
        lambda k: 2,
        priority=100,
        # on TERM it flushes its buffer: well over DB_FLUSH_SECONDS plus a slow batch
        stop_wait=int(db_writer.STOP_TIMEOUT) + 15,
        about="Batched, idempotent store writes from the bus group db-writer; flushes on TERM.",
    ),
    Role(
        "cache-writer",
        cache_writer_children,
        lambda k: 1,
        priority=200,
        stop_wait=20,
        about="The latest prices, the 1 Hz series and interval aggregates into the Redis cache.",
    ),
    Role(
        "front",
        front_role_children,
        lambda k: 0 if k == 0 else 2 + k,  # +3..+9 for fronts 1..7 of a host
        priority=400,
        stop_wait=20,
        about="REST + Socket.IO on PORT (+K for front K); tails the bus without a group.",
        replicated=True,
    ),
    Role(
        "feed",
        feed_children,
        lambda k: 10 + k,
        priority=300,
        stop_wait=20,
        about="Feed shard K of N: symbols with crc32(symbol) mod N == K; shard 0 seeds a fresh store.",
        sharded=True,
    ),
)
ROLE_NAMES = tuple(role.name for role in ROLES)


def role(name: str) -> Role:
    """The role called `name`; SystemExit naming it when there is none."""
    for candidate in ROLES:
        if candidate.name == name:
            return candidate
    raise SystemExit(f"binance-stats actor: unknown program {name!r}")


def metrics_port(settings: Settings, name: str, instance: Shard) -> int:
    """The port a tree program serves its metrics on: METRICS_BASE_PORT + front +0 (front K
    of a host +2+K), cache-writer +1, db-writer +2, feed shard K +10+K."""
    return settings.metrics_base_port + role(name).metrics_offsets(instance[0])
