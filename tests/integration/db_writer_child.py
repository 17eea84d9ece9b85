"""A process for test_db_writer_sigterm: a supervisor running a SQLite store, a DbWriter with a
long flush interval and a feeder publishing one point every few milliseconds, until SIGTERM.

Usage: python tests/integration/db_writer_child.py SQLITE_URL FIRST_TS
Prints `ready` once points flow, and on exit one JSON line: how many points the feeder
published, and how many batches the bus still holds unacked.
"""

from __future__ import annotations

import json
import sys

from actors.bus.memory import MemoryBus
from actors.core.actor import Actor
from actors.core.resource import Resource
from actors.core.runtime import run_process, serve
from actors.core.supervisor import ChildSpec, Supervisor
from actors.db_writer import DbWriter
from actors.messages import PricePoint
from actors.store import IntervalScheme, open_store


class Feeder(Actor[None]):
    """Publishes BTCUSDT points one second apart (in ts), one every 2 ms of wall time."""

    def __init__(self, bus: MemoryBus, first_ts: int) -> None:
        super().__init__("feeder")
        self.bus = bus
        self.first_ts = first_ts
        self.published = 0

    async def on_start(self) -> None:
        self.spawn(self._feed(), "feed")

    async def _feed(self) -> None:
        while not self.should_stop:
            i = self.published
            await self.bus.publish([PricePoint("BTCUSDT", self.first_ts + i * 1000 + 3, 100.0 + i)])
            self.published = i + 1
            if self.published == 200:
                print("ready", flush=True)
            if await self.sleep(0.002):
                return


async def main(url: str, first_ts: int) -> int:
    bus = MemoryBus()
    store = open_store(url, IntervalScheme())
    writer = DbWriter(bus, store, flush_seconds=60.0)
    feeder = Feeder(bus, first_ts)
    root = Supervisor(
        "child",
        [
            ChildSpec(Resource("store", store.open, store.close)),
            ChildSpec(writer, shutdown=10.0),
            ChildSpec(feeder, shutdown=1.0),
        ],
    )
    code = await serve(root)
    group = bus.groups.get("db-writer")
    summary = {"published": feeder.published, "unacked": len(group.pending) if group else -1}
    print(json.dumps(summary), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(run_process(lambda: main(sys.argv[1], int(sys.argv[2]))))
