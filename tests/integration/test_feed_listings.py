"""ListingWatcher over real HTTP: an exchangeInfo server whose answer the test changes, a real
SQLite store. Listings, delistings, an admin's decision, and answers that must change nothing."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from actors import metrics
from actors.feed.listed import MemoryListedSymbols
from actors.feed.listings import ListingWatcher
from actors.feed.rest_gate import RestGate
from actors.messages import PricePoint
from actors.store.base import Store

Serve = Callable[[web.Application], Awaitable[str]]


class ExchangeInfo:
    """Answers `GET /api/v3/exchangeInfo` with `status`, `body` or the pairs in `trading`."""

    def __init__(self, *trading: str) -> None:
        self.trading = list(trading)
        self.halted: list[str] = []
        self.status = 200
        self.body: bytes | None = None
        self.weights: list[int] = []

    async def handle(self, request: web.Request) -> web.Response:
        if self.body is not None or self.status != 200:
            return web.Response(status=self.status, body=self.body or b"{}")
        pairs = [(s, "TRADING") for s in self.trading] + [(s, "BREAK") for s in self.halted]
        symbols = [
            {
                "symbol": name,
                "status": status,
                "baseAsset": name.removesuffix("USDT"),
                "quoteAsset": "USDT",
                "isSpotTradingAllowed": True,
            }
            for name, status in pairs
        ]
        symbols.append(
            {
                "symbol": "ETHBTC",
                "status": "TRADING",
                "baseAsset": "ETH",
                "quoteAsset": "BTC",
                "isSpotTradingAllowed": True,
            }
        )
        return web.json_response({"timezone": "UTC", "symbols": symbols})


async def serve_info(serve: Serve, info: ExchangeInfo) -> str:
    app = web.Application()
    app.router.add_get("/api/v3/exchangeInfo", info.handle)
    return await serve(app)


def changes(kind: str) -> float:
    return float(metrics.FEED_LISTING_CHANGES.labels(kind)._value.get())


async def active(store: Store) -> list[str]:
    return [r.symbol for r in await store.list_symbols(active_only=True)]


async def test_listings_are_followed_history_kept_and_an_admin_decision_wins(
    sqlite_store: Store, serve_app: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    info = ExchangeInfo("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT")
    url = await serve_info(serve_app, info)
    listed = MemoryListedSymbols()
    gate = RestGate()
    watcher = ListingWatcher(sqlite_store, url, gate, listed, interval=3600)
    caplog.set_level(logging.INFO, logger="actors")
    async with aiohttp.ClientSession() as session:
        assert await watcher.check(session)  # a fresh store is seeded: one line, not six
        assert await active(sqlite_store) == info.trading
        assert listed.names == frozenset(info.trading)
        assert gate.spent_total == 20  # exchangeInfo weighs 20
        assert [r.message for r in caplog.records] == [
            "seeded 6 TRADING USDT spot pairs from exchangeInfo"
        ]
        caplog.clear()
        await sqlite_store.write_points([PricePoint("BBBUSDT", 1_700_000_000_000, 1.5, None)])
        ccc = await sqlite_store.get_symbol_by_name("CCCUSDT")
        assert ccc is not None
        await sqlite_store.update_symbol(ccc.id, {"isActive": False})  # an admin's decision

        listed_before, delisted_before = changes("listed"), changes("delisted")
        info.trading = ["AAAUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT", "NEWUSDT"]
        info.halted = ["BBBUSDT"]
        assert await watcher.check(session)
        assert await active(sqlite_store) == ["AAAUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT", "NEWUSDT"]
        assert [r.message for r in caplog.records] == [
            "listed NEWUSDT: a new TRADING USDT spot pair, streamed",
            "delisted BBBUSDT: no longer TRADING; inactive, history kept",
        ]
        assert changes("listed") == listed_before + 1
        assert changes("delisted") == delisted_before + 1
        kept = await sqlite_store.points_between("BBBUSDT", 0, 2_000_000_000_000)
        assert [p.price for p in kept] == [1.5]  # the delisted pair's history stays
        caplog.clear()

        info.trading.append("BBBUSDT")  # back to TRADING
        info.halted = []
        assert await watcher.check(session)
        assert "BBBUSDT" in await active(sqlite_store)
        assert "CCCUSDT" not in await active(sqlite_store)  # still the admin's decision
        assert [r.message for r in caplog.records] == [
            "relisted BBBUSDT: TRADING again, streamed again"
        ]


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (500, b"oops", "failed"),
        (200, b"<html>not json</html>", "failed"),
        (200, b'{"symbols": "nope"}', "failed"),
        (200, b'{"symbols": []}', "garbage"),
        (200, b'{"symbols": [{"symbol": "AAAUSDT", "status": "TRADING", "baseAsset": "AAA",'
         b' "quoteAsset": "USDT", "isSpotTradingAllowed": true}]}', "implausible"),
    ],
)  # fmt: skip
async def test_a_failed_or_broken_exchange_info_changes_nothing(
    sqlite_store: Store,
    serve_app: Serve,
    caplog: pytest.LogCaptureFixture,
    status: int,
    body: bytes,
    outcome: str,
) -> None:
    names = [f"P{index}USDT" for index in range(12)] + ["AAAUSDT"]
    info = ExchangeInfo(*names)
    url = await serve_info(serve_app, info)
    gate = RestGate(max_attempts=1)
    watcher = ListingWatcher(sqlite_store, url, gate, MemoryListedSymbols(), interval=3600)
    async with aiohttp.ClientSession() as session:
        assert await watcher.check(session)
        before = await sqlite_store.list_symbols()
        version = await sqlite_store.symbols_version()
        outcomes = float(metrics.FEED_LISTING_CHECKS.labels(outcome)._value.get())
        info.status, info.body = status, body
        caplog.set_level(logging.WARNING, logger="actors")
        await watcher.check(session)
    assert await sqlite_store.list_symbols() == before
    assert await sqlite_store.symbols_version() == version
    assert float(metrics.FEED_LISTING_CHECKS.labels(outcome)._value.get()) == outcomes + 1
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and r.name != "actors.feed.rest"
    ]
    assert len(warnings) == 1, [r.message for r in warnings]
