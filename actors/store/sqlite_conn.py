"""A stdlib sqlite3 connection that lives on its own thread, driven from asyncio."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from actors.store.base import StoreError

T = TypeVar("T")

# PRAGMA synchronous values accepted (SQLITE_SYNCHRONOUS); WAL + NORMAL survives a kill -9 but
# may lose the last commits on a power cut, FULL syncs the WAL on every commit.
SYNCHRONOUS = ("normal", "full")


# Page cache per connection. Each grows until full and then holds, so its size is memory the
# process keeps for good, per connection and per process that opens the store (feed, front,
# db-writer in tree mode). The writer's working set is the unsealed rows (up to bucket plus
# grace seconds of every symbol, about 14 MB for 242 symbols) and the tail of the sealed
# tables; readers mostly touch recent pages, which the OS page cache serves as well.
WRITER_CACHE_KIB = 16 * 1024
READER_CACHE_KIB = 4 * 1024


def sqlite_path(url: str) -> str:
    """The file path of a `sqlite:///relative` or `sqlite:////absolute` URL."""
    if not url.startswith("sqlite:///"):
        raise ValueError(f"a SQLite DATABASE_URL looks like sqlite:///path, not {url!r}")
    path = url[len("sqlite:///") :].split("?", 1)[0]
    if not path:
        raise ValueError(f"a SQLite DATABASE_URL needs a file path: {url!r}")
    return path


class ThreadConnection:
    """One sqlite3 connection used only by one worker thread, so calls never block the loop.

    Calls are serialized in submission order; sqlite3 errors become StoreError.
    """

    def __init__(
        self,
        path: str,
        name: str,
        *,
        synchronous: str = "normal",
        cache_kib: int = WRITER_CACHE_KIB,
    ) -> None:
        """`cache_kib` bounds this connection's page cache (it grows up to it and stays)."""
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        self.cache_kib = cache_kib
        self.path = path
        self.name = name
        self.synchronous = synchronous
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def _connect(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=10.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute(f"PRAGMA cache_size=-{int(self.cache_kib)}")
        self._conn = conn

    async def open(self) -> None:
        """Open the connection on its thread; StoreError when the file cannot be opened."""
        if self._closed:  # reopened after close(): the DbWriter does this to recover
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
            self._closed = False
        if self._conn is None:
            await self._submit(lambda: self._connect())

    async def _submit(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, fn)
        except (sqlite3.OperationalError, sqlite3.DatabaseError, OSError) as exc:
            if isinstance(exc, sqlite3.IntegrityError):
                raise
            raise StoreError(f"sqlite {self.path}: {exc}") from exc

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(conn, *args)` on the connection's thread."""
        conn = self._conn
        if conn is None:
            raise StoreError("the SQLite store is not open")
        return await self._submit(lambda: fn(conn, *args))

    async def close(self) -> None:
        """Close the connection and stop its thread (waits for queued calls)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await self._submit(conn.close)
            except StoreError:
                pass
        self._executor.shutdown(wait=True)
        self._closed = True


class Transaction:
    """`with Transaction(conn):` runs a BEGIN IMMEDIATE ... COMMIT block, rolling back on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")
