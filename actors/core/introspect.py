"""Process introspection gauges read at scrape time: asyncio tasks, threads, SQLite's heap,
Python's allocated blocks and the C allocator's in-use and free bytes.

A leak that RSS alone cannot name shows here first: tasks that never finish, threads that
pile up, SQLite's page caches growing toward their bound, Python objects that accumulate
(allocated blocks), or memory the C allocator holds free but cannot return (fragmentation). The values are computed when
/metrics is read (in tree mode from the metrics server's thread), so nothing runs between
scrapes. SQLite's own allocator counter is read through `sqlite3_status64`, which the
standard `sqlite3` module does not expose.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import sys
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


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _mallinfo2() -> Any | None:
    """glibc's `mallinfo2` (2.33+), or None on another C library."""
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallinfo2
    except (OSError, AttributeError):  # pragma: no cover - musl, macOS, older glibc
        return None
    function.restype = _MallInfo2
    function.argtypes = []
    return function


_MALLINFO = _mallinfo2()


def malloc_bytes() -> tuple[int, int] | None:
    """(bytes in use, bytes free but held) by the C allocator, mmapped chunks included."""
    if _MALLINFO is None:
        return None
    info = _MALLINFO()
    return int(info.uordblks + info.hblkhd), int(info.fordblks)


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
        yield GaugeMetricFamily(
            "bs_python_allocated_blocks",
            "Memory blocks the Python allocator has handed out (objects alive)",
            value=sys.getallocatedblocks(),
        )
        held = malloc_bytes()
        if held is not None:
            yield GaugeMetricFamily(
                "bs_malloc_in_use_bytes", "Bytes in use from the C allocator", value=held[0]
            )
            yield GaugeMetricFamily(
                "bs_malloc_free_bytes",
                "Bytes the C allocator holds free without returning them (fragmentation)",
                value=held[1],
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
