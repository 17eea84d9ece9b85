"""The pure parts of the MongoDB store: bucket documents and fold pipelines (no server)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from actors.messages import PricePoint
from actors.store.intervals import IntervalScheme
from actors.store.mongo_docs import (
    bucket_id,
    bucket_points,
    bucket_start,
    bucket_updates,
    covering_match,
    fold_of,
    fold_pipeline,
    points_in,
    stale_offsets,
)

SCHEME = IntervalScheme()
HOUR = 3_600_000
MIDNIGHT = 1_707_177_600_000
SIZE = 900


def apply(
    collection: dict[str, dict[str, Any]], updates: list[tuple[dict[str, Any], dict[str, Any]]]
) -> None:
    """What MongoDB does with these upserts: $setOnInsert on a new document, then dotted $set."""
    for query, update in updates:
        doc = collection.get(query["_id"])
        if doc is None:
            doc = collection[query["_id"]] = {"_id": query["_id"], **update["$setOnInsert"]}
        for path, value in update["$set"].items():
            head, _, key = path.partition(".")
            doc.setdefault(head, {})[key] = value


points = st.builds(
    PricePoint,
    symbol=st.sampled_from(["BTCUSDT", "ETHUSDT"]),
    ts=st.integers(MIDNIGHT, MIDNIGHT + 3 * HOUR),
    price=st.floats(allow_nan=False, allow_infinity=False),
    pct=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    backfill=st.booleans(),
)


@given(st.lists(st.lists(points, max_size=40), max_size=4))
def test_updates_are_idempotent_and_the_later_write_wins(batches: list[list[PricePoint]]) -> None:
    collection: dict[str, dict[str, Any]] = {}
    expected: dict[tuple[str, int], PricePoint] = {}
    for batch in batches:
        apply(collection, bucket_updates(batch, SCHEME, SIZE))
        apply(collection, bucket_updates(batch, SCHEME, SIZE))  # delivered twice: no change
        for p in batch:
            expected[(p.symbol, p.ts // 1000)] = p
    for symbol in ("BTCUSDT", "ETHUSDT"):
        docs = [d for d in collection.values() if d["symbol"] == symbol]
        want = sorted((p for (s, _), p in expected.items() if s == symbol), key=lambda p: p.ts)
        assert points_in(docs, 0, 2**62) == want


def test_bucket_document_shape() -> None:
    late = MIDNIGHT + 21 * HOUR + 30 * 60_000 + 1_234  # 21:30:01.234
    [(query, update)] = bucket_updates(
        [PricePoint("BTCUSDT", late, 42_000.5, 1.25, True)], SCHEME, SIZE
    )
    start = MIDNIGHT + 21 * HOUR + 30 * 60_000
    assert bucket_start(late, SIZE) == start
    assert query == {"_id": bucket_id("BTCUSDT", start)} == {"_id": f"BTCUSDT:{start}"}
    assert update["$set"] == {"pts.1": {"m": 234, "p": 42_000.5, "c": 1.25, "b": True}}
    assert update["$setOnInsert"] == {
        "symbol": "BTCUSDT", "bucket": start, "intervalStartTime": MIDNIGHT + 21 * HOUR, "intervalHour": 21,
    }  # fmt: skip
    [(_, plain)] = bucket_updates([PricePoint("BTCUSDT", start, 1.0)], SCHEME, SIZE)
    assert plain["$set"] == {"pts.0": {"m": 0, "p": 1.0}}


def test_stale_offsets_and_points() -> None:
    doc = {
        "symbol": "ETHUSDT",
        "bucket": MIDNIGHT,
        "pts": {"0": {"m": 5, "p": 1.0}, "3": {"m": 0, "p": 2.0}},
    }
    assert [p.ts for p in bucket_points(doc)] == [MIDNIGHT + 5, MIDNIGHT + 3_000]
    assert stale_offsets(doc, MIDNIGHT + 3_000) == ["0"]
    assert stale_offsets(doc, MIDNIGHT + 5) == []
    assert points_in([doc], MIDNIGHT + 6, MIDNIGHT + 3_000) == [
        PricePoint("ETHUSDT", MIDNIGHT + 3_000, 2.0)
    ]


def test_fold_pipeline_and_result() -> None:
    match = covering_match("BTCUSDT", MIDNIGHT + 100_500, MIDNIGHT + HOUR, SIZE)
    assert match == {"symbol": "BTCUSDT", "bucket": {"$gte": MIDNIGHT, "$lte": MIDNIGHT + HOUR}}
    pipeline = fold_pipeline(match, MIDNIGHT + 100_500, MIDNIGHT + HOUR, by_symbol=False)
    assert pipeline[0] == {"$match": match}
    assert pipeline[4] == {"$match": {"ts": {"$gte": MIDNIGHT + 100_500, "$lte": MIDNIGHT + HOUR}}}
    assert pipeline[-1]["$group"]["_id"] is None
    assert fold_pipeline(match, 0, 1, by_symbol=True)[-1]["$group"]["_id"] == "$symbol"
    row = {
        "_id": None,
        "first": {"ts": 1, "p": 2.0},
        "last": {"ts": 9, "p": 3.0},
        "high": 5.0,
        "low": 1.0,
        "count": 4,
    }
    ohlc = fold_of(row)
    assert (ohlc.first_ts, ohlc.open, ohlc.last_ts, ohlc.close, ohlc.high, ohlc.low, ohlc.count) == (
        1, 2.0, 9, 3.0, 5.0, 1.0, 4,
    )  # fmt: skip
