"""HistoryImporter: pages of 1 s klines → price points in the store, resumable and idempotent.

Rules (docs/exchange.md §5.2, README "History import"):
- a page is asked for only if its seconds are not recorded as imported (`Store.imported_ranges`),
  so a rerun after an interruption continues where the last one stopped and a complete run
  costs no klines request the second time;
- a kline with no trade (the exchange returns one for every second, volume 0) adds no point:
  the store keeps one point per second *with a trade*, as the live feed does;
- a second already stored is never written again: a running feed's live point (which carries
  the 24 h change) wins over the kline's close, and nothing is counted twice;
- every request goes through the process's `RestGate` (weight budget, 429/418 backoff).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from actors.feed.backfill import KLINES_FAULTS, kline_points, request_klines
from actors.feed.rest_gate import KLINES_WEIGHT, Priority, RestGate
from actors.history.plan import Page, missing_ranges, pages
from actors.logs import one_line
from actors.store import Store

log = logging.getLogger("actors.history")


@dataclass
class ImportReport:
    """What one run did."""

    symbols: int = 0
    pages_planned: int = 0
    pages_done: int = 0
    pages_failed: int = 0
    rows_written: int = 0
    rows_kept: int = 0  # seconds the store already had (a live point or an earlier import)
    requests: int = 0
    weight: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)


class HistoryImporter:
    """Plans and runs a history import for some symbols over [first, last] (epoch seconds)."""

    def __init__(
        self,
        store: Store,
        gate: RestGate,
        session: aiohttp.ClientSession,
        rest_url: str,
        *,
        workers: int = 4,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be >= 1")
        self.store = store
        self.gate = gate
        self.session = session
        self.url = rest_url.rstrip("/") + "/api/v3/klines"
        self.workers = workers
        self.on_page = on_page or (lambda rows: None)
        self.report = ImportReport()

    async def plan(self, symbols: Sequence[str], first: int, last: int) -> list[Page]:
        """The pages still to import, oldest first: no request for a second already imported."""
        todo: list[Page] = []
        for symbol in symbols:
            covered = await self.store.imported_ranges(symbol)
            todo.extend(pages(symbol, missing_ranges(first, last, covered)))
        todo.sort(key=lambda page: (page.first, page.symbol))
        self.report.symbols = len(symbols)
        self.report.pages_planned = len(todo)
        return todo

    async def run(self, todo: Sequence[Page]) -> ImportReport:
        """Import every page (`workers` at a time); a failed page is logged and left for a rerun."""
        started = time.monotonic()
        queue: asyncio.Queue[Page] = asyncio.Queue()
        for page in todo:
            queue.put_nowait(page)
        tasks = [
            asyncio.create_task(self._worker(queue)) for _ in range(min(self.workers, len(todo)))
        ]
        try:
            await asyncio.gather(*tasks)  # a StoreError ends the run: the store is down
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.report.seconds = time.monotonic() - started
        return self.report

    async def _worker(self, queue: asyncio.Queue[Page]) -> None:
        while not queue.empty():
            page = queue.get_nowait()
            try:
                written = await self.import_page(page)
            except KLINES_FAULTS as exc:
                self.report.pages_failed += 1
                if page.symbol not in self.report.failed:
                    self.report.failed.append(page.symbol)
                    log.warning("%s: history page %d..%d failed: %s", *page, one_line(exc))
                written = 0
            self.on_page(written)

    async def import_page(self, page: Page) -> int:
        """Fetch one page, store the seconds with a trade the store lacks, record it imported."""
        symbol, first, last = page
        self.report.requests += 1
        self.report.weight += KLINES_WEIGHT
        rows = await request_klines(
            self.gate, self.session, self.url, symbol, first, last,
            label="history",
            priority=Priority.HISTORY,  # behind the live feed's backfill and listing checks
        )  # fmt: skip
        points = kline_points(symbol, rows, first, last)
        if points:
            stored = await self.store.points_between(symbol, first * 1000, last * 1000 + 999)
            have = {point.second for point in stored}
            fresh = [point for point in points if point.second not in have]
            self.report.rows_kept += len(points) - len(fresh)
            if fresh:
                await self.store.write_points(fresh)
            self.report.rows_written += len(fresh)
        else:
            fresh = []
        await self.store.mark_imported(symbol, first, last)
        self.report.pages_done += 1
        return len(fresh)
