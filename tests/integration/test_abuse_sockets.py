"""Issue 12, attacks 1, 2, 6 and 7 replayed over real sockets against a real hub (aiohttp server,
SQLite store): raw Engine.IO polling with aiohttp and python-socketio clients. Each test asserts
the defended outcome: output bounded in bytes, connections limited per address, no leaked
subscription, an `error` event for any input, expensive reads shared and throttled."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import msgspec
import pytest
import socketio
from aiohttp import web

from actors import metrics
from actors.front.sio.dashboard import INITIAL_TTL
from actors.front.sio.fastpath import REPLY_ALLOWANCE
from actors.store import Store
from tests.helpers import eventually, make_settings
from tests.integration.hub_support import HubEnv, Recorder, point, seed_symbols, start_hub, stop_hub

MANY = tuple(f"S{i:03d}USDT" for i in range(200))
BUFFER = 32 * 1024


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return check()

    return probe


async def _hub(
    store: Store, serve_app: Callable[[web.Application], Awaitable[str]], **env: str
) -> HubEnv:
    await seed_symbols(store, MANY)
    now = int(time.time() * 1000)
    # 60 points a symbol: a 200-symbol initial_data is about 200 KB, like the attack's 740 KB
    await store.write_points(
        [point(s, now - 1000 * k, 1.0 + k) for s in MANY for k in range(1, 61)]
    )
    env = {"SIO_MAX_BUFFER_BYTES": str(BUFFER), "SIO_MAX_CONNECTIONS_PER_IP": "5", **env}
    settings = make_settings(**env)
    return await start_hub(store, serve_app, settings=settings, list_period=0.2)


@pytest.fixture
async def hub(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[HubEnv]:
    env = await _hub(sqlite_store, serve_app, SIO_SWEEP_SECONDS="3600")
    yield env
    await stop_hub(env)


class RawPolling:
    """An Engine.IO v4 polling client by hand: handshake, POSTs, and (only if asked) GETs."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base + "/socket.io/?EIO=4&transport=polling"
        self.sid = ""

    async def open(self) -> int:
        async with self.session.get(self.base) as resp:
            if resp.status != 200:
                return resp.status
            self.sid = msgspec.json.decode((await resp.text())[1:])["sid"]
        await self.post("40")
        return 200

    async def post(self, body: str) -> int:
        async with self.session.post(f"{self.base}&sid={self.sid}", data=body) as resp:
            await resp.read()
            return resp.status

    async def emit(self, event: str, data: Any) -> int:
        return await self.post("42" + msgspec.json.encode([event, data]).decode())


def _session(address: str = "127.0.0.1") -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def test_a_polling_client_that_never_polls_holds_bounded_bytes(hub: HubEnv) -> None:
    """Attack 1: list-form subscribes to every symbol, never polling: what waits for it stays
    within the byte bound (plus one answer), it is disconnected, and /healthz stays quick."""
    disconnects = metrics.SIO_LIMIT_DISCONNECTS.labels("output")._value.get()
    async with _session() as session:
        attacker = RawPolling(session, hub.url)
        assert await attacker.open() == 200
        sizes = []
        for _ in range(6):
            symbols = list(MANY)
            random.shuffle(symbols)
            await attacker.emit("subscribe", {"symbols": symbols})
            sizes.append(hub.hub.fast.queued_bytes())
        biggest_answer = 700 * 1024  # one initial_data of 200 symbols
        assert max(sizes) <= REPLY_ALLOWANCE * BUFFER + biggest_answer, sizes
        await eventually(
            _async(lambda: attacker.sid not in hub.hub.sio.eio.sockets),
            what="the client that does not read to be disconnected",
        )
        assert metrics.SIO_LIMIT_DISCONNECTS.labels("output")._value.get() > disconnects
        assert hub.hub.fast.queued_bytes() < BUFFER
        assert hub.hub.stats()["activeSubscriptions"] == 0
        # and its address may not come straight back (that is how the flood would go on)
        assert await RawPolling(session, hub.url).open() == 401


async def test_broadcasts_to_a_client_that_stops_polling_are_dropped_by_bytes(hub: HubEnv) -> None:
    dropped = metrics.SIO_DROPPED._value.get()
    async with _session() as session:
        attacker = RawPolling(session, hub.url)
        await attacker.open()
        await attacker.emit("subscribe", {"symbols": ["S000USDT"]})
        await attacker.emit("subscribe", {"symbol": "S001USDT"})
        ts = int(time.time() * 1000)
        for i in range(2000):
            await hub.publish(point("S001USDT", ts + 1000 * i, float(i)))
            if i % 100 == 0:
                await asyncio.sleep(0.25)  # lets the list form's period pass too
        await eventually(
            _async(lambda: metrics.SIO_DROPPED._value.get() > dropped), what="drops counted"
        )
        queued = hub.hub.sio.eio.sockets[attacker.sid].queue.nbytes
        assert queued <= BUFFER + 1024
        assert attacker.sid in hub.hub.sio.eio.sockets  # updates dropped, client kept


