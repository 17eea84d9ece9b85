"""Price data: the stored 1 Hz series, the latest price, interval aggregates and 24 h figures.

Reads go through the PriceReader (cache first, store fallback); the store is authoritative for
interval lists and the 24-hour statistics (one query for every symbol).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from aiohttp import web

from actors.cache.reader import PriceReader
from actors.front.errors import ApiError, ErrorSource, envelope, envelope_long
from actors.front.rest.common import Endpoint, read_query
from actors.front.rest.memo import SharedRecent
from actors.front.schemas import (
    AggregatedQuery,
    IntervalsQuery,
    PriceItem,
    PriceRangeQuery,
    RecentQuery,
    parse_time,
    resolve_range,
)
from actors.front.sio.limits import ReadGate, ServerBusy
from actors.messages import IntervalAggregate, PricePoint, Stats24h
from actors.store.base import Store
from actors.store.intervals import IntervalScheme


def _now_ms() -> int:
    return int(time.time() * 1000)


class PricesApi:
    """Price handlers (public)."""

    def __init__(
        self,
        store: Store,
        reader: PriceReader,
        scheme: IntervalScheme,
        stats_ttl: float = 2.0,
        max_points: int = 10_000,
    ) -> None:
        self.store = store
        self.max_points = max_points
        # long ranges are the expensive answers: they share a budget of the loop's time
        self.gate = ReadGate(concurrent=2, budget=0.25)
        self.reader = reader
        self.scheme = scheme
        # Dashboards poll the 24 h figures; one store fold serves every poll of a short window.
        self._stats: SharedRecent[list[Stats24h]] = SharedRecent(stats_ttl)

    def endpoints(self) -> list[Endpoint]:
        tag = "Price data"
        hours = {"intervalHour": self.scheme.start_hours}
        recent = (
            "The symbol's last `limit` interval aggregates, the open one included, oldest first; "
            "with `intervalHour`, only intervals starting at that hour."
        )
        latest = Endpoint(
            "GET",
            "/price-data/{symbol}/latest",
            self.latest,
            "Latest price",
            tag,
            data=PriceItem,
            errors=(404,),
        )
        recent_intervals = Endpoint(
            "GET",
            "/price-data/recent",
            self.recent,
            "Recent intervals (dashboard form)",
            tag,
            query=RecentQuery,
            query_enums=hours,
            data=list[IntervalAggregate],
            errors=(400, 404),
            description=recent,
        )
        return [
            recent_intervals,
            recent_intervals.alias(
                "/price-data/aggregated",
                "Recent intervals (dashboard form, same as /price-data/recent)",
            ),
            Endpoint(
                "GET",
                "/price-data/stats/24h",
                self.stats_24h,
                "24-hour figures of every symbol",
                tag,
                data=list[Stats24h],
                description="open, high, low, last, change, changePercent and count over the last "
                "24 hours of the stored series.",
            ),
            latest.alias("/price-data/current/{symbol}", "Latest price (dashboard alias)"),
            Endpoint(
                "GET",
                "/price-data/{symbol}",
                self.series,
                "Stored prices of a symbol",
                tag,
                query=PriceRangeQuery,
                data=list[PriceItem],
                errors=(400, 404, 503),
                description="Oldest first; the last hour by default, at most 24 hours, and at "
                "most `limit` points (PRICE_DATA_MAX_POINTS by default and at most).",
            ),
            latest,
            Endpoint(
                "GET",
                "/price-data/{symbol}/intervals",
                self.intervals,
                "Recent intervals",
                tag,
                query=IntervalsQuery,
                data=list[IntervalAggregate],
                errors=(400, 404),
                description="The most recent non-empty 4-hour intervals (the open one included), "
                "oldest first.",
            ),
            Endpoint(
                "GET",
                "/price-data/{symbol}/aggregated",
                self.aggregated,
                "One interval's aggregate",
                tag,
                query=AggregatedQuery,
                query_enums=hours,
                data=IntervalAggregate,
                errors=(400, 404),
                description="OHLC and count of the interval holding `intervalStartTime`; "
                "404 when it holds no point.",
            ),
        ]

    def item(self, point: PricePoint) -> PriceItem:
        start, hour = self.scheme.tag(point.ts)
        return PriceItem(point.symbol, point.price, point.ts, start, hour)

    def items(self, points: Sequence[PricePoint]) -> list[PriceItem]:
        """Ordered points, tagged once per interval rather than once per point."""
        items: list[PriceItem] = []
        start = end = hour = -1
        for point in points:
            ts = point.ts
            if not start <= ts < end:
                start, hour = self.scheme.tag(ts)
                end = self.scheme.end_of(start)
            items.append(PriceItem(point.symbol, point.price, ts, start, hour))
        return items

    async def _known(self, raw: str, path: str = "symbol") -> str:
        symbol = raw.strip().upper()
        if not symbol.isalnum() or await self.store.get_symbol_by_name(symbol) is None:
            raise ApiError.field(404, path, f"Unknown symbol {raw}")
        return symbol

    def _check_hour(self, hour: int | None) -> None:
        if hour is not None and hour not in self.scheme.start_hours:
            hours = ", ".join(str(h) for h in self.scheme.start_hours)
            raise ApiError.field(400, "intervalHour", f"intervalHour must be one of {hours}")

    async def series(self, request: web.Request) -> web.Response:
        query = read_query(request, PriceRangeQuery)
        start, end = resolve_range(query, _now_ms())
        if query.limit is not None and query.limit > self.max_points:
            raise ApiError.field(400, "limit", f"limit must be at most {self.max_points}")
        symbol = await self._known(request.match_info["symbol"])
        try:
            async with self.gate.slot(request.remote or "unknown"):
                points = await self.reader.series(symbol, start, end, query.limit or self.max_points)
                return await envelope_long(points, self.items, "Price data retrieved successfully")
        except ServerBusy as exc:
            message = str(exc)
            raise ApiError(503, message, [ErrorSource("", message)], {"Retry-After": "1"}) from None

    async def latest(self, request: web.Request) -> web.Response:
        symbol = await self._known(request.match_info["symbol"])
        point = (await self.reader.latest([symbol])).get(symbol)
        if point is None:
            raise ApiError.field(404, "symbol", f"No price for {symbol} yet")
        return envelope(self.item(point), "Latest price retrieved successfully")

    async def intervals(self, request: web.Request) -> web.Response:
        query = read_query(request, IntervalsQuery)
        symbol = await self._known(request.match_info["symbol"])
        aggregates = await self.reader.recent_intervals(symbol, query.intervals)
        return envelope(aggregates, "Interval data retrieved successfully")

    async def aggregated(self, request: web.Request) -> web.Response:
        query = read_query(request, AggregatedQuery)
        moment = parse_time("intervalStartTime", query.interval_start_time)
        self._check_hour(query.interval_hour)
        start = self.scheme.start_of(moment)
        if query.interval_hour is not None and self.scheme.hour_of(start) != query.interval_hour:
            raise ApiError.field(
                400,
                "intervalHour",
                f"intervalHour {query.interval_hour} does not match the interval starting at "
                f"{self.scheme.hour_of(start):02d}:00 that holds intervalStartTime",
            )
        symbol = await self._known(request.match_info["symbol"])
        aggregate = await self.reader.interval(symbol, start)
        if aggregate is None:
            raise ApiError.field(
                404, "intervalStartTime", f"No data for {symbol} in the interval starting {start}"
            )
        return envelope(aggregate, "Aggregated data retrieved successfully")

    async def recent(self, request: web.Request) -> web.Response:
        query = read_query(request, RecentQuery)
        self._check_hour(query.interval_hour)
        symbol = await self._known(query.symbol)
        aggregates = await self.reader.recent_intervals(symbol, query.limit, query.interval_hour)
        return envelope(aggregates, "Recent interval data retrieved successfully")

    async def stats_24h(self, request: web.Request) -> web.Response:
        stats = await self._stats.get(lambda: self.store.stats_24h(_now_ms()))
        return envelope(stats, "24-hour statistics retrieved successfully")
