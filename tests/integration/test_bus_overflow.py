"""A db-writer held away while the Redis stream overflows a small BUS_MAX_MB: the points the
stream drops are counted, logged with their range, reported, backfilled from the simulator's
klines once the writer is back, and the stored series ends up whole (real Redis, simulator,
SQLite; the feed and the writer on separate bus instances, as separate processes would be)."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from actors import metrics
from actors.bus.backfill_requests import RedisBackfillRequests
from actors.bus.redis import RedisBus
from actors.core.backoff import Backoff
from actors.feed.reader import FeedReader
from actors.feed.rest_gate import RestGate
from actors.feed.status import FeedStatusBoard
from actors.feed.symbols import seed_symbols
from actors.simulator.exchange import ExchangeSimulator
from actors.sinks.db_writer import DbWriter
from actors.store import Store
from tests.conftest import RedisHandle
from tests.helpers import eventually, simulated_closes

pytestmark = pytest.mark.timeout(120)

MAX_MB = 0.004  # one stream node: the stream overflows within seconds


@pytest.fixture
async def simulator() -> AsyncIterator[ExchangeSimulator]:
    sim = ExchangeSimulator(
        symbols=6, seed=11, rate=1.0, ping_interval=1.0, activity="uniform"
    )  # compares every second
    await sim.start()
    yield sim
    await sim.stop()


def writer(redis: RedisHandle, store: Store) -> DbWriter:
    bus = RedisBus(redis.client, redis.prefix, max_mb=MAX_MB)
    return DbWriter(
        bus,
        store,
        flush_seconds=0.2,
        read_timeout=0.05,
        backoff=Backoff(base=0.05, cap=0.2),
        backfill=RedisBackfillRequests(redis.client, redis.prefix),
        consumer="db-writer",
    )


async def gaps(store: Store, sim: ExchangeSimulator, first: int, last: int) -> dict[str, Any]:
    """Per symbol, the seconds whose stored price differs from the simulator's close."""
    wrong: dict[str, Any] = {}
    for symbol in sim.usdt_symbols():
        points = await store.points_between(symbol, first * 1000, last * 1000 + 999)
        stored = {p.second: p.price for p in points}
        truth = simulated_closes(sim, symbol, first, last)
        bad = [s for s, price in truth.items() if stored.get(s) != price]
        if bad or len(points) != len(stored):
            wrong[symbol] = bad
    return wrong


async def test_a_writer_away_past_the_bound_ends_with_a_whole_store(
    redis: RedisHandle,
    sqlite_store: Store,
    simulator: ExchangeSimulator,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as session:
        await seed_symbols(sqlite_store, session, simulator.rest_url)
        feed_bus = RedisBus(redis.client, redis.prefix, max_mb=MAX_MB, trim_every=0.2)
        reader = FeedReader(
            "feed-0",
            (0, 1),
            simulator.ws_url,
            simulator.rest_url,
            feed_bus,
            sqlite_store,
            FeedStatusBoard(),
            RestGate(),
            session,
            symbol_poll_seconds=0.2,
            control_interval=0.05,
            backfill_requests=RedisBackfillRequests(redis.client, redis.prefix),
        )
        dropped = metrics.BUS_DROPPED.labels("db-writer")._value.get()
        first_writer = writer(redis, sqlite_store)
        await first_writer.start()
        await reader.start()
        try:
            symbols = simulator.usdt_symbols()

            async def newest() -> int | None:
                points = [await sqlite_store.latest_point(symbol) for symbol in symbols]
                seconds = [p.second for p in points if p is not None]
                return max(seconds) if len(seconds) == len(symbols) else None

            first = await eventually(newest, timeout=15, what="every symbol stored") + 1

            async def stored_since_first() -> bool:
                points = [await sqlite_store.latest_point(symbol) for symbol in symbols]
                return all(p is not None and p.second >= first for p in points)

            await eventually(stored_since_first, timeout=15, what="every symbol live")
            await first_writer.stop()  # held away: the feed keeps publishing

            async def lost_some_seconds() -> bool:
                view = (await feed_bus.losses()).get("db-writer")
                return view is not None and view.last - view.first >= 5_000

            await eventually(lost_some_seconds, timeout=30, what="the stream to drop 5 s")
            usage = await redis.client.memory_usage(feed_bus.stream)
            assert usage is not None and usage < 2 * MAX_MB * 1024 * 1024

            second_writer = writer(redis, sqlite_store)
            await second_writer.start()
            back = int(time.time())
            try:

                async def handed_over() -> bool:
                    view = (await feed_bus.losses()).get("db-writer")
                    return view is not None and view.awaiting_backfill == 0

                await eventually(handed_over, timeout=15, what="the loss handed to the feed")
                last = back + 2
                await asyncio.sleep(max(0.0, last + 1.5 - time.time()))  # `last` is over

                async def whole() -> bool:
                    return not await gaps(sqlite_store, simulator, first, last)

                await eventually(whole, timeout=30, interval=0.3, what="a whole store")
            finally:
                await second_writer.stop()
        finally:
            await reader.stop()

    counted = metrics.BUS_DROPPED.labels("db-writer")._value.get() - dropped

    async def recorded() -> Any:
        view = (await feed_bus.losses())["db-writer"]
        return view if view.points == counted else None  # a record shielded from the stop

    view = await eventually(recorded, timeout=5, what="every counted loss recorded in Redis")
    assert view.symbols == 6 and view.points > 0
    messages = [r.getMessage() for r in caplog.records]
    lost = [m for m in messages if "redis bus group db-writer lost" in m]
    assert lost and re.search(r"lost \d+ points of \d+ symbols, \S+ \.\. \S+ UTC", lost[0])
    assert any("asked the feed to backfill" in m and "of 6 symbols" in m for m in messages)
    points = await sqlite_store.points_between(
        simulator.usdt_symbols()[0], view.first, view.last + 999
    )
    assert any(p.backfill for p in points), "the dropped range came from klines"
