"""The roles of the process tree, each declared once with its children.

A role builds its children from a Wiring; embedded mode builds every role with one
MemoryWiring, tree mode builds one role per supervisord program with a RedisWiring. ROLES is
in start order: the writers first (their readiness checks exist when the front is built, and
they stop last so they drain what the others sent), the front, the feed last (it stops first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from actors.config import Settings
from actors.core.supervisor import ChildSpec, Restart
from actors.feed.reader import build_feed_reader
from actors.feed.seeder import SymbolSeeder
from actors.front.assembly import front_children
from actors.front.rest.system import ReadinessCheck
from actors.sinks import cache_writer, db_writer
from actors.topology.wiring import Wiring

Shard = tuple[int, int]  # (K, N): shard K of N


def feed_children(wiring: Wiring, shard: Shard) -> list[ChildSpec]:
    """Feed shard K/N: exchange streams → PricePoints → the bus. Shard 0 also seeds a fresh
    store's symbols once (a transient child), then wakes the readers of its process."""
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
        seeder = SymbolSeeder(
            store, settings.binance_rest_url, wiring.rest_gate(), notify=wiring.readers
        )
        children.insert(0, ChildSpec(seeder, restart=Restart.TRANSIENT))
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


def front_role_children(wiring: Wiring, shard: Shard) -> list[ChildSpec]:
    """REST + Socket.IO on PORT; tails the bus (no group), so any number of fronts can run."""
    store, bus, cache = wiring.store(), wiring.bus(), wiring.cache()
    return front_children(
        wiring.settings,
        wiring.scheme,
        bus=bus,
        store=store,
        cache=cache,
        feed_status=wiring.feed_status(),
        readiness=wiring.readiness,
    )


@dataclass(frozen=True)
class Role:
    """One role: its children, whether it runs once per feed shard, its metrics port offset
    in tree mode (METRICS_BASE_PORT + offset, + K for shard K)."""

    name: str
    build: Callable[[Wiring, Shard], list[ChildSpec]]
    metrics_offset: int
    sharded: bool = False

    def shards(self, settings: Settings) -> list[Shard]:
        """The (K, N) instances of this role a deployment runs."""
        if not self.sharded:
            return [(0, 1)]
        n = settings.feed_shards
        return [(k, n) for k in range(n)]

    def program(self, shard: Shard) -> str:
        """The name of its process (and root supervisor) in tree mode."""
        return f"{self.name}-{shard[0]}" if self.sharded else self.name


ROLES: tuple[Role, ...] = (
    Role("db-writer", db_writer_children, metrics_offset=2),
    Role("cache-writer", cache_writer_children, metrics_offset=1),
    Role("front", front_role_children, metrics_offset=0),
    Role("feed", feed_children, metrics_offset=10, sharded=True),
)
ROLE_NAMES = tuple(role.name for role in ROLES)


def role(name: str) -> Role:
    """The role called `name`; SystemExit naming it when there is none."""
    for candidate in ROLES:
        if candidate.name == name:
            return candidate
    raise SystemExit(f"binance-stats actor: unknown program {name!r}")


def metrics_port(settings: Settings, name: str, shard: Shard) -> int:
    """The port a tree program serves its metrics on; feed shard K gets base + 10 + K."""
    found = role(name)
    return settings.metrics_base_port + found.metrics_offset + (shard[0] if found.sharded else 0)
