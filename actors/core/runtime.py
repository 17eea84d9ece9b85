"""Process runtime: uvloop where available, signal handling, exit status from the supervisor."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Awaitable, Callable

from actors.core.introspect import watch_loop
from actors.core.supervisor import Supervisor

log = logging.getLogger("actors.runtime")


def run_process(main: Callable[[], Awaitable[int]]) -> int:
    """Run `main` on uvloop (if installed) and return its exit status."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency everywhere but Windows
        return asyncio.run(main())  # type: ignore[arg-type]
    return uvloop.run(main())  # type: ignore[arg-type]


async def serve(root: Supervisor, shutdown_timeout: float = 30.0) -> int:
    """Start `root`, wait for SIGINT/SIGTERM (exit 0) or its failure (exit 1), then stop it."""
    loop = asyncio.get_running_loop()
    watch_loop(loop)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await root.start()
        # What start-up built (modules, the simulator's preloaded history, caches) lives as
        # long as the process: out of the collector's sight, full collections scan only what
        # came after, so their pauses of the loop stay short (docs/security.md §4).
        gc.collect()
        gc.freeze()
        assert root.failed is not None
        failed: asyncio.Future[BaseException] = root.failed
        stop_wait = asyncio.ensure_future(stop.wait())
        failed.add_done_callback(lambda _: stop.set())  # a failing tree wakes the wait too
        await stop_wait
        if failed.done():
            log.critical("supervisor failed: %s", root.failed.result())
            return 1
        log.info("signal received: stopping")
        await asyncio.wait_for(root.stop(), shutdown_timeout)
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
