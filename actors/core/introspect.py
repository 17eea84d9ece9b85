"""Process introspection gauges read at scrape time: asyncio tasks, threads, SQLite's heap.

A leak that RSS alone cannot name shows here first: tasks that never finish, threads that
pile up, or SQLite's page caches growing toward their bound. The values are computed when
/metrics is read (in tree mode from the metrics server's thread), so nothing runs between
scrapes. SQLite's own allocator counter is read through `sqlite3_status64`, which the
standard `sqlite3` module does not expose.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector

log = logging.getLogger("actors.core.introspect")

_SQLITE_STATUS_MEMORY_USED = 0


def _sqlite_status() -> Any | None:
    """`sqlite3_status64` of the library the stdlib module links, or None where unavailable."""
    try:
        import _sqlite3

        function = ctypes.CDLL(_sqlite3.__file__).sqlite3_status64
    except (ImportError, OSError, AttributeError):  # pragma: no cover - platform without it
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_int,
    ]
    function.restype = ctypes.c_int
    return function


def sqlite_memory_bytes() -> int | None:
    """Bytes SQLite has allocated in this process (page caches, statements, schema)."""
    function = _STATUS
    if function is None:
        return None
    current, highwater = ctypes.c_int64(), ctypes.c_int64()
    if function(_SQLITE_STATUS_MEMORY_USED, ctypes.byref(current), ctypes.byref(highwater), 0):
        return None
    return int(current.value)


_STATUS = _sqlite_status()


class ProcessIntrospection(Collector):
    """Collects the gauges of one process; the event loop is set by `watch_loop`."""

    def __init__(self) -> None:
        self._loop: weakref.ReferenceType[asyncio.AbstractEventLoop] | None = None

    def watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        loop = self._loop() if self._loop is not None else None
        if loop is not None and not loop.is_closed():
            yield GaugeMetricFamily(
                "bs_asyncio_tasks",
                "asyncio tasks not yet done on the process's event loop",
                value=len(asyncio.all_tasks(loop)),
            )
        yield GaugeMetricFamily(
            "bs_threads", "Live threads of the process", value=threading.active_count()
        )
        used = sqlite_memory_bytes()
        if used is not None:
            yield GaugeMetricFamily(
                "bs_sqlite_memory_bytes",
                "Bytes allocated by SQLite in this process (page caches, statements)",
                value=used,
            )


_COLLECTOR = ProcessIntrospection()
_registered = False
_lock = threading.Lock()


def watch_loop(loop: asyncio.AbstractEventLoop) -> None:
    """Report `loop`'s task count (and the process gauges) in this process's metrics."""
    global _registered
    with _lock:
        _COLLECTOR.watch(loop)
        if not _registered:
            REGISTRY.register(_COLLECTOR)
            _registered = True
