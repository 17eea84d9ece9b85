"""`binance-stats seed-symbols` and discovery against the simulator's exchangeInfo."""

from __future__ import annotations

import aiohttp
import pytest

from actors.feed.symbols import discover_symbols, seed_symbols_command
from actors.simulator.exchange import ExchangeSimulator
from actors.store import IntervalScheme, open_store
from tests.helpers import free_port, make_settings


async def test_discovery_keeps_trading_usdt_spot_pairs() -> None:
    async with ExchangeSimulator(symbols=40, seed=3) as sim, aiohttp.ClientSession() as session:
        found = await discover_symbols(session, sim.rest_url)
        assert [s.symbol for s in found] == sorted(sim.usdt_symbols())
        assert all(s.quote_asset == "USDT" and s.is_active for s in found)
        assert all(s.symbol == s.base_asset + "USDT" for s in found)


async def test_seed_symbols_command_upserts_and_is_idempotent(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with ExchangeSimulator(symbols=30, seed=3) as sim:
        settings = make_settings(BINANCE_REST_URL=sim.rest_url, DATABASE_URL=sqlite_url)
        assert await seed_symbols_command(settings) == 0
        assert await seed_symbols_command(settings) == 0
        expected = sorted(sim.usdt_symbols())
    out = capsys.readouterr().out.splitlines()
    prefix = f"seed-symbols: {len(expected)} TRADING USDT spot symbols from {sim.rest_url}"
    assert out == [f"{prefix} ({len(expected)} new or changed)", f"{prefix} (0 new or changed)"]
    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    try:
        records = await store.list_symbols(active_only=True)
    finally:
        await store.close()
    assert [r.symbol for r in records] == expected  # twice seeded, stored once


async def test_unreachable_exchange_is_one_error_line(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings(
        BINANCE_REST_URL=f"http://127.0.0.1:{free_port()}", DATABASE_URL=sqlite_url
    )
    assert await seed_symbols_command(settings) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("seed-symbols: cannot read exchangeInfo from")
    assert "Traceback" not in captured.err