async def test_connections_are_limited_per_address_and_in_all(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    env = await _hub(sqlite_store, serve_app, SIO_MAX_CONNECTIONS="8")
    try:
        async with _session("127.0.0.2") as crowd, _session("127.0.0.3") as other:
            from_one = [RawPolling(crowd, env.url) for _ in range(6)]
            statuses = [await client.open() for client in from_one]
            assert statuses == [200] * 5 + [401]
            from_other = [RawPolling(other, env.url) for _ in range(4)]
            statuses = [await client.open() for client in from_other]
            assert statuses == [200, 200, 200, 401]  # 8 in all
            await from_one[0].post("1")  # one closes: its address may connect again
            await eventually(
                _async(lambda: env.hub.connections.from_address("127.0.0.2") == 4),
                what="the closed session to be released",
            )

            async def reconnected() -> bool:  # new sessions refill at 5 per 10 s
                return await RawPolling(crowd, env.url).open() == 200

            await eventually(reconnected, timeout=5, interval=0.2, what="a new session")
    finally:
        await stop_hub(env)


async def test_a_subscribe_racing_its_disconnect_leaves_nothing(hub: HubEnv) -> None:
    """Attack 2: the subscribe's reads are still running when the socket closes."""
    async with _session() as session:
        for _ in range(10):
            attacker = RawPolling(session, hub.url)
            await attacker.open()
            symbols = list(MANY)
            random.shuffle(symbols)
            hub.hub.dashboard._initial.clear()  # every try reads (a fresh set)
            hub.hub.dashboard._items.clear()
            subscribe = asyncio.create_task(attacker.emit("subscribe", {"symbols": symbols}))
            await asyncio.sleep(0.005)
            await attacker.post("1")
            await subscribe
    await eventually(
        _async(lambda: hub.hub.stats()["connectedClients"] == 0), what="every client gone"
    )
    assert hub.hub.lists.by_sid == {}
    assert hub.hub.lists.groups == {}
    assert hub.hub.stats()["activeSubscriptions"] == 0


async def test_the_sweep_removes_subscriptions_of_gone_sockets(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    """The backstop: whatever path leaked a subscription, the periodic sweep finds it and
    counts it."""
    env = await _hub(sqlite_store, serve_app, SIO_SWEEP_SECONDS="0.1")
    try:
        swept = metrics.SIO_SWEPT._value.get()
        live = await env.client()
        await live.call("subscribe", {"symbols": ["S000USDT"]})
        env.hub.lists.add("gone-sid", "gone-eio", ["S001USDT", "S002USDT"])
        await eventually(_async(lambda: "gone-sid" not in env.hub.lists.by_sid), what="sweep")
        assert metrics.SIO_SWEPT._value.get() == swept + 1
        assert env.hub.stats()["activeSubscriptions"] == 1  # the live one is kept
    finally:
        await stop_hub(env)


BAD_INPUTS: list[tuple[str, Any]] = [
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": 10**30}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": "²"}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": "5" * 5000}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": "9" * 19}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": -1}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": 1.5}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": "0001-01-01"}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": True}),
    ("get_interval_data", {"symbol": "S000USDT", "intervalStartTime": [1]}),
    ("get_recent_intervals", {"symbol": "S000USDT", "count": 10**30}),
    ("get_recent_intervals", {"symbol": "S000USDT", "count": "6"}),
    ("get_multiple_prices", {"symbols": "S000USDT"}),
    ("get_multiple_prices", {"symbols": [{"a": 1}]}),
    ("subscribe", {"symbols": [None]}),
    ("subscribe", {"symbols": ["S000USDT"] * 1001}),
    ("subscribe", {"symbol": "x" * 100_000}),
    ("subscribe", [1, 2, 3]),
    ("subscribe", "BTCUSDT"),
    ("unsubscribe", {"symbol": 5}),
    ("get_historical", None),
    ("get_historical", {"symbol": "NOPEUSDT"}),
]


