"""Listings followed live, end to end in embedded mode: the simulator lists and delists pairs on
request; the whole tree (feed, listing watcher, writers, front) runs in this process against it
over loopback. A listing reaches `GET /symbols/list` and a Socket.IO subscription within one
check; a delisting stops its stream and keeps its history; an admin's deactivation wins."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import socketio

from actors.simulator.exchange import ExchangeSimulator
from actors.store import IntervalScheme, Store, open_store
from actors.topology.modes import build_embedded
from tests.helpers import eventually, free_port, make_settings

CHECK_SECONDS = 1  # LISTING_CHECK_SECONDS, shortened (the setting's floor is 10 s)


async def test_listings_delistings_and_an_admins_decision_in_embedded_mode(
    tmp_path: Path,
) -> None:
    port = free_port()
    db = f"sqlite:///{tmp_path / 'listings.db'}"
    async with ExchangeSimulator(symbols=20, seed=5) as sim:
        settings = make_settings(
            PORT=str(port),
            HOST="127.0.0.1",
            DATABASE_URL=db,
            DB_FLUSH_SECONDS="0.2",
            BINANCE_WS_URL=sim.ws_url,
            BINANCE_REST_URL=sim.rest_url,
        )
        settings = dataclasses.replace(settings, listing_check_seconds=CHECK_SECONDS)
        tree = build_embedded(settings)
        store = open_store(db, IntervalScheme())
        await tree.start()
        try:
            base = f"http://127.0.0.1:{port}/api/v1"
            async with aiohttp.ClientSession() as http:

                async def names() -> list[str]:
                    async with http.get(f"{base}/symbols/list") as response:
                        body = await response.json()
                    return list(body["data"]) if response.status == 200 else []

                await eventually(
                    lambda: _nonempty(names), timeout=20, what="symbols seeded by the watcher"
                )
                await store.open()
                assert await names() == sorted(sim.usdt_symbols())

                # an admin deactivates a pair the exchange still lists: it stays inactive
                kept_off = sim.usdt_symbols()[1]
                record = await store.get_symbol_by_name(kept_off)
                assert record is not None
                await store.update_symbol(record.id, {"isActive": False})

                # a new listing: in the list and on a subscription within one check
                listed_at = time.monotonic()
                sim.list_symbol("NEWUSDT", price=2.5, activity=1.0)
                await eventually(
                    lambda: _contains(names, "NEWUSDT"), timeout=10, what="NEWUSDT listed"
                )
                assert time.monotonic() - listed_at <= CHECK_SECONDS + 1.5
                update = await _first_price_update(f"http://127.0.0.1:{port}", "NEWUSDT")
                assert update["symbol"] == "NEWUSDT" and float(update["price"]) > 0
                await eventually(
                    lambda: _has_points(store, "NEWUSDT"), timeout=10, what="NEWUSDT stored"
                )

                # a delisting: out of the list, its stream stopped, its history kept
                sim.delist_symbol("NEWUSDT")
                await eventually(
                    lambda: _absent(names, "NEWUSDT"), timeout=10, what="NEWUSDT delisted"
                )
                await eventually(
                    lambda: _unsubscribed(sim, "newusdt@miniTicker"),
                    timeout=10,
                    what="its stream unsubscribed",
                )
                assert await _has_points(store, "NEWUSDT")
                gone = await store.get_symbol_by_name("NEWUSDT")
                assert gone is not None and not gone.is_active

                await asyncio.sleep(3 * CHECK_SECONDS)  # several checks later
                assert kept_off not in await names()
                still = await store.get_symbol_by_name(kept_off)
                assert still is not None and still.admin_inactive and not still.is_active
        finally:
            await tree.stop()
            await store.close()


Names = Callable[[], Awaitable[list[str]]]


async def _nonempty(names: Names) -> bool:
    return bool(await names())


async def _contains(names: Names, symbol: str) -> bool:
    return symbol in await names()


async def _absent(names: Names, symbol: str) -> bool:
    return symbol not in await names()


async def _has_points(store: Store, symbol: str) -> bool:
    return bool(await store.points_between(symbol, 0, 2**62))


async def _unsubscribed(sim: ExchangeSimulator, stream: str) -> bool:
    return all(stream not in conn.streams for conn in sim.hub.connections)


async def _first_price_update(url: str, symbol: str) -> dict[str, object]:
    client = socketio.AsyncClient()
    got: asyncio.Future[dict[str, object]] = asyncio.get_running_loop().create_future()

    @client.on("price_update")  # type: ignore[misc]
    async def on_price(data: dict[str, object]) -> None:
        if data.get("symbol") == symbol and not got.done():
            got.set_result(data)

    await client.connect(url, transports=["websocket"])
    try:
        await client.emit("subscribe", {"symbol": symbol})
        return await asyncio.wait_for(got, 10)
    finally:
        await client.disconnect()
