"""Stores: the interface, SQLite (default) and MongoDB, and interval arithmetic."""

from __future__ import annotations

from actors.store.base import DuplicateError, Store, StoreError
from actors.store.intervals import IntervalScheme

__all__ = ["DuplicateError", "IntervalScheme", "Store", "StoreError", "open_store"]


def open_store(url: str, scheme: IntervalScheme, *, sqlite_synchronous: str = "normal") -> Store:
    """The store for a DATABASE_URL (`sqlite:///path` or `mongodb://...`); call `await open()`.

    `sqlite_synchronous` is SQLite's `PRAGMA synchronous` (SQLITE_SYNCHRONOUS)."""
    if url.startswith("sqlite:"):
        from actors.store.sqlite import SqliteStore

        sqlite: Store = SqliteStore(url, scheme, synchronous=sqlite_synchronous)
        return sqlite
    if url.startswith(("mongodb:", "mongodb+srv:")):
        from actors.store.mongo import MongoStore

        mongo: Store = MongoStore(url, scheme)
        return mongo
    raise ValueError(f"unsupported DATABASE_URL scheme: {url}")
