"""Stream names (docs/exchange.md §1.3): which are valid, and which of them carry data here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from actors.simulator.intervals import SECONDS

MAX_STREAMS = 1024
ARRAY_MINI_TICKER = "!miniTicker@arr"

_KLINE = "|".join(sorted(SECONDS, key=len, reverse=True))
_SYMBOL_STREAM = re.compile(
    r"^(?P<symbol>[A-Za-z0-9]+)@(?P<kind>"
    r"trade|aggTrade|miniTicker|ticker|bookTicker|avgPrice|referencePrice|blockTrade"
    r"|ticker_(?:1h|4h|1d)"
    rf"|kline_(?P<interval>{_KLINE})(?P<zone>@\+08:00)?"
    r"|depth(?:5|10|20)?(?:@100ms)?)$"
)
_ALL_STREAM = re.compile(r"^!(?:miniTicker@arr|ticker_(?:1h|4h|1d)@arr)$")
DELIVERED_KINDS = frozenset({"trade", "aggTrade", "miniTicker", "ticker", "kline"})


@dataclass(frozen=True)
class StreamSpec:
    """A parsed stream name; `symbol` is the symbol part as written ("" for `!` streams)."""

    name: str
    symbol: str
    kind: str
    interval: str = ""
    offset: int = 0

    @property
    def delivered(self) -> bool:
        """Whether the simulator produces data for this kind of stream."""
        return self.kind in DELIVERED_KINDS or self.name == ARRAY_MINI_TICKER


def parse_stream(name: str) -> StreamSpec | None:
    """A valid stream name's spec; None if malformed ("Invalid request: invalid stream").

    Unknown or uppercase symbols are valid and simply never deliver data [obs].
    """
    match = _SYMBOL_STREAM.match(name)
    if match is not None:
        kind = match.group("kind")
        interval = match.group("interval") or ""
        if interval:
            kind = "kline"
        offset = 8 * 3600 if match.group("zone") else 0
        return StreamSpec(name, match.group("symbol"), kind, interval, offset)
    if _ALL_STREAM.match(name):
        return StreamSpec(name, "", name[1:])
    return None
