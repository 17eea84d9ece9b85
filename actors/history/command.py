"""`binance-stats backfill --hours H [--symbols A,B]`: the history import as a command.

Exit status: 0 when every page was imported, 1 when some failed (the exchange refused or the
store failed; rerun to retry them), 2 on bad options, 130 when interrupted (rerun to continue).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time
from collections.abc import Sequence

import aiohttp
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from actors.config import Settings
from actors.feed.rest_gate import RestGate
from actors.feed.symbols import DISCOVERY_FAULTS, discover_symbols
from actors.history.importer import HistoryImporter, ImportReport
from actors.logs import one_line
from actors.store import Store, StoreError, open_store

SETTLE_SECONDS = 60  # the newest minute is left to the live feed (its points are still landing)
HISTORY_BUDGET_SHARE = (
    0.5  # the import stops at half the IP's minute weight: the rest is the feed's
)
_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")


def symbol_list(text: str) -> list[str]:
    """`--symbols BTCUSDT,ETHUSDT` → names (upper-cased, deduplicated); ArgumentTypeError if bad."""
    names = [part.strip().upper() for part in text.split(",") if part.strip()]
    bad = [name for name in names if not _SYMBOL.match(name)]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"not a symbol: {bad[0] if bad else text!r}")
    return list(dict.fromkeys(names))


def hours_value(text: str) -> float:
    """`--hours`: a positive number of hours."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 0 < value <= 24 * 366:
        raise argparse.ArgumentTypeError("expected hours within (0, 8784]")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """The `backfill` sub-command's options."""
    parser.add_argument("--hours", type=hours_value, required=True, help="how far back to fill")
    parser.add_argument(
        "--symbols",
        type=symbol_list,
        default=None,
        help="comma-separated pairs (default: the store's active symbols)",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="klines requests in flight (default 4)"
    )
    parser.add_argument(
        "--end",
        type=int,
        default=None,
        metavar="EPOCH_SECONDS",
        help="last second to fill (default: the start of the minute before the current one)",
    )


def history_gate(settings: Settings) -> RestGate:
    """The import's REST gate: it never takes more than half of the minute's weight."""
    return RestGate(budget_share=HISTORY_BUDGET_SHARE)


async def _symbols(
    store: Store, session: aiohttp.ClientSession, gate: RestGate, settings: Settings
) -> list[str]:
    active = [record.symbol for record in await store.list_symbols(active_only=True)]
    if active:
        return active
    found = await discover_symbols(session, settings.binance_rest_url, gate)
    await store.upsert_symbols(found)
    print(f"backfill: the store had no symbols; {len(found)} loaded from exchangeInfo")
    return [symbol.symbol for symbol in found]


def _summary(report: ImportReport, hours: float) -> str:
    return (
        f"backfill: {report.symbols} symbols, {hours:g} h: {report.rows_written} rows written, "
        f"{report.rows_kept} already stored, {report.pages_done}/{report.pages_planned} pages, "
        f"{report.requests} requests (weight {report.weight}), {report.seconds:.1f} s"
    )


def default_end(now: float) -> int:
    """The last second to fill: a minute boundary at least SETTLE_SECONDS old, so two runs in
    the same minute ask for the same window (and the second finds nothing to do)."""
    settled = int(now) - SETTLE_SECONDS
    return settled - settled % 60 - 1


async def backfill_command(
    settings: Settings,
    hours: float,
    symbols: Sequence[str] | None,
    workers: int = 4,
    end: int | None = None,
) -> int:
    """Run the import; see the module docstring for the exit status."""
    if workers < 1:
        print("backfill: --workers must be >= 1", file=sys.stderr)
        return 2
    until = default_end(time.time()) if end is None else end
    first = until - round(hours * 3600) + 1
    store = open_store(
        settings.database_url,
        settings.interval_scheme,
        sqlite_synchronous=settings.sqlite_synchronous,
    )
    gate = history_gate(settings)
    console = Console(stderr=True)
    progress = Progress(
        TextColumn("backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages, {task.fields[rows]} rows"),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    report: ImportReport | None = None
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: main.cancel() if main else None)
    try:
        await store.open()
        async with aiohttp.ClientSession() as session:
            names = list(symbols) if symbols else await _symbols(store, session, gate, settings)
            importer = HistoryImporter(
                store, gate, session, settings.binance_rest_url, workers=workers
            )
            report = importer.report
            todo = await importer.plan(names, first, until)
            with progress:
                task = progress.add_task("backfill", total=len(todo), rows=0)

                def advance(rows: int) -> None:
                    progress.update(task, advance=1, rows=importer.report.rows_written)

                importer.on_page = advance
                await importer.run(todo)
    except asyncio.CancelledError:
        if report is not None:
            print(_summary(report, hours))
        print("backfill: interrupted; run the same command again to continue")
        return 130
    except DISCOVERY_FAULTS as exc:
        print(f"backfill: cannot read exchangeInfo: {one_line(exc)}", file=sys.stderr)
        return 1
    except StoreError as exc:
        print(f"backfill: store error: {one_line(exc)}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await store.close()
    assert report is not None
    print(_summary(report, hours))
    if report.pages_failed:
        print(
            f"backfill: {report.pages_failed} pages failed ({', '.join(report.failed[:5])}); "
            "run the same command again to retry them",
            file=sys.stderr,
        )
        return 1
    return 0
