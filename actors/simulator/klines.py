"""REST kline rows (docs/exchange.md §5.2) from a symbol's 1 s bars."""

from __future__ import annotations

from actors.simulator.bars import Bar, SecondBars
from actors.simulator.frames import decimal_text
from actors.simulator.intervals import bucket_next, bucket_open
from actors.simulator.market import SymbolState


def kline_rows(
    state: SymbolState,
    interval: str,
    offset: int,
    start_ms: int | None,
    end_ms: int | None,
    limit: int,
    time_unit: int = 1000,
    now_second: int | None = None,
) -> list[list[int | str]]:
    """Bars whose open time is in [start_ms, end_ms] (inclusive), oldest first, at most `limit`:
    the first `limit` from startTime if given, else the last `limit` up to endTime / now.
    Row times are in 1/`time_unit` s (1000: ms; 1_000_000: µs).

    Like the exchange, a bar without a trade is still returned once the symbol has traded, up to
    `now_second` (or its delisting): volume 0, no trades, every price the previous close
    (docs/exchange.md §5.2). Without `now_second` the bars end at the last trade."""
    bars: SecondBars = state.bars
    if not len(bars):
        return []
    last = bars.second(-1)
    if now_second is not None:
        last = max(last, now_second if state.until_ms is None else state.until_ms // 1000)
    earliest = bucket_open(bars.second(0), interval, offset)
    end_second = min(last, end_ms // 1000) if end_ms is not None else last
    opens: list[int] = []
    if start_ms is None:
        opened = bucket_open(end_second, interval, offset)
        while len(opens) < limit and opened >= earliest:
            opens.append(opened)
            opened = bucket_open(opened - 1, interval, offset)
        opens.reverse()
    else:
        first_second = -(-start_ms // 1000)
        opened = bucket_open(first_second, interval, offset)
        if opened != first_second:
            opened = bucket_next(opened, interval, offset)
        opened = max(opened, earliest)
        while len(opens) < limit and opened <= end_second:
            opens.append(opened)
            opened = bucket_next(opened, interval, offset)
    if not opens:
        return []
    scan_end = bucket_next(opens[-1], interval, offset) - 1
    traded = {bar.open: bar for bar in bars.aggregate(interval, opens[0], scan_end, offset)}
    close = bars.close_before(opens[0])
    selected: list[Bar] = []
    for opened in opens:
        bar = traded.get(opened)
        if bar is None:
            if close is None:
                continue  # before the oldest bar kept
            bar = Bar(opened, close, close, close, close, 0, 0, 0, 0, 1, 0)
        close = bar.c
        selected.append(bar)
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
