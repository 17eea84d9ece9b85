"""DbWriter through store outages on a real SQLite store: an unwritable file, a closed
connection, a file that cannot be opened, and the buffer bound (backpressure, no loss)."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from actors import metrics
from actors.bus.memory import MemoryBus
from actors.core.actor import Child
from actors.core.backoff import Backoff
from actors.messages import PricePoint
from actors.sinks.db_writer import DbWriter
from actors.store import IntervalScheme, StoreError, open_store
from actors.store.base import Store
from tests.helpers import eventually

pytestmark = pytest.mark.timeout(60)

T0 = (int(time.time()) - 3600) * 1000


def ticks(symbol: str, first_ts: int, count: int) -> list[PricePoint]:
    return [PricePoint(symbol, first_ts + i * 1000 + 3, 100.0 + i) for i in range(count)]


def make_writer(bus: MemoryBus, store: Store, **options: Any) -> DbWriter:
    settings: dict[str, Any] = {
        "flush_seconds": 0.1,
        "backoff": Backoff(base=0.05, cap=0.2),
        "read_timeout": 0.05,
    }
    settings.update(options)
    return DbWriter(bus, store, **settings)


def watch_crashes(child: Child) -> list[BaseException]:
    crashes: list[BaseException] = []
    child.link(lambda _child, exc: crashes.append(exc))
    return crashes


@pytest.fixture
async def bus() -> AsyncIterator[MemoryBus]:
    bus = MemoryBus(maxsize=1000)
    yield bus
    await bus.close()


def stored(store: Store, expected: list[PricePoint]) -> Any:
    async def probe() -> bool:
        try:
            got = await store.points_between(expected[0].symbol, expected[0].ts, expected[-1].ts)
        except StoreError:  # not reopened yet
            return False
        return got == expected

    return probe


def all_acked(bus: MemoryBus) -> Any:
    async def probe() -> bool:
        group = bus.groups["db-writer"]
        return not group.pending and not group.queue

    return probe


async def failing(writer: DbWriter, failures_before: float) -> None:
    async def probe() -> bool:
        return not writer.writes_ok and metrics.DB_FAILURES._value.get() > failures_before

    await eventually(probe, what="the writer to see the store fail")


class Immutable:
    """`chattr +i` on files (root only): even an open connection can no longer write them."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = [str(path) for path in paths if path.exists()]
        self.on = False

    def set(self) -> None:
        if shutil.which("chattr") is None:
            pytest.skip("chattr is not installed")
        result = subprocess.run(["chattr", "+i", *self.paths], capture_output=True, check=False)
        if result.returncode != 0:
            pytest.skip(
                f"chattr +i refused (needs root on ext4/xfs): {result.stderr.decode().strip()}"
            )
        self.on = True

    def clear(self) -> None:
        if self.on:
            subprocess.run(["chattr", "-i", *self.paths], capture_output=True, check=True)
            self.on = False


@pytest.fixture
def immutable() -> Iterator[list[Immutable]]:
    made: list[Immutable] = []
    yield made
    for item in made:
        item.clear()


async def test_an_unwritable_sqlite_file_is_survived(
    bus: MemoryBus, sqlite_store: Store, sqlite_url: str, immutable: list[Immutable]
) -> None:
    writer = make_writer(bus, sqlite_store)
    crashes = watch_crashes(writer)
    await writer.start()
    try:
        before = ticks("BTCUSDT", T0, 5)
        await bus.publish(before)
        await eventually(stored(sqlite_store, before), what="points before the outage")
        path = Path(sqlite_url.removeprefix("sqlite:///"))
        # Never the -shm file: it is mapped into memory, and a write fault there is SIGBUS.
        lock = Immutable([path, path.with_name(path.name + "-wal")])
        immutable.append(lock)
        failures = metrics.DB_FAILURES._value.get()
        lock.set()
        during = ticks("BTCUSDT", T0 + 5000, 10)
        await bus.publish(during[:5])
        await failing(writer, failures)
        await bus.publish(during[5:])
        assert bus.groups["db-writer"].pending  # nothing acked while nothing is committed
        assert writer.buffered >= 5 and not await writer.ready()
        lock.clear()
        await eventually(stored(sqlite_store, before + during), what="held points after the outage")
        await eventually(all_acked(bus), what="every batch acked")
        assert await writer.ready() and crashes == []
    finally:
        await writer.stop()


async def test_a_closed_connection_is_survived(bus: MemoryBus, tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}", IntervalScheme())
    await store.open()
    writer = make_writer(bus, store, flush_seconds=0.3)
    crashes = watch_crashes(writer)
    await writer.start()
    try:
        before = ticks("ETHUSDT", T0, 5)
        await bus.publish(before)
        await eventually(stored(store, before), what="points before the outage")
        failures = metrics.DB_FAILURES._value.get()
        await store.close()
        during = ticks("ETHUSDT", T0 + 5000, 5)
        await bus.publish(during)
        await failing(writer, failures)  # then it reopens the store and writes what it held
        await eventually(stored(store, before + during), what="held points after reconnecting")
        await eventually(all_acked(bus), what="every batch acked")
        assert crashes == []
    finally:
        await writer.stop()
        await store.close()


async def test_a_store_that_cannot_be_opened_is_retried(bus: MemoryBus, tmp_path: Path) -> None:
    blocker = tmp_path / "volume"
    blocker.write_text("not a directory yet")  # like a data volume that is not mounted
    store = open_store(f"sqlite:///{blocker / 'store.db'}", IntervalScheme())
    with pytest.raises(StoreError):
        await store.open()
    failures = metrics.DB_FAILURES._value.get()
    writer = make_writer(bus, store)
    crashes = watch_crashes(writer)
    await writer.start()
    try:
        sent = ticks("BTCUSDT", T0, 8)
        await bus.publish(sent)
        await failing(writer, failures)
        blocker.unlink()
        await eventually(stored(store, sent), what="points once the store opens")
        await eventually(all_acked(bus), what="every batch acked")
        assert writer.writes_ok and crashes == []
    finally:
        await writer.stop()
        await store.close()


async def test_a_full_buffer_stops_reading_and_loses_nothing(
    bus: MemoryBus, tmp_path: Path
) -> None:
    blocker = tmp_path / "volume"
    blocker.write_text("not a directory yet")
    store = open_store(f"sqlite:///{blocker / 'store.db'}", IntervalScheme())
    dropped = metrics.DB_DROPPED._value.get()
    writer = make_writer(bus, store, buffer_limit=10)
    await writer.start()
    try:
        sent = ticks("BTCUSDT", T0, 50)
        for i in range(0, 50, 5):
            await bus.publish(sent[i : i + 5])

        async def paused() -> bool:
            return writer.buffered >= 10 and len(bus.groups["db-writer"].queue) > 0

        await eventually(paused, what="the writer to stop reading at its bound")
        assert writer.buffered <= 15  # the bound, passed by at most one batch
        blocker.unlink()
        await eventually(stored(store, sent), what="every point, read after the store came back")
        await eventually(all_acked(bus), what="every batch acked")
        assert metrics.DB_DROPPED._value.get() == dropped
    finally:
        await writer.stop()
        await store.close()
