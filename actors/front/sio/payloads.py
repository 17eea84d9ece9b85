"""The Socket.IO payloads the hub sends (docs/socketio.md §1, §2),
as msgspec Structs; prices are numbers, every `timestamp` of a price is its exchange event time.

Structs of scalars only are `gc=False`: a history answer builds thousands of them, and objects
the garbage collector tracks make its full collections (which stop the loop) longer and more
frequent; scalars cannot form reference cycles."""

from __future__ import annotations

import msgspec

from actors.messages import IntervalAggregate, PricePoint
from actors.store.intervals import IntervalScheme


class PriceItem(msgspec.Struct, frozen=True, gc=False):
    """`{symbol, price, timestamp}`: price_update (documented form), multiple_prices items."""

    symbol: str
    price: float
    timestamp: int


class HistoryItem(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """A stored point as REST shows it: `{symbol, price, timestamp, intervalStartTime, intervalHour}`."""

    symbol: str
    price: float
    timestamp: int
    interval_start_time: int
    interval_hour: int


class ListPriceItem(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """One symbol of the list-form price_update."""

    symbol: str
    price: float
    price_change_percent: float | None
    timestamp: int


class CurrentPrice(msgspec.Struct, frozen=True, rename="camel", gc=False):
    """initial_data's `currentPrice`."""

    symbol: str
    price: float
    timestamp: int
    price_change_percent: float | None


class SeriesItem(msgspec.Struct, frozen=True, gc=False):
    """initial_data's `timeSeries` items."""

    price: float
    timestamp: int


class IntervalGroup(msgspec.Struct, frozen=True, rename="camel"):
    """initial_data's `intervals` items: the last intervals starting at one hour of day."""

    interval_hour: int
    data: list[IntervalAggregate]


class InitialItem(msgspec.Struct, frozen=True, rename="camel"):
    """One symbol of initial_data."""

    symbol: str
    current_price: CurrentPrice | None
    time_series: list[SeriesItem]
    intervals: list[IntervalGroup]


class ErrorPayload(msgspec.Struct, frozen=True, gc=False):
    """The `error` event: which request failed and why."""

    event: str
    message: str


def price_item(point: PricePoint) -> PriceItem:
    return PriceItem(point.symbol, point.price, point.ts)


def list_price_item(point: PricePoint) -> ListPriceItem:
    return ListPriceItem(point.symbol, point.price, point.pct, point.ts)


def history_items(points: list[PricePoint], scheme: IntervalScheme) -> list[HistoryItem]:
    """Points tagged with their interval, in the given (oldest first) order."""
    items: list[HistoryItem] = []
    append = items.append
    start = end = hour = -1
    for point in points:
        ts = point.ts
        if not start <= ts < end:  # points come in order: one tag per interval, not per point
            start, hour = scheme.tag(ts)
            end = scheme.end_of(start)
        append(HistoryItem(point.symbol, point.price, ts, start, hour))
    return items
