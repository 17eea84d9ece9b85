"""MongoStore: the store on MongoDB (docs/architecture.md §3) with PyMongo's native async client.

Prices live in bucket documents (actors/store/mongo_docs.py): one per symbol per
`bucket_seconds`, written by `$set` of each point under its second, so writes are idempotent
and the later write of a second wins. Folds (interval aggregates, 24-hour figures) run as
aggregation pipelines on the server. Indexes are created at `open()`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, PyMongoError

from actors.messages import IntervalAggregate, NewSymbol, PricePoint, Stats24h, SymbolRecord, User
from actors.store import mongo_docs as docs
from actors.store.base import DuplicateError, StoreError
from actors.store.intervals import IntervalScheme
from actors.store.records import check_points, check_role, symbol_changes
from actors.store.series import Ohlc, walk_recent_intervals

DEFAULT_DATABASE = "binance_statistics"
DUPLICATE_KEY = 11000
Doc = dict[str, Any]


def _now_ms() -> int:
    return int(time.time() * 1000)


def _object_id(text: str) -> ObjectId | None:
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        return None


class MongoStore:
    """The Store on MongoDB (`mongodb://host/database`, database default binance_statistics)."""

    def __init__(self, url: str, scheme: IntervalScheme, *, bucket_seconds: int = 900) -> None:
        if bucket_seconds <= 0 or 3600 % bucket_seconds:
            raise ValueError(
                "bucket_seconds must divide 3600, so buckets never straddle an interval"
            )
        self.url = url
        self.scheme = scheme
        self.size = bucket_seconds
        self._client: AsyncMongoClient[Doc] | None = None
        self._db: AsyncDatabase[Doc] | None = None

    # plumbing

    def _coll(self, name: str) -> AsyncCollection[Doc]:
        if self._db is None:
            raise StoreError("the MongoDB store is not open")
        return self._db[name]

    async def open(self) -> None:
        """Connect and create indexes; idempotent. StoreError when the server does not answer."""
        if self._client is not None:
            return
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            self.url, serverSelectionTimeoutMS=5000, tz_aware=False
        )
        self._client, self._db = client, client.get_default_database(default=DEFAULT_DATABASE)
        try:
            await self._coll("users").create_index([("email", ASCENDING)], unique=True)
            await self._coll("symbols").create_index([("symbol", ASCENDING)], unique=True)
            prices = self._coll("prices")
            await prices.create_index([("symbol", ASCENDING), ("bucket", ASCENDING)])
            await prices.create_index([("bucket", ASCENDING)])
            await self._coll("imported").create_index(
                [("symbol", ASCENDING), ("first", ASCENDING)], unique=True
            )
        except PyMongoError as exc:
            await self.close()
            raise StoreError(f"mongodb: {exc}") from exc

    async def close(self) -> None:
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    async def drop_database(self) -> None:
        """Drop this store's database (tests only)."""
        if self._client is not None and self._db is not None:
            await self._client.drop_database(self._db.name)

    async def ping(self) -> bool:
        try:
            if self._db is None:
                return False
            await self._db.command("ping")
            return True
        except PyMongoError:
            return False

    # users

    async def create_user(self, name: str, email: str, password_hash: str, role: str) -> User:
        check_role(role)
        now = _now_ms()
        doc: Doc = {
            "name": name,
            "email": email.strip().lower(),
            "passwordHash": password_hash,
            "role": role,
            "createdAt": now,
            "updatedAt": now,
            "tokenVersion": 0,
        }
        try:
            result = await self._coll("users").insert_one(doc)
        except DuplicateKeyError as exc:
            raise DuplicateError("email", doc["email"]) from exc
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return User(**docs.user_doc({**doc, "_id": result.inserted_id}))

    async def _one_user(self, query: Doc) -> User | None:
        try:
            doc = await self._coll("users").find_one(query)
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return None if doc is None else User(**docs.user_doc(doc))

    async def get_user_by_email(self, email: str) -> User | None:
        return await self._one_user({"email": email.strip().lower()})

    async def get_user(self, user_id: str) -> User | None:
        oid = _object_id(user_id)
        return None if oid is None else await self._one_user({"_id": oid})

    async def set_user_role(
        self, email: str, role: str, password_hash: str | None = None
    ) -> User | None:
        check_role(role)
        changes: Doc = {"role": role, "updatedAt": _now_ms()}
        if password_hash is not None:
            changes["passwordHash"] = password_hash
        try:
            doc = await self._coll("users").find_one_and_update(
                {"email": email.strip().lower()},
                {"$set": changes, "$inc": {"tokenVersion": 1}},
                return_document=ReturnDocument.AFTER,
            )
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return None if doc is None else User(**docs.user_doc(doc))

    # symbols

    async def _bump_symbols(self) -> None:
        await self._coll("meta").update_one(
            {"_id": "symbols_version"}, {"$inc": {"value": 1}}, upsert=True
        )

    async def symbols_version(self) -> int:
        try:
            doc = await self._coll("meta").find_one({"_id": "symbols_version"})
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return int(doc["value"]) if doc else 0

    async def _symbols(self, query: Doc) -> list[SymbolRecord]:
        try:
            found = await self._coll("symbols").find(query).sort("symbol", ASCENDING).to_list(None)
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return [SymbolRecord(**docs.symbol_doc(doc)) for doc in found]

    async def list_symbols(self, active_only: bool = False) -> list[SymbolRecord]:
        return await self._symbols({"isActive": True} if active_only else {})

    async def get_symbol(self, symbol_id: str) -> SymbolRecord | None:
        oid = _object_id(symbol_id)
        found = [] if oid is None else await self._symbols({"_id": oid})
        return found[0] if found else None

    async def get_symbol_by_name(self, symbol: str) -> SymbolRecord | None:
        found = await self._symbols({"symbol": symbol.strip().upper()})
        return found[0] if found else None

    async def create_symbol(self, new: NewSymbol) -> SymbolRecord:
        return (await self.create_symbols([new]))[0]

    async def create_symbols(self, new: Sequence[NewSymbol]) -> list[SymbolRecord]:
        now = _now_ms()
        batch: list[Doc] = [
            {
                "_id": ObjectId(),
                "symbol": n.symbol.strip().upper(),
                "baseAsset": n.base_asset.strip().upper(),
                "quoteAsset": n.quote_asset.strip().upper(),
                "isActive": n.is_active,
                "createdAt": now,
                "updatedAt": now,
                "adminInactive": not n.is_active,  # created inactive by an admin
            }
            for n in new
        ]
        seen: set[str] = set()
        for doc in batch:
            if doc["symbol"] in seen:
                raise DuplicateError("symbol", doc["symbol"])
            seen.add(doc["symbol"])
        if not batch:
            return []
        symbols = self._coll("symbols")
        try:
            await symbols.insert_many(batch, ordered=True)
        except BulkWriteError as exc:
            # No multi-document transaction on a standalone server: undo what went in.
            await symbols.delete_many({"_id": {"$in": [doc["_id"] for doc in batch]}})
            errors = exc.details.get("writeErrors", [])
            if errors and errors[0].get("code") == DUPLICATE_KEY:
                raise DuplicateError("symbol", batch[errors[0]["index"]]["symbol"]) from exc
            raise StoreError(f"mongodb: {exc}") from exc
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        await self._bump_symbols()
        return [SymbolRecord(**docs.symbol_doc(doc)) for doc in batch]

    async def upsert_symbols(self, new: Sequence[NewSymbol]) -> int:
        now = _now_ms()
        wanted = {
            n.symbol.strip().upper(): {
                "baseAsset": n.base_asset.strip().upper(),
                "quoteAsset": n.quote_asset.strip().upper(),
                "isActive": n.is_active,
            }
            for n in new
        }
        symbols = self._coll("symbols")
        try:
            existing = {
                doc["symbol"]: doc async for doc in symbols.find({"symbol": {"$in": list(wanted)}})
            }
            ops = []
            for name, fields in wanted.items():
                old = existing.get(name)
                if old is not None and old.get("adminInactive"):  # an admin's decision wins
                    fields = {**fields, "isActive": old.get("isActive", False)}
                if old is not None and all(old.get(key) == value for key, value in fields.items()):
                    continue
                ops.append(
                    UpdateOne(
                        {"symbol": name},
                        {"$set": {**fields, "updatedAt": now}, "$setOnInsert": {"createdAt": now}},
                        upsert=True,
                    )
                )
            if ops:
                await symbols.bulk_write(ops, ordered=False)
                await self._bump_symbols()
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return len(ops)

    async def update_symbol(
        self, symbol_id: str, changes: dict[str, object]
    ) -> SymbolRecord | None:
        fields: Doc = dict(symbol_changes(changes))
        if "isActive" in fields:  # an admin's decision, kept against the listing check
            fields["adminInactive"] = not fields["isActive"]
        oid = _object_id(symbol_id)
        if oid is None:
            return None
        try:
            doc = await self._coll("symbols").find_one_and_update(
                {"_id": oid},
                {"$set": {**fields, "updatedAt": _now_ms()}},
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                await self._bump_symbols()
        except DuplicateKeyError as exc:
            raise DuplicateError("symbol", str(fields.get("symbol"))) from exc
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return None if doc is None else SymbolRecord(**docs.symbol_doc(doc))

    async def set_listed(self, names: Sequence[str], active: bool) -> list[str]:
        wanted = [name.strip().upper() for name in names]
        symbols = self._coll("symbols")
        query: Doc = {
            "symbol": {"$in": wanted},
            "isActive": not active,
            "adminInactive": {"$ne": True},
        }
        try:
            changed = [doc["symbol"] async for doc in symbols.find(query, {"symbol": 1})]
            if changed:
                await symbols.update_many(
                    {**query, "symbol": {"$in": changed}},
                    {"$set": {"isActive": active, "updatedAt": _now_ms()}},
                )
                await self._bump_symbols()
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return sorted(changed)

    async def delete_symbol(self, symbol_id: str) -> bool:
        oid = _object_id(symbol_id)
        if oid is None:
            return False
        try:
            result = await self._coll("symbols").delete_one({"_id": oid})
            if result.deleted_count:
                await self._bump_symbols()
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return bool(result.deleted_count)

    # price points

    async def write_points(self, points: Sequence[PricePoint]) -> int:
        if not points:
            return 0
        check_points(points)
        ops = [
            UpdateOne(f, u, upsert=True)
            for f, u in docs.bucket_updates(points, self.scheme, self.size)
        ]
        prices = self._coll("prices")
        try:
            try:
                await prices.bulk_write(ops, ordered=False)
            except BulkWriteError as exc:
                # Two upserts of a new bucket can race; the retry finds the document and $sets.
                failed = exc.details.get("writeErrors", [])
                if not failed or any(err.get("code") != DUPLICATE_KEY for err in failed):
                    raise
                await prices.bulk_write([ops[err["index"]] for err in failed], ordered=False)
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return len(points)

    async def _buckets(self, query: Doc, sort: int = ASCENDING, limit: int = 0) -> list[Doc]:
        try:
            cursor = self._coll("prices").find(query).sort("bucket", sort)
            if limit:
                cursor = cursor.limit(limit)
            return await cursor.to_list(None)
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc

    async def points_between(
        self, symbol: str, start_ms: int, end_ms: int, limit: int | None = None
    ) -> list[PricePoint]:
        if end_ms < start_ms or (limit is not None and limit <= 0):
            return []
        found = await self._buckets(docs.covering_match(symbol, start_ms, end_ms, self.size))
        points = docs.points_in(found, start_ms, end_ms)
        return points if limit is None else points[:limit]

    async def latest_point(self, symbol: str) -> PricePoint | None:
        found = await self._buckets({"symbol": symbol}, DESCENDING, 1)
        points = docs.bucket_points(found[0]) if found else []
        return points[-1] if points else None

    async def _latest_before(self, symbol: str, before_ms: int) -> int | None:
        bound = before_ms
        while True:  # each pass looks at an older bucket, so this ends
            found = await self._buckets({"symbol": symbol, "bucket": {"$lt": bound}}, DESCENDING, 1)
            if not found:
                return None
            earlier = [p.ts for p in docs.bucket_points(found[0]) if p.ts < before_ms]
            if earlier:
                return earlier[-1]
            bound = int(found[0]["bucket"])

    async def _folds(self, symbol: str | None, lo_ms: int, hi_ms: int) -> dict[str | None, Ohlc]:
        pipeline = docs.fold_pipeline(
            docs.covering_match(symbol, lo_ms, hi_ms, self.size),
            lo_ms,
            hi_ms,
            by_symbol=symbol is None,
        )
        try:
            cursor = await self._coll("prices").aggregate(pipeline, allowDiskUse=True)
            rows = await cursor.to_list(None)
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return {row["_id"]: docs.fold_of(row) for row in rows}

    async def interval_aggregate(
        self, symbol: str, interval_start_ms: int
    ) -> IntervalAggregate | None:
        start = interval_start_ms
        folds = await self._folds(symbol, start, self.scheme.end_of(start) - 1)
        ohlc = folds.get(None)
        return None if ohlc is None else ohlc.aggregate(symbol, self.scheme, start)

    async def recent_intervals(
        self, symbol: str, count: int, interval_hour: int | None = None
    ) -> list[IntervalAggregate]:
        async def latest_before(ms: int) -> int | None:
            return await self._latest_before(symbol, ms)

        async def aggregate(start: int) -> IntervalAggregate | None:
            return await self.interval_aggregate(symbol, start)

        return await walk_recent_intervals(
            self.scheme, count, interval_hour, latest_before, aggregate
        )

    async def imported_ranges(self, symbol: str) -> list[tuple[int, int]]:
        try:
            found = (
                await self._coll("imported")
                .find({"symbol": symbol})
                .sort("first", ASCENDING)
                .to_list(None)
            )
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return [(int(doc["first"]), int(doc["last"])) for doc in found]

    async def mark_imported(self, symbol: str, first: int, last: int) -> None:
        try:
            await self._coll("imported").update_one(
                {"symbol": symbol, "first": first}, {"$max": {"last": last}}, upsert=True
            )
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc

    async def stats_24h(self, now_ms: int) -> list[Stats24h]:
        folds = await self._folds(None, now_ms - 24 * 3_600_000 + 1, now_ms)
        return [folds[symbol].stats(symbol) for symbol in sorted(s for s in folds if s is not None)]

    async def prune_before(self, ts_ms: int) -> int:
        prices = self._coll("prices")
        cut_bucket = docs.bucket_start(ts_ms, self.size)  # buckets before it end before ts_ms
        try:
            sized = await prices.aggregate([
                {"$match": {"bucket": {"$lt": cut_bucket}}},
                {"$group": {"_id": None, "n": {"$sum": {"$size": {"$objectToArray": "$pts"}}}}},
            ])  # fmt: skip
            counted = await sized.to_list(None)
            removed = int(counted[0]["n"]) if counted else 0
            await prices.delete_many({"bucket": {"$lt": cut_bucket}})
            async for doc in prices.find({"bucket": cut_bucket}):
                stale = docs.stale_offsets(doc, ts_ms)
                if not stale:
                    continue
                removed += len(stale)
                await prices.update_one(
                    {"_id": doc["_id"]}, {"$unset": {f"pts.{k}": "" for k in stale}}
                )
                # Only if nothing is left, so a point written meanwhile is never lost.
                await prices.delete_one({"_id": doc["_id"], "pts": {}})
        except PyMongoError as exc:
            raise StoreError(f"mongodb: {exc}") from exc
        return removed
