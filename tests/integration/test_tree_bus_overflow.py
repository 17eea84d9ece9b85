"""Tree mode under the real supervisord: the db-writer program stopped while the Redis stream
overflows BUS_MAX_MB. The loss is counted by the feed, logged with its range, shown by the
front's /readyz, backfilled once the db-writer is started again, and the store ends whole
(every second equal to the simulator's own 1 s kline close)."""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from actors.bus.redis_loss import RedisLossBook
from actors.store import IntervalScheme, Store, open_store
from tests.helpers import eventually
from tests.integration.tree_support import Tree, running_tree, tree_symbols

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


async def closes(
    http: aiohttp.ClientSession, tree: Tree, symbol: str, first: int, last: int
) -> dict[int, float]:
    """The simulator's 1 s kline closes of `symbol` over seconds [first, last]."""
    params = {
        "symbol": symbol,
        "interval": "1s",
        "startTime": first * 1000,
        "endTime": last * 1000,
        "limit": 1000,
    }
    async with http.get(f"{tree.simulator.rest_url}/api/v3/klines", params=params) as response:
        rows: list[list[Any]] = await response.json()
    return {int(row[0]) // 1000: float(row[4]) for row in rows}


async def differences(
    http: aiohttp.ClientSession, tree: Tree, store: Store, symbols: list[str], first: int, last: int
) -> dict[str, str]:
    """Per symbol, the seconds missing, wrong or extra against the simulator (empty: whole)."""
    found: dict[str, str] = {}
    for symbol in symbols:
        points = await store.points_between(symbol, first * 1000, last * 1000 + 999)
        stored = {p.second: p.price for p in points}
        truth = await closes(http, tree, symbol, first, last)
        missing = sorted(set(truth) - set(stored))
        wrong = sorted(s for s in stored if s in truth and stored[s] != truth[s])
        extra = sorted(set(stored) - set(truth))
        if missing or wrong or extra or len(stored) != len(points):
            found[symbol] = f"missing {missing} wrong {wrong} extra {extra}"
    return found


async def test_a_stopped_db_writer_past_the_bound_ends_with_a_whole_store(
    tmp_path: Path, redis_url: str
) -> None:
    env = {"BUS_MAX_MB": "0.004", "DB_FLUSH_SECONDS": "0.5"}
    with running_tree(tmp_path, redis_url, shards=1, symbols=6, extra_env=env) as tree:
        tree.wait_running(60)
        symbols = await tree_symbols(tree)
        store = open_store(f"sqlite:///{tree.db_path}", IntervalScheme())
        await store.open()
        client = aioredis.Redis.from_url(redis_url)
        book = RedisLossBook(client, tree.prefix)
        try:
            async with aiohttp.ClientSession() as http:

                async def newest() -> int | None:
                    points = [await store.latest_point(symbol) for symbol in symbols]
                    seconds = [p.second for p in points if p is not None]
                    return max(seconds) if len(seconds) == len(symbols) else None

                first = await eventually(newest, timeout=60, what="every symbol stored") + 1

                async def stored_since_first() -> bool:
                    points = [await store.latest_point(symbol) for symbol in symbols]
                    return all(p is not None and p.second >= first for p in points)

                await eventually(stored_since_first, timeout=20, what="every symbol live")
                assert "stopped" in tree.ctl("stop", "db-writer")

                async def lost_some_seconds() -> Any:
                    view = (await book.views()).get("db-writer")
                    return view if view is not None and view.last - view.first >= 5_000 else None

                await eventually(lost_some_seconds, timeout=60, what="the stream to drop 5 s")
                async with http.get(f"{tree.front_url}/readyz") as response:
                    ready = await response.json()
                assert ready["busLosses"]["db-writer"]["awaitingBackfill"] > 0, ready

                assert "started" in tree.ctl("start", "db-writer")
                back = int(time.time())

                async def handed_over() -> Any:
                    view = (await book.views()).get("db-writer")
                    return view if view is not None and view.awaiting_backfill == 0 else None

                view = await eventually(handed_over, timeout=60, what="the loss handed over")
                last = back + 2

                async def whole() -> bool:
                    return not await differences(http, tree, store, symbols, first, last)

                with contextlib.suppress(AssertionError):
                    await eventually(whole, timeout=60, interval=0.5, what="a whole store")
                diff = await differences(http, tree, store, symbols, first, last)
                assert not diff, f"{diff} (first {first}, back {back})\n{tree.logs(40)}"
                port = tree.metrics_ports()["feed_00"]
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    metrics_text = await response.text()
        finally:
            await client.aclose()
            await store.close()
        feed_log = (tree.root / "logs" / "feed-00.log").read_text()
        writer_log = (tree.root / "logs" / "db-writer.log").read_text()

    counted = re.search(r'bs_bus_dropped_points_total\{reader="db-writer"\} (\S+)', metrics_text)
    assert counted is not None and float(counted.group(1)) > 0 and view.points > 0
    assert re.search(
        r"redis bus group db-writer lost \d+ points of \d+ symbols, \S+ \.\. \S+ UTC", feed_log
    ), feed_log[-3000:]
    assert re.search(r"asked the feed to backfill \d+ points of 6 symbols", writer_log)
    assert "backfilling 6 symbols a bus group lost" in feed_log
