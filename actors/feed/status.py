"""Feed connection status, readable by the front (/readyz, /system/status).

Embedded mode shares one `FeedStatusBoard` between feed readers and the front; tree mode
publishes the board to Redis (heartbeat keys with a TTL) and the front reads it from there.
"""

from __future__ import annotations

import time
from typing import Protocol


class FeedStatus(Protocol):
    """Read side: is any feed connection up, and when did data last arrive."""

    async def connected(self) -> bool: ...

    async def snapshot(self) -> dict[str, dict[str, object]]:
        """Per shard: {connected: bool, symbols: int, lastMessageMs: int | None}."""


class FeedStatusBoard:
    """In-process status: feed readers write, the front reads."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, object]] = {}

    def update(
        self, shard: str, *, connected: bool, symbols: int, last_message_ms: int | None
    ) -> None:
        self.shards[shard] = {
            "connected": connected,
            "symbols": symbols,
            "lastMessageMs": last_message_ms,
            "updatedMs": int(time.time() * 1000),
        }

    async def connected(self) -> bool:
        return any(bool(s.get("connected")) for s in self.shards.values())

    async def snapshot(self) -> dict[str, dict[str, object]]:
        return {name: dict(state) for name, state in self.shards.items()}
