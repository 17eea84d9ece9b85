"""The dashboard's list dialect over a real socketio.AsyncClient, beside the documented one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from actors.store import IntervalScheme, Store
from tests.integration.hub_support import SYMBOLS, HubEnv, now_ms, point, start_hub, stop_hub


@pytest.fixture
async def list_hub(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> AsyncIterator[HubEnv]:
    env = await start_hub(sqlite_store, serve_app, list_period=0.2)
    yield env
    await stop_hub(env)


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_list_subscribe_initial_data_then_batched_updates(
    list_hub: HubEnv, transport: str
) -> None:
    ts = now_ms()
    await list_hub.store.write_points(
        [point("BTCUSDT", ts - 5000, 10.0), point("BTCUSDT", ts - 4000, 11.0)]
    )
    client = await list_hub.client([transport])
    await client.call("subscribe", {"symbols": ["btcusdt", "ETHUSDT"]})
    [initial] = await client.next("initial_data")
    [subscribed] = await client.next("subscribed")
    assert client.order[:2] == ["initial_data", "subscribed"]
    assert subscribed["symbols"] == ["BTCUSDT", "ETHUSDT"]
    btc, eth = initial["data"]
    assert btc["currentPrice"] == {
        "symbol": "BTCUSDT",
        "price": 11.0,
        "timestamp": ts - 4000,
        "priceChangePercent": 1.5,
    }
    assert btc["timeSeries"] == [
        {"price": 11.0, "timestamp": ts - 4000},
        {"price": 10.0, "timestamp": ts - 5000},
    ]
    assert eth["currentPrice"] is None
    await list_hub.publish(
        point("BTCUSDT", ts, 1.0), point("ETHUSDT", ts, 2.0), point("BNBUSDT", ts, 3.0)
    )
    [update] = await client.next("price_update")
    assert update["updates"] == [
        {"symbol": "BTCUSDT", "price": 1.0, "priceChangePercent": 1.5, "timestamp": ts},
        {"symbol": "ETHUSDT", "price": 2.0, "priceChangePercent": 1.5, "timestamp": ts},
    ]
    await client.call("unsubscribe", {"symbols": ["ETHUSDT"]})
    assert (await client.next("unsubscribed"))[0]["symbols"] == ["ETHUSDT"]
    await list_hub.publish(point("BTCUSDT", ts + 1000, 4.0), point("ETHUSDT", ts + 1000, 5.0))
    updates = await client.next("price_update", 2)
    assert [item["symbol"] for item in updates[1]["updates"]] == ["BTCUSDT"]


async def test_each_dialect_gets_only_its_own_form(list_hub: HubEnv) -> None:
    documented, listed, both = (
        await list_hub.client(),
        await list_hub.client(),
        await list_hub.client(),
    )
    await documented.call("subscribe", {"symbol": "BTCUSDT"})
    await listed.call("subscribe", {"symbols": ["BTCUSDT"]})
    await both.call("subscribe", {"symbol": "BTCUSDT"})
    await both.call("subscribe", {"symbols": ["BTCUSDT"]})
    ts = now_ms()
    await list_hub.publish(point("BTCUSDT", ts, 42.0))
    assert await documented.next("price_update") == [
        {"symbol": "BTCUSDT", "price": 42.0, "timestamp": ts}
    ]
    [batched] = await listed.next("price_update")
    assert batched["updates"] == [
        {"symbol": "BTCUSDT", "price": 42.0, "priceChangePercent": 1.5, "timestamp": ts}
    ]
    forms = await both.next("price_update", 2)
    assert sorted("updates" in form for form in forms) == [False, True]
    assert len(documented.payloads("price_update")) == 1
    assert "initial_data" not in documented.events and "historical_data" not in listed.events


async def test_list_updates_are_encoded_once_per_subscription_set(list_hub: HubEnv) -> None:
    clients = [await list_hub.client() for _ in range(3)]
    for client in clients:
        await client.call("subscribe", {"symbols": list(SYMBOLS)})
    assert len(list_hub.hub.lists.groups) == 1
    ts = now_ms()
    await list_hub.publish(*[point(s, ts, 1.0) for s in SYMBOLS])
    for client in clients:
        [update] = await client.next("price_update")
        assert len(update["updates"]) == len(SYMBOLS)


async def test_get_historical_since_interval_start(list_hub: HubEnv) -> None:
    scheme = IntervalScheme()
    now = now_ms()
    start = scheme.start_of(now)
    await list_hub.store.write_points(
        [point("ETHUSDT", start - 1000, 1.0), point("ETHUSDT", now - 1000, 2.0)]
    )
    client = await list_hub.client()
    await client.call("get_historical", {"symbol": "ETHUSDT"})
    [answer] = await client.next("historical_data")
    assert answer["symbol"] == "ETHUSDT"
    assert (answer["intervalStartTime"], answer["intervalHour"]) == scheme.tag(now)
    assert [item["price"] for item in answer["data"]] == [2.0]


async def test_interval_update_when_an_interval_closes(list_hub: HubEnv) -> None:
    scheme = IntervalScheme()
    current = scheme.start_of(now_ms())
    previous = current - scheme.length_ms
    closing = [point("BTCUSDT", previous + 1000, 5.0), point("BTCUSDT", current - 1000, 6.0)]
    await list_hub.store.write_points(closing)
    documented, listed = await list_hub.client(), await list_hub.client()
    await documented.call("subscribe", {"symbol": "BTCUSDT"})
    await listed.call("subscribe", {"symbols": ["BTCUSDT"]})
    await list_hub.publish(closing[1])
    await list_hub.publish(point("BTCUSDT", current + 1000, 7.0))
    [update] = await listed.next("interval_update")
    assert update["symbol"] == "BTCUSDT"
    assert update["intervalHour"] == scheme.hour_of(previous)
    assert update["data"]["intervalStartTime"] == previous
    assert (update["data"]["open"], update["data"]["close"], update["data"]["count"]) == (
        5.0,
        6.0,
        2,
    )
    assert "interval_update" not in documented.events


@pytest.mark.parametrize(
    "payload",
    [
        {"symbols": "BTCUSDT"},
        {"symbols": ["BTCUSDT", "NOPEUSDT"]},
        {"symbols": [f"S{i}USDT" for i in range(10_000)]},
        {"symbols": [1, 2]},
        ["BTCUSDT"],
        42,
    ],
)
async def test_bad_list_subscribe_is_refused_whole(list_hub: HubEnv, payload: object) -> None:
    client = await list_hub.client()
    await client.call("subscribe", {"symbols": ["ETHUSDT"]})
    await client.call("subscribe", payload)
    [error] = await client.next("error")
    assert error["event"] == "subscribe" and error["message"]
    assert list_hub.hub.lists.symbols_of(next(iter(list_hub.hub._connected))) == {"ETHUSDT"}
    ts = now_ms()
    await list_hub.publish(point("BTCUSDT", ts, 1.0), point("ETHUSDT", ts, 2.0))
    [update] = await client.next("price_update")
    assert [item["symbol"] for item in update["updates"]] == ["ETHUSDT"]
    assert len(client.payloads("subscribed")) == 1 and len(client.payloads("initial_data")) == 1
