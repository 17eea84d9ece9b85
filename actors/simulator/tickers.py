"""`GET /api/v3/ticker/24hr` bodies (docs/exchange.md §5.4), FULL and MINI."""

from __future__ import annotations

import msgspec

from actors.simulator.frames import decimal_text
from actors.simulator.market import SymbolState


class MiniTicker24h(msgspec.Struct, rename="camel"):
    """`type=MINI`: prices, volumes and the window, no change or book fields."""

    symbol: str
    open_price: str
    high_price: str
    low_price: str
    last_price: str
    volume: str
    quote_volume: str
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    count: int


class Ticker24h(msgspec.Struct, rename="camel"):
    """`type=FULL` (the default)."""

    symbol: str
    price_change: str
    price_change_percent: str
    weighted_avg_price: str
    prev_close_price: str
    last_price: str
    last_qty: str
    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str
    open_price: str
    high_price: str
    low_price: str
    volume: str
    quote_volume: str
    open_time: int
    close_time: int
    first_id: int
    last_id: int
    count: int


def ticker_24hr(st: SymbolState, kind: str, unit: int = 1) -> Ticker24h | MiniTicker24h:
    """The window is the simulator's lifetime, as in the `@ticker` stream; ids are -1 before
    the first trade, as Binance reports an empty window. Times are multiplied by `unit`."""
    pd, qd = st.listing.price_decimals, st.listing.qty_decimals
    first_id, last_id = (st.first_id, st.trade_id) if st.trade_id else (-1, -1)
    if kind == "MINI":
        return MiniTicker24h(
            st.symbol, decimal_text(st.open_ticks, pd), decimal_text(st.high, pd),
            decimal_text(st.low, pd), decimal_text(st.price, pd), decimal_text(st.volume, qd),
            decimal_text(st.quote_volume, pd + qd), st.open_ms * unit, st.event_ms * unit, first_id, last_id,
            st.trades,
        )  # fmt: skip
    change = st.price - st.open_ticks
    weighted = st.quote_volume // st.volume if st.volume else st.price
    qty = decimal_text(st.qty, qd)
    return Ticker24h(
        st.symbol, decimal_text(change, pd), f"{100.0 * change / st.open_ticks:.3f}",
        decimal_text(weighted, pd), decimal_text(st.open_ticks, pd), decimal_text(st.price, pd),
        qty, decimal_text(max(st.price - 1, 1), pd), qty, decimal_text(st.price + 1, pd), qty,
        decimal_text(st.open_ticks, pd), decimal_text(st.high, pd), decimal_text(st.low, pd),
        decimal_text(st.volume, qd), decimal_text(st.quote_volume, pd + qd), st.open_ms * unit,
        st.event_ms * unit, first_id, last_id, st.trades,
    )  # fmt: skip
