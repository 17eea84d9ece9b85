"""SymbolSeeder: on a fresh store (no symbols yet) load the tracked pairs from exchangeInfo.

A transient child: retries with capped backoff while the exchange is unreachable, then ends
(its supervisor does not restart a transient child that returned normally); the feed readers
pick the new symbols up through `symbols_version()`. A store that already has symbols is left
alone (operators manage them through the API or `binance-stats seed-symbols`).
"""

from __future__ import annotations

from collections.abc import Sequence

import aiohttp

from actors.core.actor import Actor
from actors.core.backoff import Backoff
from actors.core.service import Service
from actors.feed.reader import REFRESH
from actors.feed.rest_gate import RestGate
from actors.feed.symbols import DISCOVERY_FAULTS, seed_symbols
from actors.store.base import Store, StoreError


class SymbolSeeder(Service):
    """Seeds an empty symbol table once, in the background, then ends (run it TRANSIENT)."""

    def __init__(
        self,
        store: Store,
        rest_url: str,
        rest_gate: RestGate,
        *,
        notify: Sequence[Actor[str]] = (),
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__("symbol-seeder")
        self.store = store
        self.rest_url = rest_url
        self.rest_gate = rest_gate
        self.backoff = backoff or Backoff(base=1.0, cap=60.0)
        self.notify = notify
        self.seeded: int | None = None

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self.should_stop:
                try:
                    if await self.store.list_symbols():
                        return
                    self.seeded = await seed_symbols(
                        self.store, session, self.rest_url, self.rest_gate
                    )
                    self.log.info("seeded %d symbols from %s", self.seeded, self.rest_url)
                    for reader in self.notify:  # don't make the feed wait for its next poll
                        reader.try_tell(REFRESH)
                    return
                except (*DISCOVERY_FAULTS, StoreError) as exc:
                    delay = self.backoff.next()
                    self.log.warning("cannot seed symbols yet (%s); retrying in %.1fs", exc, delay)
                    await self.sleep(delay)
