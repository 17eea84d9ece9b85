"""Stream payloads as pre-formatted JSON text (f-strings: this is the hot path), and the
WebSocket framing that batches many of them into one transport write.

Field names and JSON types follow docs/exchange.md §2: prices, quantities and volumes are
strings with the symbol's decimals, ids and times are numbers, flags booleans.
"""

from __future__ import annotations

import struct

from actors.simulator.bars import Bar
from actors.simulator.intervals import bucket_next
from actors.simulator.market import SymbolState

_POW10 = [10**n for n in range(40)]
_FIXED = [f".{n}f" for n in range(40)]
_EXACT_FLOAT = 10**15  # 15 significant digits survive a double: below this "%.{d}f" is exact


def decimal_text(units: int, decimals: int) -> str:
    """`units` x 10^-decimals as exact decimal text ("0.00250000")."""
    if -_EXACT_FLOAT < units < _EXACT_FLOAT:
        return format(units / _POW10[decimals], _FIXED[decimals])
    sign = ""
    if units < 0:
        sign, units = "-", -units
    whole, frac = divmod(units, _POW10[decimals])
    return f"{sign}{whole}.{frac:0{decimals}d}" if decimals else f"{sign}{whole}"


def _memo(st: SymbolState, field: str, units: int, decimals: int) -> str:
    """Formatted text of a slowly changing field (open, high, low), re-formatted on change."""
    known = st.memo.get(field)
    if known is not None and known[0] == units:
        return known[1]
    text = decimal_text(units, decimals)
    st.memo[field] = (units, text)
    return text


def mini_ticker(st: SymbolState) -> str:
    """`{"e":"24hrMiniTicker","E":..,"s":..,"c":..,"o":..,"h":..,"l":..,"v":..,"q":..}`."""
    pd, qd = st.listing.price_decimals, st.listing.qty_decimals
    return (
        f'{{"e":"24hrMiniTicker","E":{st.event_ms},"s":"{st.symbol}",'
        f'"c":"{decimal_text(st.price, pd)}","o":"{_memo(st, "o", st.open_ticks, pd)}",'
        f'"h":"{_memo(st, "h", st.high, pd)}","l":"{_memo(st, "l", st.low, pd)}",'
        f'"v":"{decimal_text(st.volume, qd)}","q":"{decimal_text(st.quote_volume, pd + qd)}"}}'
    )


def trade(st: SymbolState) -> str:
    """`{"e":"trade","E":..,"s":..,"t":..,"p":..,"q":..,"T":..,"m":..,"M":true}`."""
    maker = "false" if st.taker_buy else "true"
    return (
        f'{{"e":"trade","E":{st.event_ms},"s":"{st.symbol}","t":{st.trade_id},'
        f'"p":"{decimal_text(st.price, st.listing.price_decimals)}",'
        f'"q":"{decimal_text(st.qty, st.listing.qty_decimals)}",'
        f'"T":{st.event_ms},"m":{maker},"M":true}}'
    )


def agg_trade(st: SymbolState) -> str:
    """`aggTrade`: every simulated taker order fills exactly one trade, so a = f = l = t."""
    maker = "false" if st.taker_buy else "true"
    tid = st.trade_id
    return (
        f'{{"e":"aggTrade","E":{st.event_ms},"s":"{st.symbol}","a":{tid},'
        f'"p":"{decimal_text(st.price, st.listing.price_decimals)}",'
        f'"q":"{decimal_text(st.qty, st.listing.qty_decimals)}","f":{tid},"l":{tid},'
        f'"T":{st.event_ms},"m":{maker},"M":true}}'
    )


def kline(st: SymbolState, bar: Bar, interval: str, offset: int, closed: bool) -> str:
    """`{"e":"kline","E":..,"s":..,"k":{t,T,s,i,f,L,o,c,h,l,v,n,x,q,V,Q,B}}`."""
    pd, qd = st.listing.price_decimals, st.listing.qty_decimals
    close_ms = bucket_next(bar.open, interval, offset) * 1000 - 1
    return (
        f'{{"e":"kline","E":{st.event_ms},"s":"{st.symbol}","k":{{"t":{bar.open * 1000},'
        f'"T":{close_ms},"s":"{st.symbol}","i":"{interval}","f":{bar.first_id},"L":{bar.last_id},'
        f'"o":"{decimal_text(bar.o, pd)}","c":"{decimal_text(bar.c, pd)}",'
        f'"h":"{decimal_text(bar.h, pd)}","l":"{decimal_text(bar.low, pd)}",'
        f'"v":"{decimal_text(bar.v, qd)}","n":{bar.trades},"x":{"true" if closed else "false"},'
        f'"q":"{decimal_text(bar.q, pd + qd)}","V":"{decimal_text(bar.taker_v, qd)}",'
        f'"Q":"{decimal_text(bar.taker_q, pd + qd)}","B":"0"}}}}'
    )


def ticker(st: SymbolState) -> str:
    """`24hrTicker` over the simulator's lifetime; bid/ask sit one tick around the last price."""
    pd, qd = st.listing.price_decimals, st.listing.qty_decimals
    change = st.price - st.open_ticks
    percent = 100.0 * change / st.open_ticks
    weighted = st.quote_volume // st.volume if st.volume else st.price
    return (
        f'{{"e":"24hrTicker","E":{st.event_ms},"s":"{st.symbol}",'
        f'"p":"{decimal_text(change, pd)}","P":"{percent:.3f}","w":"{decimal_text(weighted, pd)}",'
        f'"x":"{decimal_text(st.open_ticks, pd)}","c":"{decimal_text(st.price, pd)}",'
        f'"Q":"{decimal_text(st.qty, qd)}","b":"{decimal_text(max(st.price - 1, 1), pd)}",'
        f'"B":"{decimal_text(st.qty, qd)}","a":"{decimal_text(st.price + 1, pd)}",'
        f'"A":"{decimal_text(st.qty, qd)}","o":"{decimal_text(st.open_ticks, pd)}",'
        f'"h":"{decimal_text(st.high, pd)}","l":"{decimal_text(st.low, pd)}",'
        f'"v":"{decimal_text(st.volume, qd)}","q":"{decimal_text(st.quote_volume, pd + qd)}",'
        f'"O":{st.open_ms},"C":{st.event_ms},"F":{st.first_id},"L":{st.trade_id},"n":{st.trades}}}'
    )


def server_shutdown(event_ms: int) -> str:
    """`{"e":"serverShutdown","E":...}`."""
    return f'{{"e":"serverShutdown","E":{event_ms}}}'


def wrap(stream: str, payload: str) -> str:
    """The combined-stream envelope."""
    return f'{{"stream":"{stream}","data":{payload}}}'


_SHORT = struct.Struct("!BB")
_MEDIUM = struct.Struct("!BBH")
_LONG = struct.Struct("!BBQ")


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One unmasked, final server frame (RFC 6455 §5.2)."""
    first = 0x80 | opcode
    size = len(payload)
    if size < 126:
        return _SHORT.pack(first, size) + payload
    if size < 65536:
        return _MEDIUM.pack(first, 126, size) + payload
    return _LONG.pack(first, 127, size) + payload


def ws_text_frames(texts: list[str]) -> bytes:
    """Many text frames as one buffer, for a single transport write."""
    return b"".join([ws_frame(text.encode()) for text in texts])
