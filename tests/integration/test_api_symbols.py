"""REST symbols over real HTTP on SQLite: lists, by id, and the admin writes with their failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from actors.feed.listed import ListedSymbols, MemoryListedSymbols, RedisListedSymbols
from actors.messages import NewSymbol
from actors.store.base import Store
from tests.conftest import RedisHandle
from tests.integration.api_harness import Api, ServeApp, running_api

SYMBOLS = "/api/v1/symbols"
FIELDS = {
    "id",
    "symbol",
    "baseAsset",
    "quoteAsset",
    "isActive",
    "createdAt",
    "updatedAt",
    "adminInactive",
}


@pytest.fixture
async def api(sqlite_store: Store, serve_app: ServeApp) -> AsyncIterator[Api]:
    await sqlite_store.create_symbols(
        [
            NewSymbol("BTCUSDT", "BTC", "USDT"),
            NewSymbol("ETHUSDT", "ETH", "USDT"),
            NewSymbol("OLDUSDT", "OLD", "USDT", False),
        ]
    )
    async with running_api(sqlite_store, serve_app) as api:
        yield api


async def test_lists_show_active_symbols(api: Api) -> None:
    full = await api.call("GET", SYMBOLS)
    assert full.status == 200 and full.body["success"] is True
    assert [s["symbol"] for s in full.data] == ["BTCUSDT", "ETHUSDT"]
    assert set(full.data[0]) == FIELDS and isinstance(full.data[0]["id"], str)
    every = await api.call("GET", SYMBOLS, params={"includeInactive": "true"})
    assert [s["symbol"] for s in every.data] == ["BTCUSDT", "ETHUSDT", "OLDUSDT"]
    for path in ("/list", "/active"):
        names = await api.call("GET", SYMBOLS + path)
        assert names.status == 200 and names.data == ["BTCUSDT", "ETHUSDT"]
    assert (await api.call("GET", SYMBOLS, params={"includeInactive": "perhaps"})).status == 400


async def test_one_symbol_by_id_or_name(api: Api) -> None:
    record = await api.store.get_symbol_by_name("ETHUSDT")
    assert record is not None
    by_id = await api.call("GET", f"{SYMBOLS}/{record.id}")
    assert (
        by_id.status == 200 and by_id.data["symbol"] == "ETHUSDT" and by_id.data["id"] == record.id
    )
    by_name = await api.call("GET", f"{SYMBOLS}/ethusdt")
    assert by_name.data == by_id.data
    missing = await api.call("GET", f"{SYMBOLS}/ffffffffffffffffffffffff")
    assert missing.status == 404 and missing.body["success"] is False and missing.paths == ["id"]


async def test_create_upper_cases_and_rejects_duplicates(api: Api) -> None:
    token = await api.admin_token()
    created = await api.call(
        "POST",
        SYMBOLS,
        token=token,
        json={"symbol": "solusdt", "baseAsset": "sol", "quoteAsset": "usdt"},
    )
    assert created.status == 201
    assert {k: created.data[k] for k in ("symbol", "baseAsset", "quoteAsset", "isActive")} == {
        "symbol": "SOLUSDT",
        "baseAsset": "SOL",
        "quoteAsset": "USDT",
        "isActive": True,
    }
    again = await api.call(
        "POST",
        SYMBOLS,
        token=token,
        json={"symbol": "SOLUSDT", "baseAsset": "SOL", "quoteAsset": "USDT"},
    )
    assert again.status == 409 and again.paths == ["symbol"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"symbol": "BAD-1", "baseAsset": "B", "quoteAsset": "USDT"}, "symbol"),
        ({"symbol": "XYZUSDT", "quoteAsset": "USDT"}, "baseAsset"),
        (
            {"symbol": "XYZUSDT", "baseAsset": "XYZ", "quoteAsset": "USDT", "isActive": "yes"},
            "isActive",
        ),
    ],
)
async def test_create_validates_fields(api: Api, body: dict[str, object], field: str) -> None:
    reply = await api.call("POST", SYMBOLS, token=await api.admin_token(), json=body)
    assert reply.status == 400 and reply.paths == [field]
    assert await api.store.get_symbol_by_name("XYZUSDT") is None


@pytest.mark.parametrize("wrapped", [False, True])
async def test_bulk_create_array_or_object(api: Api, wrapped: bool) -> None:
    items = [{"symbol": f"A{i}USDT", "baseAsset": f"A{i}", "quoteAsset": "USDT"} for i in range(3)]
    reply = await api.call(
        "POST",
        f"{SYMBOLS}/bulk",
        token=await api.admin_token(),
        json={"symbols": items} if wrapped else items,
    )
    assert reply.status == 201 and [s["symbol"] for s in reply.data] == [
        "A0USDT",
        "A1USDT",
        "A2USDT",
    ]


async def test_bulk_is_all_or_none(api: Api) -> None:
    token = await api.admin_token()
    items = [
        {"symbol": "NEWUSDT", "baseAsset": "NEW", "quoteAsset": "USDT"},
        {"symbol": "ethusdt", "baseAsset": "ETH", "quoteAsset": "USDT"},
    ]
    clash = await api.call("POST", f"{SYMBOLS}/bulk", token=token, json=items)
    assert clash.status == 409 and clash.paths == ["[1].symbol"]
    twice = await api.call(
        "POST", f"{SYMBOLS}/bulk", token=token, json={"symbols": [items[0], items[0]]}
    )
    assert twice.status == 409 and twice.paths == ["symbols[1].symbol"]
    invalid = await api.call(
        "POST", f"{SYMBOLS}/bulk", token=token, json=[items[0], {"symbol": "X"}]
    )
    assert invalid.status == 400 and invalid.paths[0].startswith("[1]")
    assert (await api.call("POST", f"{SYMBOLS}/bulk", token=token, json=[])).status == 400
    too_many = [
        {"symbol": f"S{i}USDT", "baseAsset": "S", "quoteAsset": "USDT"} for i in range(1001)
    ]
    assert (await api.call("POST", f"{SYMBOLS}/bulk", token=token, json=too_many)).status == 400
    assert await api.store.get_symbol_by_name("NEWUSDT") is None


async def test_patch_updates_and_validates(api: Api) -> None:
    token = await api.admin_token()
    record = await api.store.get_symbol_by_name("ETHUSDT")
    assert record is not None
    path = f"{SYMBOLS}/{record.id}"
    off = await api.call("PATCH", path, token=token, json={"isActive": False})
    assert (
        off.status == 200
        and off.data["isActive"] is False
        and off.data["updatedAt"] >= record.updated_at
    )
    assert (await api.call("GET", f"{SYMBOLS}/list")).data == ["BTCUSDT"]
    renamed = await api.call("PATCH", path, token=token, json={"symbol": "eth2usdt"})
    assert renamed.status == 200 and renamed.data["symbol"] == "ETH2USDT"
    clash = await api.call("PATCH", path, token=token, json={"symbol": "BTCUSDT"})
    assert clash.status == 409
    assert (await api.call("PATCH", path, token=token, json={})).status == 400
    assert (await api.call("PATCH", path, token=token, json={"baseAsset": "E T H"})).status == 400
    missing = await api.call(
        "PATCH", f"{SYMBOLS}/ffffffffffffffffffffffff", token=token, json={"isActive": True}
    )
    assert missing.status == 404
    user = await api.call("PATCH", path, token=await api.user_token(), json={"isActive": True})
    assert user.status == 403


async def test_delete_then_404(api: Api) -> None:
    token = await api.admin_token()
    record = await api.store.get_symbol_by_name("BTCUSDT")
    assert record is not None
    assert (
        await api.call("DELETE", f"{SYMBOLS}/{record.id}", token=await api.user_token())
    ).status == 403
    assert (await api.call("DELETE", f"{SYMBOLS}/{record.id}")).status == 401
    deleted = await api.call("DELETE", f"{SYMBOLS}/{record.id}", token=token)
    assert deleted.status == 200 and deleted.data["symbol"] == "BTCUSDT"
    assert (await api.call("DELETE", f"{SYMBOLS}/{record.id}", token=token)).status == 404
    assert (await api.call("GET", f"{SYMBOLS}/{record.id}")).status == 404


@pytest.mark.parametrize("mode", ["embedded", "tree"])
async def test_a_pair_the_exchange_does_not_list_is_refused_once_the_list_is_known(
    sqlite_store: Store, serve_app: ServeApp, redis: RedisHandle, mode: str
) -> None:
    listed: ListedSymbols
    if mode == "embedded":
        listed = MemoryListedSymbols()
    else:  # the watcher runs in a feed process; the front reads the list from Redis
        listed = RedisListedSymbols(redis.client, redis.prefix, cache_seconds=0.0)
    async with running_api(sqlite_store, serve_app, listed=listed) as api:
        token = await api.admin_token()
        unknown = {"symbol": "nopeusdt", "baseAsset": "NOPE", "quoteAsset": "USDT"}
        before = await api.call("POST", SYMBOLS, json=unknown, token=token)
        assert before.status == 201  # the list is not known yet: accepted as before
        await listed.publish(["BTCUSDT", "SOLUSDT"])
        refused = await api.call(
            "POST", SYMBOLS, json={**unknown, "symbol": "fakeusdt"}, token=token
        )
        assert refused.status == 400 and refused.paths == ["symbol"]
        assert "not listed by the exchange" in refused.body["message"]
        bulk = await api.call(
            "POST",
            SYMBOLS + "/bulk",
            json={"symbols": [{**unknown, "symbol": "SOLUSDT"}, {**unknown, "symbol": "X1USDT"}]},
            token=token,
        )
        assert bulk.status == 400 and bulk.paths == ["symbols[1].symbol"]
        assert await sqlite_store.get_symbol_by_name("SOLUSDT") is None  # all or none
        ok = await api.call("POST", SYMBOLS, json={**unknown, "symbol": "solusdt"}, token=token)
        assert ok.status == 201 and ok.data["symbol"] == "SOLUSDT"
