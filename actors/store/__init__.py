"""Stores: the interface, SQLite (default) and MongoDB, and interval arithmetic."""

from __future__ import annotations

from actors.store.base import DuplicateError, Store, StoreError
from actors.store.intervals import IntervalScheme

__all__ = ["DuplicateError", "IntervalScheme", "Store", "StoreError", "open_store"]


def open_store(url: str, scheme: IntervalScheme) -> Store:
    """The store for a DATABASE_URL (`sqlite:///path` or `mongodb://...`); call `await open()`."""
    if url.startswith("sqlite:"):
        from actors.store.sqlite import SqliteStore

        sqlite: Store = SqliteStore(url, scheme)
        return sqlite
    if url.startswith(("mongodb:", "mongodb+srv:")):
        from actors.store.mongo import MongoStore

        mongo: Store = MongoStore(url, scheme)
        return mongo
    raise ValueError(f"unsupported DATABASE_URL scheme: {url}")
