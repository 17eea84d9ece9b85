"""FeedReader against the simulator over real loopback sockets, with a real SQLite store.

Each test runs the simulator at the real rate (one event per symbol per second), a reader with
short backoff/silence settings, and a consumer that writes what the bus carries into the store.
"Gapless" means: every second in a window that the simulator traded has exactly one stored
point whose price equals the simulator's own 1 s kline close.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from actors import metrics
from actors.bus.memory import MemoryBus
from actors.core.actor import Child
from actors.core.supervisor import ChildSpec, Supervisor
from actors.feed import reader as feed_reader
from actors.feed.connection import FeedUnavailable
from actors.feed.decoder import Outcome
from actors.feed.protocol import stream_name
from actors.feed.reader import FeedReader
from actors.feed.rest_gate import RestGate
from actors.feed.status import FeedStatusBoard
from actors.feed.symbols import seed_symbols
from actors.messages import NewSymbol
from actors.simulator.exchange import ExchangeSimulator
from actors.store import Store
from tests.helpers import (
    eventually,
    free_port,
    simulated_closes,
    store_bus_points,
    store_matches_simulator,
    stored_prices,
)


@dataclass
class Rig:
    sim: ExchangeSimulator
    store: Store
    bus: MemoryBus
    reader: FeedReader
    gate: RestGate
    status: FeedStatusBoard
    symbols: list[str]
    options: dict[str, Any]
    session: aiohttp.ClientSession

    def new_reader(self) -> FeedReader:
        """Another reader like the first (a process restart: no memory but the store)."""
        return FeedReader(
            "feed-0",
            (0, 1),
            self.sim.ws_url,
            self.sim.rest_url,
            self.bus,
            self.store,
            self.status,
            self.gate,
            self.session,
            **self.options,
        )

    async def series(self, symbol: str, first: int, last: int) -> dict[int, float]:
        return await stored_prices(self.store, symbol, first, last)

    def truth(self, symbol: str, first: int, last: int) -> dict[int, float]:
        return simulated_closes(self.sim, symbol, first, last)

    async def gapless(self, first: int, last: int) -> bool:
        return await store_matches_simulator(self.store, self.sim, self.symbols, first, last)

    async def assert_gapless(self, first: int, last: int, timeout: float = 20.0) -> None:
        with contextlib.suppress(AssertionError):
            await eventually(lambda: self.gapless(first, last), timeout=timeout, interval=0.2)
        for symbol in self.symbols:  # precise failure message
            stored, truth = await self.series(symbol, first, last), self.truth(symbol, first, last)
            missing = sorted(set(truth) - set(stored))
            wrong = sorted(s for s in stored if s in truth and stored[s] != truth[s])
            extra = sorted(set(stored) - set(truth))
            assert not (missing or wrong or extra), (
                f"{symbol}: missing {missing} wrong {wrong} extra {extra}"
            )

    async def flowing(self, since: int) -> bool:
        for symbol in self.symbols:
            point = await self.store.latest_point(symbol)
            if point is None or point.second < since:
                return False
        return True


def now_second() -> int:
    return int(time.time())


def counter(family: Any, *labels: str) -> float:
    return float(family.labels(*labels)._value.get())


RigFactory = Callable[..., Awaitable[Rig]]


@pytest.fixture
async def rig(sqlite_store: Store) -> AsyncIterator[RigFactory]:
    """Builds simulator + seeded store + reader + consumer; tears everything down after the test."""
    cleanups: list[Callable[[], Awaitable[Any]]] = []

    async def make(
        symbols: int = 12,
        *,
        start: bool = True,
        sim_options: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Rig:
        sim = ExchangeSimulator(
            symbols=symbols,
            seed=7,
            rate=1.0,
            activity="uniform",  # these tests count a point per symbol per second
            **(sim_options or {"ping_interval": 1.0}),
        )
        await sim.start()
        cleanups.append(sim.stop)
        session = aiohttp.ClientSession()
        cleanups.append(session.close)
        await seed_symbols(sqlite_store, session, sim.rest_url)
        bus, gate, status = MemoryBus(), RestGate(), FeedStatusBoard()
        options: dict[str, Any] = {
            "backoff_base": 0.1,
            "backoff_cap": 0.5,
            "max_reconnects": 20,
            "silence_timeout": 1.0,
            "symbol_poll_seconds": 0.2,
            "control_interval": 0.05,
        }
        options.update(overrides)
        reader = FeedReader(
            "feed-0",
            (0, 1),
            sim.ws_url,
            sim.rest_url,
            bus,
            sqlite_store,
            status,
            gate,
            session,
            **options,
        )
        stop = asyncio.Event()
        consumer = asyncio.get_running_loop().create_task(store_bus_points(bus, sqlite_store, stop))

        async def stop_consumer() -> None:
            stop.set()  # not cancel(): a write cut short in its thread would stall the store's close
            await asyncio.wait_for(consumer, 5)

        cleanups.append(stop_consumer)
        if start:
            await reader.start()
            cleanups.append(reader.stop)
        return Rig(
            sim, sqlite_store, bus, reader, gate, status, sim.usdt_symbols(), options, session
        )

    yield make
    for cleanup in reversed(cleanups):
        await cleanup()


async def warm(rig: Rig) -> int:
    """Wait until every symbol flows; the first second from which the series must be complete."""
    first = now_second() + 1
    await eventually(lambda: rig.flowing(first), timeout=10, what="every symbol flowing")
    return first


async def test_all_symbols_flow_with_exchange_prices(rig: RigFactory) -> None:
    r = await rig(12)
    assert len(r.symbols) >= 8
    first = await warm(r)
    await eventually(lambda: _second_when(lambda s: s >= first + 2), timeout=5)
    await r.assert_gapless(first, first + 1, timeout=5)
    snapshot = await r.status.snapshot()
    assert snapshot["feed-0"]["connected"] is True
    assert snapshot["feed-0"]["symbols"] == len(r.symbols)
    assert r.reader.decoder.malformed == {}
    assert r.reader.backfiller.filled == 0  # nothing was missed, nothing was backfilled


async def test_the_seed_day_symbol_count_flows_on_one_connection(rig: RigFactory) -> None:
    # docs/exchange.md §6: 242 symbols; the URL holds ~200 streams, SUBSCRIBE the rest
    r = await rig(242)
    assert len(r.symbols) == 242

    async def all_seen() -> bool:
        return len(r.reader.decoder.last_second) == len(r.symbols)

    await eventually(all_seen, timeout=10, interval=0.2, what="all 242 symbols decoded")
    first = now_second() + 1
    await eventually(lambda: _second_when(lambda s: s >= first + 2), timeout=5)
    await r.assert_gapless(first, first + 1, timeout=5)
    assert len(r.reader.connections) == 1
    assert r.reader.decoder.malformed == {}


async def _second_when(check: Callable[[int], bool]) -> int | None:
    second = now_second()
    return second if check(second) else None


async def test_dropped_connections_reconnect_with_backoff_and_backfill(rig: RigFactory) -> None:
    r = await rig(12)
    first = await warm(r)
    refused = counter(metrics.FEED_RECONNECTS, "feed-0", "connect_failed")
    await r.sim.outage(2.0)  # drop every socket; refuse new ones for 2 s
    outage_end = now_second() + 2
    await eventually(
        lambda: _counter_above(metrics.FEED_RECONNECTS, ("feed-0", "connect_failed"), refused),
        timeout=5,
        what="a refused reconnect attempt",
    )
    await eventually(lambda: _connected(r), timeout=10, what="reconnected")
    await eventually(lambda: _failures_reset(r), timeout=5, what="backoff reset once data flows")
    await eventually(lambda: _second_when(lambda s: s >= outage_end + 2), timeout=10)
    await r.assert_gapless(first, outage_end + 1)
    assert r.reader.backfiller.filled >= len(r.symbols)  # the outage's seconds came from REST


async def _failures_reset(r: Rig) -> bool:
    return all(c.failures == 0 and c.backoff.attempts == 0 for c in r.reader.connections)


async def _connected(r: Rig) -> bool:
    return bool(r.reader.connections) and all(c.connected for c in r.reader.connections)


async def test_server_shutdown_is_make_before_break_without_gap(rig: RigFactory) -> None:
    r = await rig(10)
    first = await warm(r)
    old = {id(c) for c in r.sim.hub.connections}
    assert len(old) == 1
    started = time.monotonic()
    await r.sim.send_server_shutdown()  # the simulator would close it only after 30 s

    async def replaced() -> bool:
        conns = {id(c) for c in r.sim.hub.connections}
        return len(conns) == 1 and not conns & old

    await eventually(replaced, timeout=5, what="new connection open and the announced one closed")
    assert time.monotonic() - started < 5
    mark = now_second()
    await eventually(lambda: _second_when(lambda s: s >= mark + 2), timeout=5)
    await r.assert_gapless(first, mark + 1)
    assert r.reader.backfiller.filled == 0  # make-before-break: nothing to recover


async def test_malformed_frames_are_counted_skipped_and_never_fatal(rig: RigFactory) -> None:
    r = await rig(10)
    first = await warm(r)
    reconnects = sum(c.failures for c in r.reader.connections)
    r.sim.malformed_rate = 0.3
    await eventually(lambda: _malformed_kinds(r, 3), timeout=10, what="malformed frames counted")
    r.sim.malformed_rate = 0.0
    mark = now_second()
    assert all(c.connected for c in r.reader.connections)
    assert sum(c.failures for c in r.reader.connections) == reconnects
    await eventually(lambda: _second_when(lambda s: s >= mark + 3), timeout=5)
    # a malformed frame stores nothing (its second is not downtime: no REST request is spent on
    # it); every stored price is the exchange's, and the series is whole once frames are clean
    for symbol in r.symbols:
        stored, truth = await r.series(symbol, first, mark), r.truth(symbol, first, mark)
        assert all(truth.get(second) == price for second, price in stored.items()), symbol
    await r.assert_gapless(mark + 1, mark + 2)
    assert r.reader.backfiller.requests == 0
    await eventually(lambda: _metric_malformed(), timeout=3, what="malformed metric exported")


async def _malformed_kinds(r: Rig, kinds: int) -> bool:
    return len(r.reader.decoder.malformed) >= kinds


async def _metric_malformed() -> bool:
    return any(counter(metrics.FEED_MALFORMED, "feed-0", k) > 0 for k in ("json", "type", "binary"))


async def test_rest_429_is_waited_out_then_backfilled(rig: RigFactory) -> None:
    r = await rig(10)
    first = await warm(r)
    r.sim.rest_429(4.0)
    await r.sim.outage(1.5)  # a gap to backfill; REST answers 429 until 4 s from now
    mark = now_second()
    await eventually(lambda: _rejected(r), timeout=5, what="a 429 seen")
    assert r.gate.wait_seconds() > 0.5  # every REST request is held for Retry-After
    assert r.reader.backfiller.filled == 0
    await eventually(lambda: _second_when(lambda s: s >= mark + 5), timeout=8)
    await r.assert_gapless(first, mark + 4)
    assert r.reader.backfiller.filled >= len(r.symbols)
    # once held, no request hammered the 429: only those already in flight were refused
    assert r.gate.rejections <= 8


async def _rejected(r: Rig) -> bool:
    return r.gate.rejections > 0


async def test_silent_connection_is_closed_reconnected_and_backfilled(rig: RigFactory) -> None:
    r = await rig(8, silence_timeout=0.8)
    first = await warm(r)
    silent_before = counter(metrics.FEED_RECONNECTS, "feed-0", "silent")
    r.sim.stall_data = True  # pings still flow, data does not
    await eventually(
        lambda: _counter_above(metrics.FEED_RECONNECTS, ("feed-0", "silent"), silent_before),
        timeout=5,
        what="silent connection closed",
    )
    r.sim.stall_data = False
    mark = now_second()
    await eventually(lambda: _second_when(lambda s: s >= mark + 2), timeout=5)
    await r.assert_gapless(first, mark + 1)
    assert r.reader.backfiller.filled > 0


async def _counter_above(family: Any, labels: tuple[str, ...], value: float) -> bool:
    return counter(family, *labels) > value


async def test_symbols_follow_the_store_live(rig: RigFactory) -> None:
    r = await rig(10)
    await warm(r)
    victim = r.symbols[0]
    record = await r.store.get_symbol_by_name(victim)
    assert record is not None
    await r.store.update_symbol(record.id, {"isActive": False})

    async def unsubscribed() -> bool:
        streams = {n for c in r.sim.hub.connections for n in c.streams}
        return victim.lower() + "@miniTicker" not in streams and victim not in r.reader.symbols

    await eventually(unsubscribed, timeout=5, what="unsubscribed live")
    stopped = await r.store.latest_point(victim)
    assert stopped is not None
    await asyncio.sleep(1.5)  # proving an absence: nothing new for 1.5 s (1 s in flight allowed)
    latest = await r.store.latest_point(victim)
    assert latest is not None and latest.second <= stopped.second + 1
    await r.store.update_symbol(record.id, {"isActive": True})
    back = now_second() + 1
    await eventually(lambda: _has_point_after(r, victim, back), timeout=5, what="resubscribed live")
    assert len(r.reader.connections) == 1  # same socket, no restart


async def _has_point_after(r: Rig, symbol: str, second: int) -> bool:
    point = await r.store.latest_point(symbol)
    return point is not None and point.second >= second


async def test_a_symbol_added_through_the_store_is_subscribed_live(rig: RigFactory) -> None:
    r = await rig(8, start=False)
    newcomer = r.symbols.pop()
    record = await r.store.get_symbol_by_name(newcomer)
    assert record is not None and await r.store.delete_symbol(record.id)
    await r.reader.start()
    try:
        await warm(r)
        assert newcomer not in r.reader.symbols
        await r.store.create_symbol(NewSymbol(newcomer, record.base_asset, "USDT"))
        listed = now_second()
        await eventually(
            lambda: _has_point_after(r, newcomer, listed), timeout=5, what="new symbol live"
        )
        assert len(r.reader.connections) == 1  # SUBSCRIBEd on the open socket
        earliest = await r.store.points_between(newcomer, 0, listed * 1000 - 1)
        assert earliest == []  # a new listing has no past to backfill
    finally:
        await r.reader.stop()


async def test_streams_split_across_connections(rig: RigFactory) -> None:
    r = await rig(12, max_streams=4)
    first = await warm(r)
    assert len(r.reader.connections) == -(-len(r.symbols) // 4)
    assert all(len(c.streams) <= 4 for c in r.reader.connections)
    mark = now_second()
    await eventually(lambda: _second_when(lambda s: s >= mark + 2), timeout=5)
    await r.assert_gapless(first, mark + 1)


async def test_streams_beyond_the_url_are_subscribed_in_paced_batches(rig: RigFactory) -> None:
    # 2 streams fit the URL, the other 10 go in SUBSCRIBE batches of 3 at most 4 per second
    r = await rig(12, url_budget=40, subscribe_batch=3, control_interval=0.25)
    first = await warm(r)
    [server_side] = r.sim.hub.connections
    assert len(server_side.streams) == len(r.symbols) + 1  # and the liveness canary
    old = {id(c) for c in r.sim.hub.connections}
    await r.sim.send_server_shutdown()  # the successor subscribes everything before the handover

    async def replaced() -> bool:
        conns = list(r.sim.hub.connections)
        return (
            len(conns) == 1
            and id(conns[0]) not in old
            and len(conns[0].streams) == len(r.symbols) + 1
        )

    await eventually(replaced, timeout=5, what="successor subscribed and the old socket closed")
    mark = now_second()
    await eventually(lambda: _second_when(lambda s: s >= mark + 2), timeout=5)
    await r.assert_gapless(first, mark + 1)
    assert r.reader.backfiller.filled == 0


async def test_repeated_connect_failures_fail_the_actor(
    rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    r = await rig(4, start=False, max_reconnects=3, backoff_base=0.01, backoff_cap=0.02)
    r.reader.ws_url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    crashed: asyncio.Future[BaseException] = asyncio.get_running_loop().create_future()

    def on_exit(child: Child, exc: BaseException) -> None:
        if not crashed.done():
            crashed.set_result(exc)

    r.reader.link(on_exit)
    caplog.set_level(logging.WARNING, logger="actors")
    await r.reader.start()
    try:
        exc = await asyncio.wait_for(crashed, 10)
    finally:
        await r.reader.stop()
    assert isinstance(exc, FeedUnavailable)
    warnings = [rec for rec in caplog.records if "connect failed" in rec.getMessage()]
    assert len(warnings) == 2  # one line per failed attempt before the last, no tracebacks
    assert all(rec.exc_info is None for rec in warnings)


async def test_server_pings_are_answered(rig: RigFactory) -> None:
    r = await rig(6, sim_options={"ping_interval": 0.2, "pong_timeout": 0.6})
    first = await warm(r)
    [conn] = r.reader.connections
    session = conn.current
    mark = now_second() + 3
    await eventually(lambda: _second_when(lambda s: s >= mark), timeout=6)
    assert conn.current is session  # the simulator drops a client that misses a pong deadline
    assert conn.failures == 0
    await r.assert_gapless(first, mark - 1)


async def test_connections_are_rotated_before_the_age_limit(rig: RigFactory) -> None:
    r = await rig(6, max_connection_age=1.0)
    first = await warm(r)
    rotated = counter(metrics.FEED_RECONNECTS, "feed-0", "max_age")
    mark = now_second() + 3
    await eventually(lambda: _second_when(lambda s: s >= mark), timeout=6)
    assert counter(metrics.FEED_RECONNECTS, "feed-0", "max_age") >= rotated + 2
    assert len(r.sim.hub.connections) == 1  # each old socket closed by us once replaced
    await r.assert_gapless(first, mark - 1)
    assert r.reader.backfiller.filled == 0


async def test_supervisor_restarts_a_failed_reader_and_the_gap_is_backfilled(
    rig: RigFactory,
) -> None:
    r = await rig(6, start=False, max_reconnects=2, backoff_base=0.05, backoff_cap=0.1)
    supervisor = Supervisor(
        "feed-tree", [ChildSpec(r.reader, shutdown=2.0)], max_restarts=50, period=30
    )
    restarts = counter(metrics.ACTOR_RESTARTS, "feed-0")
    await supervisor.start()
    try:
        first = await warm(r)
        await r.sim.outage(1.5)  # two refused attempts fail the reader; its supervisor restarts it
        end = now_second() + 2
        await eventually(
            lambda: _counter_above(metrics.ACTOR_RESTARTS, ("feed-0",), restarts),
            timeout=5,
            what="reader restarted by its supervisor",
        )
        await eventually(lambda: _second_when(lambda s: s >= end + 2), timeout=8)
        await r.assert_gapless(first, end + 1)  # the per-symbol memory survived the restart
        assert r.reader.backfiller.filled > 0
        assert supervisor.failed is not None and not supervisor.failed.done()
    finally:
        await supervisor.stop()


async def test_a_new_process_resumes_from_the_store_and_backfills(rig: RigFactory) -> None:
    r = await rig(6, start=False)
    await r.reader.start()
    try:
        first = await warm(r)
    finally:
        await r.reader.stop()
    stopped = now_second()
    await eventually(lambda: _second_when(lambda s: s >= stopped + 2), timeout=5)
    successor = r.new_reader()
    await successor.start()
    try:
        back = await warm(r)
        await r.assert_gapless(first, back)
        assert successor.backfiller.filled >= len(r.symbols)
    finally:
        await successor.stop()


@pytest.mark.slow
async def test_six_second_outage_is_backfilled_within_twenty_seconds(rig: RigFactory) -> None:
    r = await rig(8, backoff_base=1.0, backoff_cap=10.0, max_reconnects=10)  # production timing
    first = await warm(r)
    started = time.monotonic()
    await r.sim.outage(6.0)
    end = now_second() + 6
    await eventually(lambda: _second_when(lambda s: s >= end + 1), timeout=10)
    await r.assert_gapless(first, end, timeout=max(0.1, 20.0 - (time.monotonic() - started)))
    assert time.monotonic() - started < 20.0


async def test_a_lone_point_is_on_the_bus_before_its_read_yields(
    rig: RigFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/security.md §6: on the in-process bus a point after a quiet spell is published in the
    # read's own loop turn; points right behind it gather for the publish task (one batch)
    monkeypatch.setattr(feed_reader, "INLINE_GAP_SECONDS", 60.0)  # "right behind", on any machine
    r = await rig(2, start=False)
    tail = await r.bus.tail()
    decoder, streams = r.reader.decoder, {stream_name("BTCUSDT"): "BTCUSDT"}

    def decoded(event_ms: int, close: str) -> None:
        frame = (
            f'{{"stream":"{stream_name("BTCUSDT")}","data":{{"e":"24hrMiniTicker","E":{event_ms},'
            f'"s":"BTCUSDT","c":"{close}","o":"1","h":"3","l":"1","v":"10","q":"18"}}}}'
        )
        assert decoder.feed(frame, streams) is Outcome.POINT
        r.reader._point_decoded()  # what a connection calls for each point it decodes

    now = int(time.time() * 1000)
    decoded(now, "2")
    lone = await tail.read(0)  # no loop turn has passed
    assert lone is not None and [p.price for p in lone.points] == [2.0]
    decoded(now + 1_000, "2.5")
    decoded(now + 2_000, "3")
    assert await tail.read(0) is None  # within INLINE_GAP_SECONDS: left to the publish task
    assert await r.reader.flush() == 2
    batch = await tail.read(0)
    assert batch is not None and [p.price for p in batch.points] == [2.5, 3.0]
    assert r.reader.published == 3
