"""`binance-stats backfill` against the simulator (realistic activity, pre-history) into real
SQLite files: what is stored, idempotence, interruption and resume, beside live points."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from actors.feed.backfill import kline_points
from actors.feed.rest_gate import RestGate
from actors.history.command import backfill_command, default_end, symbol_list
from actors.history.importer import HistoryImporter
from actors.history.plan import Page, missing_ranges, pages
from actors.messages import PricePoint
from actors.simulator.exchange import ExchangeSimulator
from actors.store import IntervalScheme, Store, open_store
from tests.helpers import eventually, make_settings, simulated_closes, stored_prices

pytestmark = pytest.mark.timeout(120)

WINDOW = 1500  # seconds imported: two pages per symbol


def test_klines_without_a_trade_add_no_point() -> None:
    traded = (1_000_000, "1.0", "1.2", "0.9", "1.1", "5", 1_000_999, "5.5", 3, "1", "1.1", "0")
    silent = (1_001_000, "1.1", "1.1", "1.1", "1.1", "0", 1_001_999, "0", 0, "0", "0", "0")
    assert kline_points("ABCUSDT", [traded, silent], 1000, 1001) == [
        PricePoint("ABCUSDT", 1_000_000, 1.1, None, True)
    ]


def test_plan_asks_only_for_what_is_not_imported_in_pages_of_1000() -> None:
    assert missing_ranges(0, 99, []) == [(0, 99)]
    assert missing_ranges(0, 99, [(10, 19), (15, 30), (50, 200)]) == [(0, 9), (31, 49)]
    assert missing_ranges(0, 99, [(-5, 120)]) == []
    assert pages("BTCUSDT", [(0, 2499)]) == [
        Page("BTCUSDT", 0, 999),
        Page("BTCUSDT", 1000, 1999),
        Page("BTCUSDT", 2000, 2499),
    ]
    end = default_end(1_000_000_090.5)  # the last second of a minute at least 60 s old
    assert (end + 1) % 60 == 0 and 1_000_000_090 - 121 < end < 1_000_000_090 - 60
    assert symbol_list("btcusdt, ETHUSDT,btcusdt") == ["BTCUSDT", "ETHUSDT"]


async def test_import_stores_every_traded_second_once_and_a_rerun_asks_for_nothing(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with ExchangeSimulator(symbols=20, seed=4, prehistory_seconds=WINDOW + 120) as sim:
        end = int(time.time()) - 60
        first = end - WINDOW + 1
        settings = make_settings(BINANCE_REST_URL=sim.rest_url, DATABASE_URL=sqlite_url)
        hours = WINDOW / 3600
        assert await backfill_command(settings, hours, None, 4, end) == 0
        out = capsys.readouterr().out
        assert "the store had no symbols; 20 loaded from exchangeInfo" in out
        assert "40/40 pages, 40 requests (weight 80)" in out
        assert await backfill_command(settings, hours, None, 4, end) == 0
        again = capsys.readouterr().out
        assert "0 rows written" in again and "0/0 pages, 0 requests (weight 0)" in again

        store = open_store(sqlite_url, IntervalScheme())
        await store.open()
        try:
            total = 0
            for symbol in sim.usdt_symbols():
                expected = simulated_closes(sim, symbol, first, end)
                assert await stored_prices(store, symbol, first, end) == expected, symbol
                total += len(expected)
            quiet = sim.usdt_symbols()[-1]
            traded = simulated_closes(sim, quiet, first, end)
            assert len(traded) < WINDOW / 10  # silent seconds: no rows
            points = await store.points_between("BTCUSDT", first * 1000, end * 1000 + 999)
            assert all(p.backfill and p.pct is None for p in points)
        finally:
            await store.close()
        assert f"{total} rows written" in out


async def test_live_points_win_and_nothing_is_counted_twice(sqlite_store: Store) -> None:
    async with (
        ExchangeSimulator(symbols=5, seed=4, prehistory_seconds=900) as sim,
        aiohttp.ClientSession() as session,
    ):
        end = int(time.time()) - 60
        first = end - 599
        live = [
            PricePoint("BTCUSDT", second * 1000 + 7, 1.5, 0.25) for second in range(first, first + 50)
        ]
        await sqlite_store.write_points(live)  # what a running feed stored meanwhile
        importer = HistoryImporter(sqlite_store, RestGate(), session, sim.rest_url)
        await importer.run(await importer.plan(["BTCUSDT"], first, end))
        assert importer.report.rows_kept == 50
        assert importer.report.rows_written == 550
        stored = await sqlite_store.points_between("BTCUSDT", first * 1000, end * 1000 + 999)
        assert len(stored) == 600 and stored[:50] == live  # live points untouched


async def test_interrupted_import_continues_where_it_stopped(sqlite_store: Store) -> None:
    async with (
        ExchangeSimulator(symbols=10, seed=4, prehistory_seconds=3 * 1000 + 120) as sim,
        aiohttp.ClientSession() as session,
    ):
        end = int(time.time()) - 60
        first = end - 3 * 1000 + 1
        names = sim.usdt_symbols()
        importer = HistoryImporter(sqlite_store, RestGate(), session, sim.rest_url, workers=1)
        todo = await importer.plan(names, first, end)
        assert len(todo) == 30
        done = 0

        def stop_after_seven(rows: int) -> None:
            nonlocal done
            done += 1
            if done == 7:
                raise asyncio.CancelledError  # as Ctrl-C cancels the command

        importer.on_page = stop_after_seven
        with pytest.raises(asyncio.CancelledError):
            await importer.run(todo)
        resumed = HistoryImporter(sqlite_store, RestGate(), session, sim.rest_url)
        rest = await resumed.plan(names, first, end)
        assert len(rest) == 23 and not set(rest) & set(todo[:7])
        await resumed.run(rest)
        assert resumed.report.pages_done == 23 and resumed.report.rows_kept == 0
        for symbol in names:
            expected = simulated_closes(sim, symbol, first, end)
            assert await stored_prices(sqlite_store, symbol, first, end) == expected, symbol


async def test_backfill_command_killed_mid_way_then_rerun_completes(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    async with ExchangeSimulator(
        symbols=10, seed=4, prehistory_seconds=2 * 3600, weight_limit=30
    ) as sim:
        end = int(time.time()) - 60
        env = {
            **os.environ,
            "BINANCE_REST_URL": sim.rest_url,
            "DATABASE_URL": f"sqlite:///{db}",
            "LOG_LEVEL": "warning",
        }
        command = [sys.executable, "-m", "actors", "backfill", "--hours", "2", "--end", str(end)]
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting a process does not block the loop
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:

            async def some_pages_recorded() -> bool:
                assert proc.poll() is None, proc.communicate()
                if not db.exists():
                    return False
                with sqlite3.connect(db) as conn:
                    try:
                        return bool(conn.execute("SELECT count(*) FROM imported").fetchone()[0])
                    except sqlite3.OperationalError:
                        return False

            # 30 weight a minute: ~15 pages, then a 429 holds the rest until the next minute
            await eventually(some_pages_recorded, timeout=30, what="pages recorded")
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.to_thread(proc.communicate, timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 130, err.decode()
        assert b"interrupted; run the same command again to continue" in out
        assert b"Traceback" not in err
        with sqlite3.connect(db) as conn:
            recorded = conn.execute("SELECT count(*) FROM imported").fetchone()[0]
        assert 0 < recorded < 80

        sim.budget.limit = 100_000  # the next minute's budget, without waiting for it
        rerun = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        out, err = await asyncio.wait_for(rerun.communicate(), 60)
        assert rerun.returncode == 0, err.decode()
        assert f"{80 - recorded}/{80 - recorded} pages".encode() in out, out
        store = open_store(f"sqlite:///{db}", IntervalScheme())
        await store.open()
        try:
            first = end - 2 * 3600 + 1
            for symbol in sim.usdt_symbols():
                expected = simulated_closes(sim, symbol, first, end)
                assert await stored_prices(store, symbol, first, end) == expected, symbol
        finally:
            await store.close()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--hours", "0"], "expected hours"),
        (["--hours", "x"], "not a number of hours"),
        (["--hours", "1", "--symbols", "BTC-USDT"], "not a symbol"),
        (["--symbols", "BTCUSDT"], "--hours"),
    ],
)
def test_bad_options_exit_2_naming_them(args: list[str], words: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "actors", "backfill", *args],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"},
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2 and words.encode() in done.stderr
    assert not (tmp_path / "x.db").exists()