async def test_every_bad_input_gets_an_error_event_and_no_traceback(
    sqlite_store: Store,
    serve_app: Callable[[web.Application], Awaitable[str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Attack 6."""
    env = await _hub(sqlite_store, serve_app, SIO_REQUESTS_PER_SECOND="1000")
    try:
        client = await env.client()
        with caplog.at_level(logging.INFO):
            for event, payload in BAD_INPUTS:
                await client.call(event, payload)
            errors = await client.next("error", len(BAD_INPUTS))
        assert [e["event"] for e in errors] == [event for event, _ in BAD_INPUTS]
        assert all(e["message"] for e in errors)
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        assert client.sio.connected
    finally:
        await stop_hub(env)


async def test_requests_past_the_rate_get_errors_then_a_flood_is_disconnected(
    hub: HubEnv,
) -> None:
    client = await hub.client()
    for _ in range(25):
        await client.call("get_all_symbols")
    errors = await client.next("error")
    assert "rate limit" in errors[0]["message"]
    assert len(client.payloads("all_symbols")) >= 20
    for _ in range(200):
        if not client.sio.connected:
            break
        with_timeout = client.sio.emit("get_all_symbols")
        await with_timeout
    await eventually(_async(lambda: not client.sio.connected), what="the flood disconnected")


async def test_a_shuffled_repeat_of_a_subscription_set_is_built_once(hub: HubEnv) -> None:
    """Attack 7: the same set in 15 orders costs one build, from 3 sockets."""
    clients = [await hub.client() for _ in range(3)]
    builds = 0
    original = hub.hub.dashboard._read_items

    async def counted(symbols: list[str]) -> Any:
        nonlocal builds
        builds += 1
        return await original(symbols)

    hub.hub.dashboard._read_items = counted  # type: ignore[method-assign]
    started = time.monotonic()
    for i in range(15):
        symbols = list(MANY)
        random.shuffle(symbols)
        await clients[i % 3].call("subscribe", {"symbols": symbols})
    elapsed = time.monotonic() - started
    for client in clients:
        initial = await client.next("initial_data", 5)
        assert [item["symbol"] for item in initial[-1]["data"]] == sorted(MANY)
    # one build per INITIAL_TTL (1 s) at most, however the 15 requests order the set
    assert builds <= 1 + int(elapsed / INITIAL_TTL), (builds, elapsed)


async def test_expensive_reads_past_the_gate_are_refused_at_once(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    env = await _hub(sqlite_store, serve_app, SIO_EXPENSIVE_READS="1")
    try:
        clients = [await env.client() for _ in range(5)]
        busy = metrics.SIO_BUSY._value.get()
        env.hub.ctx.gate.waiting = 1
        env.hub.dashboard._items.clear()

        async def distinct_set(i: int, client: Recorder) -> None:
            # a different set each: nothing to share, each one a full read
            await client.sio.emit("subscribe", {"symbols": list(MANY[i * 40 : i * 40 + 40])})
            await client.sio.emit("get_historical", {"symbol": MANY[i]})
            await client.sio.emit("subscribe", {"symbol": MANY[i]})

        await asyncio.gather(*(distinct_set(i, c) for i, c in enumerate(clients)))

        async def answered() -> bool:
            events = ("initial_data", "historical_data", "error")
            return all(sum(len(c.events[e]) for e in events) >= 3 for c in clients)

        await eventually(answered, what="every request answered or refused")
        refused = [e for c in clients for e in c.payloads("error")]
        assert all("busy" in e["message"] for e in refused)
        assert metrics.SIO_BUSY._value.get() - busy == len(refused)
    finally:
        await stop_hub(env)


async def test_socketio_client_over_polling_still_works_within_limits(hub: HubEnv) -> None:
    """The limits leave an honest polling dashboard alone."""
    client = Recorder()
    await client.sio.connect(hub.url, transports=["polling"], wait_timeout=5)
    hub.clients.append(client)
    await client.call("subscribe", {"symbols": list(MANY)})
    [initial] = await client.next("initial_data")
    assert len(initial["data"]) == len(MANY)
    await hub.publish(point("S000USDT", int(time.time() * 1000) + 5000, 9.0))
    await client.next("price_update")
    assert isinstance(client.sio, socketio.AsyncClient)


async def test_a_socket_asking_for_histories_again_and_again_is_refused_its_excess(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    """Attack 7, the other half: each socket's expensive reads beyond its share (a burst of
    30, then one a second) are refused, so a few sockets cannot take everyone's budget."""
    env = await _hub(sqlite_store, serve_app, SIO_REQUESTS_PER_SECOND="1000")
    try:
        greedy, honest = await env.client(), await env.client()
        for i in range(45):
            await greedy.call("get_historical", {"symbol": MANY[i]})
        answered = len(greedy.payloads("historical_data"))
        refused = [e for e in greedy.payloads("error") if "busy" in e["message"]]
        assert answered + len(refused) == 45
        assert 30 <= answered < 45 and refused
        for i in range(10):  # another socket still gets its own
            await honest.call("subscribe", {"symbol": MANY[i]})
        await honest.next("historical_data", 10)
        assert not honest.payloads("error")
    finally:
        await stop_hub(env)
