"""SQLITE_SYNCHRONOUS reaches every connection of the SQLite store (normal by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.store import IntervalScheme, open_store
from actors.store.sqlite import SqliteStore
from actors.store.sqlite_conn import ThreadConnection

# PRAGMA synchronous answers a number: NORMAL is 1, FULL is 2
LEVELS = {"normal": 1, "full": 2}


@pytest.mark.parametrize("level", ["normal", "full"])
async def test_the_pragma_is_applied(tmp_path: Path, level: str) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}", IntervalScheme(), sqlite_synchronous=level)
    assert isinstance(store, SqliteStore)
    await store.open()
    try:
        answer = await store._writer.run(
            lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]
        )
        journal = await store._writer.run(
            lambda conn: conn.execute("PRAGMA journal_mode").fetchone()[0]
        )
    finally:
        await store.close()
    assert (answer, journal) == (LEVELS[level], "wal")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="normal, full"):
        ThreadConnection("x.db", "t", synchronous="off")
