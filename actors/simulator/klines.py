"""REST kline rows (binance-protocol.md §5.2) from a symbol's 1 s bars."""

from __future__ import annotations

from actors.simulator.bars import SecondBars
from actors.simulator.frames import decimal_text
from actors.simulator.intervals import SECONDS, bucket_next, bucket_open
from actors.simulator.market import SymbolState


def kline_rows(
    state: SymbolState,
    interval: str,
    offset: int,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    time_unit: int = 1000,
) -> list[list[int | str]]:
    """Bars whose open time is in [start_ms, end_ms] (inclusive), oldest first, at most `limit`:
    the first `limit` from startTime if given, else the last `limit` up to endTime / now.
    Row times are in 1/`time_unit` s (1000: ms; 1_000_000: µs)."""
    bars: SecondBars = state.bars
    if not len(bars):
        return []
    last_second = bars.second(-1)
    if start_ms is None:
        first_open = bucket_open(bars.second(0), interval, offset)
    else:
        first_second = -(-start_ms // 1000)
        first_open = bucket_open(first_second, interval, offset)
        if first_open != first_second:
            first_open = bucket_next(first_open, interval, offset)
        first_open = max(first_open, bucket_open(bars.second(0), interval, offset))
    end_second = min(last_second, end_ms // 1000) if end_ms is not None else last_second
    if end_second < first_open:
        return []
    scan_end = bucket_next(bucket_open(end_second, interval, offset), interval, offset) - 1
    length = SECONDS[interval]
    if start_ms is None and length:
        first_open = max(
            first_open, bucket_open(end_second, interval, offset) - (limit - 1) * length
        )
    elif length:
        scan_end = min(scan_end, first_open + limit * length - 1)
    selected = [
        bar
        for bar in bars.aggregate(interval, first_open, scan_end, offset)
        if bar.open <= end_second
    ]
    selected = selected[:limit] if start_ms is not None else selected[-limit:]
    pd, qd = state.listing.price_decimals, state.listing.qty_decimals
    return [
        [
            bar.open * time_unit,
            decimal_text(bar.o, pd),
            decimal_text(bar.h, pd),
            decimal_text(bar.low, pd),
            decimal_text(bar.c, pd),
            decimal_text(bar.v, qd),
            bucket_next(bar.open, interval, offset) * time_unit - 1,
            decimal_text(bar.q, pd + qd),
            bar.trades,
            decimal_text(bar.taker_v, qd),
            decimal_text(bar.taker_q, pd + qd),
            "0",
        ]
        for bar in selected
    ]
