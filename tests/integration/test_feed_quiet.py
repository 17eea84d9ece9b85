"""The feed against the simulator's realistic profile (a long tail of quiet pairs), over real
loopback sockets with a real SQLite store: quiet pairs cost no REST request and no reconnect,
an outage of every connection costs one klines request per symbol, a shard of only quiet pairs
keeps its connection, a zombie connection is still replaced within 10 s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from actors import metrics
from actors.bus.memory import MemoryBus
from actors.feed.protocol import stream_name
from actors.feed.reader import FeedReader
from actors.feed.rest_gate import RestGate
from actors.feed.status import FeedStatusBoard
from actors.feed.symbols import discover_symbols
from actors.messages import NewSymbol
from actors.simulator.exchange import ExchangeSimulator
from actors.store import Store
from tests.helpers import (
    eventually,
    simulated_closes,
    store_bus_points,
    store_matches_simulator,
    stored_prices,
)


@dataclass
class Feed:
    sim: ExchangeSimulator
    store: Store
    gate: RestGate
    readers: list[FeedReader]
    symbols: list[str]
    cleanups: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)

    async def series(self, symbol: str, first: int, last: int) -> dict[int, float]:
        return await stored_prices(self.store, symbol, first, last)

    def truth(self, symbol: str, first: int, last: int) -> dict[int, float]:
        return simulated_closes(self.sim, symbol, first, last)

    async def whole(self, first: int, last: int) -> bool:
        return await store_matches_simulator(self.store, self.sim, self.symbols, first, last)

    @property
    def klines_requests(self) -> int:
        return sum(r.backfiller.requests for r in self.readers)


def reconnects(shard: str) -> float:
    return sum(
        float(metrics.FEED_RECONNECTS.labels(shard, reason)._value.get())
        for reason in ("silent", "closed", "error", "connect_failed", "max_age")
    )


FeedFactory = Callable[..., Awaitable[Feed]]


@pytest.fixture
async def feed(sqlite_store: Store) -> AsyncIterator[FeedFactory]:
    """Simulator (realistic profile) + store + `shards` readers on one REST gate + a consumer."""
    made: list[Feed] = []

    async def make(
        symbols: int = 40,
        *,
        shards: int = 1,
        only: Callable[[ExchangeSimulator, list[NewSymbol]], list[NewSymbol]] | None = None,
        sim_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> Feed:
        sim = ExchangeSimulator(symbols=symbols, seed=11, **(sim_options or {}))
        await sim.start()
        session = aiohttp.ClientSession()
        listed = await discover_symbols(session, sim.rest_url)
        chosen = only(sim, listed) if only is not None else listed
        await sqlite_store.upsert_symbols(chosen)
        bus, gate, board = MemoryBus(), RestGate(), FeedStatusBoard()
        settings: dict[str, Any] = {
            "backoff_base": 0.1,
            "backoff_cap": 0.5,
            "max_reconnects": 20,
            "symbol_poll_seconds": 0.2,
            "control_interval": 0.05,
        }
        settings.update(options)
        readers = [
            FeedReader(
                f"quiet-{id(sim) % 10_000}-{k}",
                (k, shards),
                sim.ws_url,
                sim.rest_url,
                bus,
                sqlite_store,
                board,
                gate,
                session,
                **settings,
            )
            for k in range(shards)
        ]
        stop = asyncio.Event()
        consumer = asyncio.get_running_loop().create_task(store_bus_points(bus, sqlite_store, stop))
        result = Feed(sim, sqlite_store, gate, readers, [s.symbol for s in chosen])

        async def stop_consumer() -> None:
            stop.set()
            await asyncio.wait_for(consumer, 5)

        result.cleanups += [sim.stop, session.close, stop_consumer]
        for reader in readers:
            await reader.start()
            result.cleanups.append(reader.stop)
        made.append(result)
        return result

    yield make
    for result in made:
        for cleanup in reversed(result.cleanups):
            with contextlib.suppress(Exception):
                await cleanup()


async def connected(f: Feed) -> bool:
    return all(c.connected for r in f.readers for c in r.connections) and all(
        r.connections for r in f.readers
    )


async def seconds_pass(count: float) -> None:
    """Exchange time moving on (the simulator runs on the wall clock)."""
    await asyncio.sleep(count)


async def test_quiet_pairs_cost_no_rest_request_and_no_reconnect(feed: FeedFactory) -> None:
    f = await feed(60, silence_timeout=2.0)
    await eventually(lambda: connected(f), timeout=10, what="connected")
    shard = f.readers[0].name
    before = reconnects(shard)
    first = int(time.time()) + 1
    await seconds_pass(8.0)
    last = int(time.time()) - 1
    assert f.gate.requests == 0 and f.klines_requests == 0
    assert reconnects(shard) == before
    # the test can fail: many pairs really were silent for seconds on this healthy connection
    silent = 0
    for symbol in f.symbols:
        traded = set(f.truth(symbol, first, last))
        silent += (last - first + 1) - len(traded)
        assert set(await f.series(symbol, first, last)) <= traded  # nothing invented
    assert silent > len(f.symbols) * 2, silent


async def test_an_outage_of_every_connection_is_backfilled_with_one_request_per_symbol(
    feed: FeedFactory,
) -> None:
    f = await feed(40, shards=2, silence_timeout=2.0)
    await eventually(lambda: connected(f), timeout=10, what="connected")
    first = int(time.time()) + 1
    await seconds_pass(2.0)
    await f.sim.outage(3.0)  # every socket dropped, reconnects refused for 3 s
    end = int(time.time()) + 3
    await eventually(lambda: connected(f), timeout=15, what="reconnected")
    await eventually(lambda: _after(end + 2), timeout=10)
    await eventually(
        lambda: f.whole(first, end + 1), timeout=20, interval=0.25, what="the outage backfilled"
    )
    assert f.klines_requests == len(f.symbols)  # one per symbol, however quiet
    assert sum(len(r.symbols) for r in f.readers) == len(f.symbols)


async def _after(second: int) -> bool:
    return time.time() >= second


async def test_a_shard_of_only_quiet_pairs_keeps_one_connection(feed: FeedFactory) -> None:
    """Ten simulated minutes at 20x: the canary ticks 4 times a second (rate 4), so a silence
    timeout of 0.5 s stands for the production 10 s; 30 s of it is 60 silence timeouts."""

    def quietest(sim: ExchangeSimulator, listed: list[NewSymbol]) -> list[NewSymbol]:
        return sorted(listed, key=lambda s: sim.activity_of(s.symbol))[:8]

    f = await feed(120, only=quietest, sim_options={"rate": 4.0}, silence_timeout=0.5)
    assert max(f.sim.activity_of(s) for s in f.symbols) < 0.1
    reader = f.readers[0]
    await eventually(lambda: connected(f), timeout=10, what="connected")
    [conn] = reader.connections
    socket = conn.current
    before = reconnects(reader.name)
    await seconds_pass(30.0)
    assert conn.current is socket and reconnects(reader.name) == before
    assert f.gate.requests == 0
    # without the canary the same shard is declared dead again and again (the test can fail)
    conn.canary = None
    conn.kill("test")  # reopen without the canary
    await eventually(
        lambda: _counter_above(reader.name, "silent", 2), timeout=10, what="silent reconnects"
    )


async def _counter_above(shard: str, reason: str, count: float) -> bool:
    return float(metrics.FEED_RECONNECTS.labels(shard, reason)._value.get()) >= count


async def test_a_zombie_connection_is_replaced_within_ten_seconds(feed: FeedFactory) -> None:
    f = await feed(30)  # the production silence timeout
    await eventually(lambda: connected(f), timeout=10, what="connected")
    await seconds_pass(10.5)  # a socket that has served a while
    old = list(f.sim.hub.connections)  # kept alive: a new one cannot reuse an old id()
    stalled = time.monotonic()
    f.sim.stall_data = True  # pings answered, no data

    async def replaced() -> bool:
        return any(all(c is not o for o in old) for c in f.sim.hub.connections)

    await eventually(replaced, timeout=15, interval=0.1, what="a new connection")
    took = time.monotonic() - stalled
    f.sim.stall_data = False
    assert took <= 10.0, took


async def test_a_stream_the_exchange_rejects_is_dropped_and_the_rest_keep_flowing(
    feed: FeedFactory, caplog: pytest.LogCaptureFixture
) -> None:
    def busiest(sim: ExchangeSimulator, listed: list[NewSymbol]) -> list[NewSymbol]:
        return sorted(listed, key=lambda s: -sim.activity_of(s.symbol))[:3]

    f = await feed(30, only=busiest)
    reader = f.readers[0]
    await eventually(lambda: connected(f), timeout=10, what="connected")
    [conn] = reader.connections
    extra = next(s for s in f.sim.usdt_symbols() if s not in f.symbols)
    caplog.set_level("WARNING", logger="actors")
    # one SUBSCRIBE holding a name the exchange refuses: the exchange rejects the whole batch
    conn.add({"bad$name@miniTicker": "BADUSDT", stream_name(extra): extra})

    async def flowing() -> bool:
        return extra in reader.decoder.last_second

    await eventually(flowing, timeout=10, what=f"{extra} flowing after the retry")
    assert conn.rejected == {"bad$name@miniTicker"} and conn.connected
    rejected = [r.message for r in caplog.records if "rejected stream" in r.message]
    assert len(rejected) == 1 and "bad$name@miniTicker" in rejected[0]
