"""Shard assignment and connection splitting (pure).

A symbol belongs to shard `crc32(symbol) mod N`. A stable hash rather than the index in the
sorted list: listing one new symbol must not move hundreds of others between shards (each
move would unsubscribe on one process and subscribe on another, with a window where neither
or both hold it). The split is even to within a few percent for hundreds of symbols.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

MAX_STREAMS_PER_CONNECTION = 1024  # docs/exchange.md §4


def shard_of(symbol: str, shards: int) -> int:
    """The shard (0..shards-1) that owns `symbol`."""
    if shards < 1:
        raise ValueError("shards must be >= 1")
    return zlib.crc32(symbol.upper().encode()) % shards


def owned_symbols(symbols: Iterable[str], shard: tuple[int, int]) -> list[str]:
    """The sorted, de-duplicated upper-case symbols that shard K of N owns."""
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count} out of range")
    unique = sorted({s.upper() for s in symbols})
    return [s for s in unique if shard_of(s, count) == index]


def split(names: list[str], limit: int = MAX_STREAMS_PER_CONNECTION) -> list[list[str]]:
    """Chunks of at most `limit` names, in order (one chunk per connection)."""
    if limit < 1:
        raise ValueError("limit must be >= 1")
    return [names[i : i + limit] for i in range(0, len(names), limit)]


def url_streams(names: list[str], budget: int) -> int:
    """How many leading names fit in a `/stream?streams=a/b/c` query of `budget` characters."""
    used = 0
    for count, name in enumerate(names):
        used += len(name) + (1 if count else 0)
        if used > budget:
            return count
    return len(names)
