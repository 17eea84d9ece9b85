"""Pure parts of the MongoDB store: bucket documents for the price series and the pipelines
that fold them. No I/O here, so it is unit-tested without a server.

A bucket document holds one symbol's points of `size_s` seconds:
`{_id: "BTCUSDT:1707220800000", symbol, bucket, intervalStartTime, intervalHour,
pts: {"<second offset>": {m: <ms within the second>, p: price, c: pct, b: true}}}`
(`c` and `b` are left out when None/False). Writing a point is a `$set` of `pts.<offset>`, so
a repeated write changes nothing and the later write of a second wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from actors.messages import PricePoint
from actors.store.intervals import IntervalScheme
from actors.store.series import Ohlc

Document = dict[str, Any]


def bucket_start(ts_ms: int, size_s: int) -> int:
    """Start (epoch ms) of the bucket holding `ts_ms`."""
    size_ms = size_s * 1000
    return ts_ms - ts_ms % size_ms


def bucket_id(symbol: str, start_ms: int) -> str:
    """The `_id` of a symbol's bucket document."""
    return f"{symbol}:{start_ms}"


def point_value(point: PricePoint) -> Document:
    """What a point stores under `pts.<offset>`."""
    value: Document = {"m": point.ts % 1000, "p": point.price}
    if point.pct is not None:
        value["c"] = point.pct
    if point.backfill:
        value["b"] = True
    return value


def bucket_updates(
    points: Iterable[PricePoint], scheme: IntervalScheme, size_s: int
) -> list[tuple[Document, Document]]:
    """(filter, update) per touched bucket; within the batch the later point of a second wins."""
    sets: dict[tuple[str, int], Document] = {}
    for point in points:
        start = bucket_start(point.ts, size_s)
        offset = (point.ts - start) // 1000
        sets.setdefault((point.symbol, start), {})[f"pts.{offset}"] = point_value(point)
    updates = []
    for (symbol, start), fields in sets.items():
        interval_start, hour = scheme.tag(start)
        on_insert = {
            "symbol": symbol,
            "bucket": start,
            "intervalStartTime": interval_start,
            "intervalHour": hour,
        }
        updates.append(
            ({"_id": bucket_id(symbol, start)}, {"$set": fields, "$setOnInsert": on_insert})
        )
    return updates


def bucket_points(doc: Mapping[str, Any]) -> list[PricePoint]:
    """The points of a bucket document, oldest first."""
    symbol, start = doc["symbol"], int(doc["bucket"])
    out = []
    for key, value in doc.get("pts", {}).items():
        ts = start + int(key) * 1000 + int(value["m"])
        out.append(
            PricePoint(symbol, ts, float(value["p"]), value.get("c"), bool(value.get("b", False)))
        )
    out.sort(key=lambda p: p.ts)
    return out


def points_in(docs: Iterable[Mapping[str, Any]], lo_ms: int, hi_ms: int) -> list[PricePoint]:
    """The points of several bucket documents with lo_ms <= ts <= hi_ms, oldest first."""
    out = [p for doc in docs for p in bucket_points(doc) if lo_ms <= p.ts <= hi_ms]
    out.sort(key=lambda p: p.ts)
    return out


def stale_offsets(doc: Mapping[str, Any], before_ms: int) -> list[str]:
    """The `pts` keys of a bucket document whose points are older than `before_ms`."""
    start = int(doc["bucket"])
    return [
        key
        for key, value in doc.get("pts", {}).items()
        if start + int(key) * 1000 + int(value["m"]) < before_ms
    ]


def fold_pipeline(match: Document, lo_ms: int, hi_ms: int, by_symbol: bool) -> list[Document]:
    """Aggregation folding the points of the matched buckets with lo_ms <= ts <= hi_ms into
    open/high/low/close/count, per symbol or over all. First and last come from $min/$max over
    {ts, p} documents, which compare by ts first, so no sort is needed."""
    return [
        {"$match": match},
        {"$project": {"symbol": 1, "bucket": 1, "pt": {"$objectToArray": "$pts"}}},
        {"$unwind": "$pt"},
        {
            "$project": {
                "symbol": 1,
                "ts": {"$add": ["$bucket", {"$multiply": [{"$toLong": "$pt.k"}, 1000]}, "$pt.v.m"]},
                "price": "$pt.v.p",
            }
        },
        {"$match": {"ts": {"$gte": lo_ms, "$lte": hi_ms}}},
        {
            "$group": {
                "_id": "$symbol" if by_symbol else None,
                "first": {"$min": {"ts": "$ts", "p": "$price"}},
                "last": {"$max": {"ts": "$ts", "p": "$price"}},
                "high": {"$max": "$price"},
                "low": {"$min": "$price"},
                "count": {"$sum": 1},
            }
        },
    ]


def fold_of(row: Mapping[str, Any]) -> Ohlc:
    """An Ohlc from one `$group` result of `fold_pipeline`."""
    first, last = row["first"], row["last"]
    return Ohlc(
        int(first["ts"]), float(first["p"]), int(last["ts"]), float(last["p"]),
        float(row["high"]), float(row["low"]), int(row["count"]),
    )  # fmt: skip


def covering_match(symbol: str | None, lo_ms: int, hi_ms: int, size_s: int) -> Document:
    """The bucket filter for points with lo_ms <= ts <= hi_ms (of one symbol or all)."""
    match: Document = {"bucket": {"$gte": bucket_start(lo_ms, size_s), "$lte": hi_ms}}
    if symbol is not None:
        match["symbol"] = symbol
    return match


def user_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The User fields of a user document (camelCase, string id)."""
    return {
        "id": str(doc["_id"]), "name": doc["name"], "email": doc["email"], "password_hash": doc["passwordHash"],
        "role": doc["role"], "created_at": int(doc["createdAt"]), "updated_at": int(doc["updatedAt"]),
        "token_version": int(doc.get("tokenVersion", 0)),
    }  # fmt: skip


def symbol_doc(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The SymbolRecord fields of a symbol document (string id)."""
    return {
        "id": str(doc["_id"]), "symbol": doc["symbol"], "base_asset": doc["baseAsset"],
        "quote_asset": doc["quoteAsset"], "is_active": bool(doc["isActive"]),
        "created_at": int(doc["createdAt"]), "updated_at": int(doc["updatedAt"]),
        "admin_inactive": bool(doc.get("adminInactive", False)),
    }  # fmt: skip
