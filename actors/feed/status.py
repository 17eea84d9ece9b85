"""Feed connection status, readable by the front (/readyz, /system/status).

Embedded mode shares one `FeedStatusBoard` between feed readers and the front; tree mode
publishes the board to Redis (heartbeat keys with a TTL) and the front reads it from there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Protocol


class FeedStatus(Protocol):
    """Read side: is any feed connection up, and when did data last arrive."""

    async def connected(self) -> bool: ...

    async def snapshot(self) -> dict[str, dict[str, object]]:
        """Per shard: {connected, symbols, lastMessageMs, restBannedUntilMs}."""

    async def rest_allowed(self) -> bool:
        """False while a shard's REST is under a 418 ban (its Retry-After not passed)."""


class FeedStatusBoard:
    """In-process status: feed readers write, the front reads."""

    def __init__(self) -> None:
        self.shards: dict[str, dict[str, object]] = {}

    def update(
        self,
        shard: str,
        *,
        connected: bool,
        symbols: int,
        last_message_ms: int | None,
        rest_banned_until_ms: int | None = None,
    ) -> None:
        self.shards[shard] = {
            "connected": connected,
            "symbols": symbols,
            "lastMessageMs": last_message_ms,
            "restBannedUntilMs": rest_banned_until_ms,
            "updatedMs": int(time.time() * 1000),
        }

    async def connected(self) -> bool:
        return any(bool(s.get("connected")) for s in self.shards.values())

    async def snapshot(self) -> dict[str, dict[str, object]]:
        return {name: dict(state) for name, state in self.shards.items()}

    async def rest_allowed(self) -> bool:
        return not rest_banned(self.shards.values())


def rest_banned(states: Iterable[Mapping[str, object]]) -> bool:
    """True when a shard's state carries a 418 ban that has not ended."""
    now_ms = time.time() * 1000
    for state in states:
        until = state.get("restBannedUntilMs")
        if isinstance(until, int) and until > now_ms:
            return True
    return False
