"""The documented Socket.IO dialect over a real socketio.AsyncClient on loopback."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Callable

import aiohttp
import msgspec
import pytest

from actors import metrics
from actors.store import IntervalScheme
from tests.helpers import eventually
from tests.integration.hub_support import SYMBOLS, HubEnv, hub_env, now_ms, point

__all__ = ["hub_env"]

HOUR = 3_600_000


async def test_subscribe_confirms_then_sends_last_four_hours(hub_env: HubEnv) -> None:
    now = now_ms()
    stored = [
        point("BTCUSDT", now - 5 * HOUR, 1.0),
        point("BTCUSDT", now - 3 * HOUR, 2.0),
        point("BTCUSDT", now - HOUR, 3.0),
        point("BTCUSDT", now - 10_000, 4.0),
        point("ETHUSDT", now - 10_000, 9.0),
    ]
    await hub_env.store.write_points(stored)
    client = await hub_env.client()
    await client.sio.emit("subscribe", {"symbol": "btcusdt"})
    [history] = await client.next("historical_data")
    assert client.payloads("subscription_confirmed") == [{"symbol": "BTCUSDT"}]
    assert client.order.index("subscription_confirmed") < client.order.index("historical_data")
    assert history["symbol"] == "BTCUSDT"
    assert [item["price"] for item in history["data"]] == [2.0, 3.0, 4.0]
    scheme = IntervalScheme()
    first = history["data"][0]
    start, hour = scheme.tag(now - 3 * HOUR)
    assert first == {
        "symbol": "BTCUSDT",
        "price": 2.0,
        "timestamp": now - 3 * HOUR,
        "intervalStartTime": start,
        "intervalHour": hour,
    }


async def test_price_update_goes_to_the_symbol_room_only(hub_env: HubEnv) -> None:
    btc, eth = await hub_env.client(), await hub_env.client()
    await btc.call("subscribe", {"symbol": "BTCUSDT"})
    await eth.call("subscribe", {"symbol": "ETHUSDT"})
    ts = now_ms()
    await hub_env.publish(point("BTCUSDT", ts, 43250.5), point("ETHUSDT", ts, 2300.25))
    [update] = await btc.next("price_update")
    assert update == {"symbol": "BTCUSDT", "price": 43250.5, "timestamp": ts}
    assert await eth.next("price_update") == [
        {"symbol": "ETHUSDT", "price": 2300.25, "timestamp": ts}
    ]
    assert len(btc.payloads("price_update")) == 1
    assert hub_env.hub.stats() == {"activeSubscriptions": 2, "connectedClients": 2}


async def test_at_most_one_price_update_per_second_per_symbol(hub_env: HubEnv) -> None:
    client = await hub_env.client()
    await client.call("subscribe", {"symbol": "BTCUSDT"})
    base = now_ms()
    started = time.monotonic()
    for i in range(26):  # 2.5 s of points at 10 per second
        await hub_env.publish(point("BTCUSDT", base + i * 100, 100.0 + i))
        await hub_env.hub.sleep(0.1)
    updates = await client.next("price_update", 3, timeout=5)
    received = [at for at, _ in client.events["price_update"]]
    elapsed = received[-1] - started
    assert len(received) <= elapsed / 0.9 + 1
    gaps = [b - a for a, b in itertools.pairwise(received)]
    assert all(gap >= 0.85 for gap in gaps), gaps
    # one update per second of exchange time (the throttle is anchored on it, not on arrivals)
    stamps = [p["timestamp"] for p in client.payloads("price_update")]
    assert all(b - a >= 900 for a, b in itertools.pairwise(stamps)), stamps
    # the held point is sent when its second comes: the last price is never lost
    last = await eventually(
        lambda: _last_price(client.payloads("price_update")), timeout=3, what="the last price"
    )
    assert last == 125.0
    assert updates[0]["price"] == 100.0


async def test_jittered_once_a_second_arrivals_are_sent_at_once(hub_env: HubEnv) -> None:
    """A 1 Hz series whose arrivals jitter (here 90 ms early/late in turn) is never held back,
    so the hold cannot turn into a delay that grows with every second."""
    client = await hub_env.client()
    await client.call("subscribe", {"symbol": "BTCUSDT"})
    base, start = now_ms(), time.monotonic()
    published: list[float] = []
    for i in range(5):
        target = start + i + (0.09 if i % 2 == 0 else 0.0)
        await hub_env.hub.sleep(max(0.0, target - time.monotonic()))
        published.append(time.monotonic())
        await hub_env.publish(point("BTCUSDT", base + i * 1000, 100.0 + i))
    await client.next("price_update", 5, timeout=5)
    received = [at for at, _ in client.events["price_update"]]
    lags = [got - sent for got, sent in zip(received, published, strict=True)]
    assert max(lags) < 0.07, lags


async def _last_price(updates: list[dict[str, float]]) -> float | None:
    return updates[-1]["price"] if updates and updates[-1]["price"] == 125.0 else None


async def test_no_update_after_unsubscribe(hub_env: HubEnv) -> None:
    client = await hub_env.client()
    await client.call("subscribe", {"symbol": "BTCUSDT"})
    await client.call("subscribe", {"symbol": "ETHUSDT"})
    ts = now_ms()
    await hub_env.publish(point("BTCUSDT", ts, 1.0))
    await client.next("price_update")
    await client.call("unsubscribe", {"symbol": "BTCUSDT"})
    await hub_env.publish(point("BTCUSDT", ts + 1500, 2.0), point("BTCUSDT", ts + 2500, 3.0))
    await hub_env.publish(point("ETHUSDT", ts + 2500, 7.0))  # the marker: published after
    await client.next("price_update", 2)
    symbols = [p["symbol"] for p in client.payloads("price_update")]
    assert symbols == ["BTCUSDT", "ETHUSDT"]
    assert hub_env.hub.stats()["activeSubscriptions"] == 1


async def test_get_all_symbols(hub_env: HubEnv) -> None:
    client = await hub_env.client()
    await client.sio.emit("get_all_symbols")
    assert await client.next("all_symbols") == [{"symbols": sorted(SYMBOLS)}]


async def test_get_multiple_prices_lists_symbols_that_have_a_price(hub_env: HubEnv) -> None:
    ts = now_ms()
    await hub_env.store.write_points([point("BTCUSDT", ts, 5.0), point("ETHUSDT", ts - 1000, 6.0)])
    client = await hub_env.client()
    await client.sio.emit("get_multiple_prices", {"symbols": ["btcusdt", "ETHUSDT", "BNBUSDT"]})
    [answer] = await client.next("multiple_prices")
    assert answer == {
        "prices": [
            {"symbol": "BTCUSDT", "price": 5.0, "timestamp": ts},
            {"symbol": "ETHUSDT", "price": 6.0, "timestamp": ts - 1000},
        ]
    }


async def test_interval_data_and_recent_intervals(hub_env: HubEnv) -> None:
    scheme = IntervalScheme()
    current = scheme.start_of(now_ms())
    previous = current - scheme.length_ms
    points = [
        point("BTCUSDT", previous + 1000, 10.0),
        point("BTCUSDT", previous + 2000, 14.0),
        point("BTCUSDT", previous + 3000, 9.0),
        point("BTCUSDT", previous + 4000, 12.0),
        point("BTCUSDT", current + 1000, 20.0),
    ]
    await hub_env.store.write_points(points)
    client = await hub_env.client()
    iso = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(previous / 1000))
    hour = scheme.hour_of(previous)
    await client.sio.emit(
        "get_interval_data", {"symbol": "BTCUSDT", "intervalStartTime": iso, "intervalHour": hour}
    )
    [answer] = await client.next("interval_data")
    [aggregate] = answer["intervals"]
    assert answer["symbol"] == "BTCUSDT"
    assert aggregate["intervalStartTime"] == previous
    assert aggregate["intervalHour"] == hour
    assert (aggregate["open"], aggregate["high"], aggregate["low"], aggregate["close"]) == (
        10,
        14,
        9,
        12,
    )
    assert aggregate["count"] == 4
    await client.sio.emit("get_recent_intervals", {"symbol": "BTCUSDT", "count": 6})
    answers = await client.next("interval_data", 2)
    starts = [a["intervalStartTime"] for a in answers[1]["intervals"]]
    assert starts == [previous, current]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("subscribe", {}),
        ("subscribe", {"symbol": 42}),
        ("subscribe", {"symbol": "NOPEUSDT"}),
        ("subscribe", "BTCUSDT"),
        ("subscribe", None),
        ("unsubscribe", {"symbol": ["BTCUSDT"]}),
        ("get_multiple_prices", {"symbols": "BTCUSDT"}),
        ("get_multiple_prices", {"symbols": ["BTCUSDT", "NOPEUSDT"]}),
        ("get_multiple_prices", {"symbols": [f"S{i}USDT" for i in range(10_000)]}),
        ("get_interval_data", {"symbol": "BTCUSDT", "intervalStartTime": "yesterday"}),
        ("get_interval_data", {"symbol": "BTCUSDT", "intervalStartTime": 0, "intervalHour": 2}),
        ("get_recent_intervals", {"symbol": "BTCUSDT", "count": "six"}),
        ("get_recent_intervals", {"symbol": "BTCUSDT", "count": 10**9}),
    ],
)
async def test_bad_payload_gets_an_error_and_changes_nothing(
    hub_env: HubEnv, event: str, payload: object
) -> None:
    client = await hub_env.client()
    await client.call(event, payload)
    [error] = await client.next("error")
    assert error["event"] == event
    assert isinstance(error["message"], str) and error["message"]
    assert hub_env.hub.stats()["activeSubscriptions"] == 0
    # the socket still works
    await client.call("subscribe", {"symbol": "BTCUSDT"})
    await hub_env.publish(point("BTCUSDT", now_ms(), 3.0))
    assert (await client.next("price_update"))[0]["price"] == 3.0
    assert len(client.payloads("error")) == 1


async def test_polling_transport_gets_the_same_events(hub_env: HubEnv) -> None:
    client = await hub_env.client(transports=["polling"])
    await client.call("subscribe", {"symbol": "BTCUSDT"})
    await client.next("historical_data")
    ts = now_ms()
    await hub_env.publish(point("BTCUSDT", ts, 77.5))
    assert await client.next("price_update") == [
        {"symbol": "BTCUSDT", "price": 77.5, "timestamp": ts}
    ]


async def test_websocket_clients_take_the_fast_path_polling_ones_do_not(hub_env: HubEnv) -> None:
    ws_client = await hub_env.client(["websocket"])
    polling_client = await hub_env.client(["polling"])
    for client in (ws_client, polling_client):
        await client.call("subscribe", {"symbol": "BTCUSDT"})
    [direct] = hub_env.hub.fast.direct.values()
    assert direct.sock.sid == ws_client.sio.eio.sid
    ts = now_ms()
    await hub_env.publish(point("BTCUSDT", ts, 5.5))
    for client in (ws_client, polling_client):
        assert await client.next("price_update") == [
            {"symbol": "BTCUSDT", "price": 5.5, "timestamp": ts}
        ]
    await ws_client.sio.disconnect()
    await eventually(
        _async(lambda: not hub_env.hub.fast.direct), what="the connection to be forgotten"
    )


def _async(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return check()

    return probe


async def test_stop_closes_every_client_so_it_reconnects(hub_env: HubEnv) -> None:
    ws_client = await hub_env.client(["websocket"])
    polling_client = await hub_env.client(["polling"])
    await hub_env.hub.stop()
    for client in (ws_client, polling_client):
        await eventually(
            _async(lambda c=client: not c.sio.connected), what="the client to be closed"
        )
    assert hub_env.hub.stats()["connectedClients"] == 0


async def test_a_polling_client_that_stops_polling_is_bounded(hub_env: HubEnv) -> None:
    hub_env.hub.throttle = 0.0
    hub_env.hub.fast.max_buffer = 300
    base = hub_env.url + "/socket.io/?EIO=4&transport=polling"
    async with aiohttp.ClientSession() as session:
        async with session.get(base) as resp:
            sid = msgspec.json.decode((await resp.text())[1:])["sid"]
        url = f"{base}&sid={sid}"
        for body in ("40", '42["subscribe",{"symbol":"BTCUSDT"}]'):
            async with session.post(url, data=body) as resp:
                assert resp.status == 200
        # never polls again: what the hub sends it waits in its queue, up to the bound
        dropped = metrics.SIO_DROPPED._value.get()
        ts = now_ms()
        for i in range(20):
            await hub_env.publish(point("BTCUSDT", ts + i, float(i)))
        await eventually(
            _async(lambda: metrics.SIO_DROPPED._value.get() > dropped), what="drops to be counted"
        )
        assert hub_env.hub.sio.eio.sockets[sid].queue.nbytes <= 300 + 200


async def test_subscribe_since_sends_only_the_points_after_it(hub_env: HubEnv) -> None:
    now = now_ms()
    stored = [point("BTCUSDT", now - k * 60_000, float(k)) for k in (300, 30, 20, 10, 1)]
    await hub_env.store.write_points(stored)
    client = await hub_env.client()
    await client.sio.emit("subscribe", {"symbol": "BTCUSDT", "since": now - 20 * 60_000})
    [history] = await client.next("historical_data")
    assert [item["price"] for item in history["data"]] == [10.0, 1.0]  # after it, not at it
    await client.sio.emit("subscribe", {"symbol": "ETHUSDT", "since": 0})  # capped at 4 h
    await client.next("historical_data", 2)
    await hub_env.publish(point("BTCUSDT", now + 1000, 5.0))
    [update] = await client.next("price_update")
    assert update["price"] == 5.0
    assert client.order.index("historical_data") < client.order.index("price_update")


@pytest.mark.parametrize(
    "since", [-1, "yesterday", 1.5, True, None, [1]], ids=lambda v: f"since={v!r}"
)
async def test_subscribe_with_a_bad_since_is_an_error(hub_env: HubEnv, since: object) -> None:
    client = await hub_env.client()
    payload = {"symbol": "BTCUSDT", "since": since}
    if since is None:
        payload["since"] = now_ms() + 3_600_000  # in the future
    await client.call("subscribe", payload)
    [error] = await client.next("error")
    assert error["event"] == "subscribe" and "since" in error["message"]
    assert "subscription_confirmed" not in client.order
    rooms = hub_env.hub.sio.manager.rooms.get("/", {})
    assert "BTCUSDT" not in rooms
