"""Symbol discovery: exchangeInfo → TRADING USDT spot pairs → the store (seed-symbols)."""

from __future__ import annotations

import sys

import aiohttp
import msgspec

from actors.config import Settings
from actors.feed.protocol import EXCHANGE_INFO_DECODER, ExchangeInfo
from actors.feed.rest_gate import EXCHANGE_INFO_WEIGHT, Priority, RestError, RestGate
from actors.logs import one_line
from actors.messages import NewSymbol
from actors.store import Store, StoreError, open_store

DISCOVERY_FAULTS = (aiohttp.ClientError, OSError, TimeoutError, RestError, msgspec.DecodeError)


def tracked_symbols(info: ExchangeInfo) -> list[NewSymbol]:
    """The pairs the product tracks: status TRADING, quote USDT, spot trading allowed; sorted."""
    chosen = {
        s.symbol.upper(): NewSymbol(
            s.symbol.upper(), s.baseAsset.upper(), s.quoteAsset.upper(), True
        )
        for s in info.symbols
        if s.status == "TRADING" and s.quoteAsset == "USDT" and s.isSpotTradingAllowed
    }
    return [chosen[name] for name in sorted(chosen)]


async def discover_symbols(
    session: aiohttp.ClientSession,
    rest_url: str,
    gate: RestGate | None = None,
    *,
    priority: Priority = Priority.LISTING,
) -> list[NewSymbol]:
    """GET `/api/v3/exchangeInfo` and select the tracked pairs (raises the DISCOVERY_FAULTS)."""
    url = rest_url.rstrip("/") + "/api/v3/exchangeInfo"
    body = await (gate or RestGate()).get(
        session, url, label="symbols", weight=EXCHANGE_INFO_WEIGHT, priority=priority
    )
    return tracked_symbols(EXCHANGE_INFO_DECODER.decode(body))


async def seed_symbols(
    store: Store, session: aiohttp.ClientSession, rest_url: str, gate: RestGate | None = None
) -> int:
    """Discover the tracked pairs and upsert them into `store`; returns how many were written."""
    symbols = await discover_symbols(session, rest_url, gate)
    return await store.upsert_symbols(symbols)


async def seed_symbols_command(settings: Settings) -> int:
    """`binance-stats seed-symbols`: 0 on success, 1 when the exchange or the store fails."""
    scheme = settings.interval_scheme
    store = open_store(
        settings.database_url, scheme, sqlite_synchronous=settings.sqlite_synchronous
    )
    try:
        await store.open()
        async with aiohttp.ClientSession() as session:
            symbols = await discover_symbols(session, settings.binance_rest_url)
        written = await store.upsert_symbols(symbols)
    except DISCOVERY_FAULTS as exc:
        print(
            f"seed-symbols: cannot read exchangeInfo from {settings.binance_rest_url}: "
            f"{one_line(exc)}",
            file=sys.stderr,
        )
        return 1
    except StoreError as exc:
        print(f"seed-symbols: store error: {one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(
        f"seed-symbols: {len(symbols)} TRADING USDT spot symbols from "
        f"{settings.binance_rest_url} ({written} new or changed)"
    )
    return 0
