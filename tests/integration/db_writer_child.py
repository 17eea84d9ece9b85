"""A process for the DbWriter process tests: a supervisor running a SQLite store and a DbWriter
whose flush interval (60 s) never comes round, so only its final flush can write.

    python tests/integration/db_writer_child.py SQLITE_URL FIRST_TS
        feeds itself: a feeder publishes one BTCUSDT point every 2 ms on the in-process bus;
        prints `ready` after 200 points.
    python tests/integration/db_writer_child.py SQLITE_URL 0 --redis URL --prefix P --expect N
        reads the Redis bus (consumer `db-writer`); prints `buffered` once it holds N points.

Runs until SIGTERM, then prints one JSON line: points published by the feeder, and batches
the in-process bus still holds unacked.
"""

from __future__ import annotations

import argparse
import json
import sys

from actors.bus.base import Bus
from actors.bus.memory import MemoryBus
from actors.bus.redis import RedisBus
from actors.core.resource import Resource
from actors.core.runtime import run_process, serve
from actors.core.service import Service
from actors.core.supervisor import ChildSpec, Supervisor
from actors.messages import PricePoint
from actors.sinks.db_writer import DbWriter
from actors.store import IntervalScheme, open_store


class Feeder(Service):
    """Publishes BTCUSDT points one second apart (in ts), one every 2 ms of wall time."""

    def __init__(self, bus: Bus, first_ts: int) -> None:
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


class Watcher(Service):
    """Prints `buffered` once the writer holds `expect` points."""

    def __init__(self, writer: DbWriter, expect: int) -> None:
        super().__init__("watcher")
        self.writer = writer
        self.expect = expect

    async def on_start(self) -> None:
        self.spawn(self._watch(), "watch")

    async def _watch(self) -> None:
        while self.writer.buffered < self.expect:
            if await self.sleep(0.01):
                return
        print("buffered", flush=True)


async def main(args: argparse.Namespace) -> int:
    bus: Bus = RedisBus.from_url(args.redis, args.prefix) if args.redis else MemoryBus()
    store = open_store(args.url, IntervalScheme())
    writer = DbWriter(bus, store, flush_seconds=60.0)
    specs = [
        ChildSpec(Resource("store", store.open, store.close)),
        ChildSpec(writer, shutdown=10.0),
    ]
    feeder = Feeder(bus, args.first_ts)
    if args.redis:
        specs.append(ChildSpec(Watcher(writer, args.expect)))
    else:
        specs.append(ChildSpec(feeder, shutdown=1.0))
    code = await serve(Supervisor("child", specs))
    unacked = -1
    if isinstance(bus, MemoryBus) and "db-writer" in bus.groups:
        unacked = len(bus.groups["db-writer"].pending)
    await bus.close()
    print(json.dumps({"published": feeder.published, "unacked": unacked}), flush=True)
    return code


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("first_ts", type=int)
    parser.add_argument("--redis", default="")
    parser.add_argument("--prefix", default="")
    parser.add_argument("--expect", type=int, default=0)
    parsed = parser.parse_args()
    sys.exit(run_process(lambda: main(parsed)))
