"""`GET /api/v3/exchangeInfo` body (docs/exchange.md §5.1), symbol entries encoded once."""

from __future__ import annotations

import msgspec

from actors.simulator.catalogue import Listing
from actors.simulator.frames import decimal_text


class PriceFilter(msgspec.Struct, tag_field="filterType", tag="PRICE_FILTER", rename="camel"):
    """`PRICE_FILTER`: tickSize sets the price decimals."""

    min_price: str
    max_price: str
    tick_size: str


class LotSize(msgspec.Struct, tag_field="filterType", tag="LOT_SIZE", rename="camel"):
    """`LOT_SIZE`: stepSize sets the quantity decimals."""

    min_qty: str
    max_qty: str
    step_size: str


class Notional(msgspec.Struct, tag_field="filterType", tag="NOTIONAL", rename="camel"):
    """`NOTIONAL` limits."""

    min_notional: str
    apply_min_to_market: bool
    max_notional: str
    apply_max_to_market: bool
    avg_price_mins: int


Filter = PriceFilter | LotSize | Notional


class SymbolEntry(msgspec.Struct, rename="camel"):
    """One `symbols[]` item (trimmed to the fields discovery and formatting need, plus a few)."""

    symbol: str
    status: str
    base_asset: str
    base_asset_precision: int
    quote_asset: str
    quote_precision: int
    quote_asset_precision: int
    order_types: list[str]
    iceberg_allowed: bool
    oco_allowed: bool
    is_spot_trading_allowed: bool
    is_margin_trading_allowed: bool
    filters: list[Filter]
    permissions: list[str]
    permission_sets: list[list[str]]


class RateLimit(msgspec.Struct, rename="camel"):
    """One `rateLimits[]` entry."""

    rate_limit_type: str
    interval: str
    interval_num: int
    limit: int


def symbol_entry(listing: Listing) -> SymbolEntry:
    """The exchangeInfo entry of one listing; 8-decimal filter values as Binance prints them."""
    tick = decimal_text(1, listing.price_decimals) if listing.price_decimals else "1"
    step = decimal_text(1, listing.qty_decimals) if listing.qty_decimals else "1"
    eight = 10**8

    def as8(text: str) -> str:
        return decimal_text(round(float(text) * eight), 8)

    return SymbolEntry(
        symbol=listing.symbol,
        status=listing.status,
        base_asset=listing.base,
        base_asset_precision=8,
        quote_asset=listing.quote,
        quote_precision=8,
        quote_asset_precision=8,
        order_types=["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        iceberg_allowed=True,
        oco_allowed=True,
        is_spot_trading_allowed=listing.spot,
        is_margin_trading_allowed=listing.spot and listing.quote == "USDT",
        filters=[
            PriceFilter(as8(tick), "1000000.00000000", as8(tick)),
            LotSize(as8(step), "9000000.00000000", as8(step)),
            Notional("5.00000000", True, "9000000.00000000", False, 5),
        ],
        permissions=[],
        permission_sets=[["SPOT", "MARGIN"]] if listing.spot else [["MARGIN"]],
    )


class Catalogue:
    """Renders exchangeInfo for all listings, some (`symbols`) or one status (`symbolStatus`)."""

    def __init__(self, listings: list[Listing], weight_limit: int) -> None:
        self._entries = {
            listing.symbol: msgspec.json.encode(symbol_entry(listing)) for listing in listings
        }
        self._status = {listing.symbol: listing.status for listing in listings}
        limits = [
            RateLimit("REQUEST_WEIGHT", "MINUTE", 1, weight_limit),
            RateLimit("ORDERS", "SECOND", 10, 100),
            RateLimit("RAW_REQUESTS", "MINUTE", 5, 300000),
        ]
        self._rate_limits = msgspec.json.encode(limits)

    def update(self, listing: Listing) -> None:
        """Add a listing or change its status (listings and delistings at run time)."""
        self._entries[listing.symbol] = msgspec.json.encode(symbol_entry(listing))
        self._status[listing.symbol] = listing.status

    def render(self, server_time: int, names: list[str] | None, status: str | None) -> bytes:
        """The response body; `names`/`status` select symbols (validated by the caller)."""
        chosen = list(self._entries) if names is None else list(dict.fromkeys(names))
        if status is not None:
            chosen = [name for name in chosen if self._status[name] == status]
        return b"".join(
            [
                b'{"timezone":"UTC","serverTime":',
                str(server_time).encode(),
                b',"rateLimits":',
                self._rate_limits,
                b',"exchangeFilters":[],"symbols":[',
                b",".join(self._entries[name] for name in chosen),
                b"]}",
            ]
        )
