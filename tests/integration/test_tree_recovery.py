"""Connection state recovery across fronts in tree mode: the official client (Node) on one
front, its transport cut for 10 s, back on another front: recovered, with every price_update
it missed (checked against the store), in both dialects; with a short window on the other
front, a fresh session and no error. Sessions wait in Redis, offsets are the bus stream's ids."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from actors.front.sio.recovery import parse_offset
from actors.store import IntervalScheme, open_store
from tests.helpers import eventually
from tests.integration.test_hub_js import by_event, js_dir, run_node
from tests.integration.tree_support import Tree, extra_front, shared_tree, tree_symbols

__all__ = ["js_dir", "shared_tree"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


@pytest.fixture
def other_front(shared_tree: Tree) -> Iterator[str]:
    with extra_front(shared_tree, "front-recovery") as url:
        yield url


async def stored_seconds(tree: Tree, symbol: str, first: int, last: int) -> list[int]:
    """The seconds the store holds for `symbol` from `first` to `last` (waits for the writer)."""
    store = open_store(f"sqlite:///{tree.db_path}", IntervalScheme())
    await store.open()

    async def read() -> list[int]:
        points = await store.points_between(symbol, first * 1000, last * 1000 + 999)
        seconds = [p.ts // 1000 for p in points]
        return seconds if seconds and seconds[-1] >= last else []

    try:
        return await eventually(read, timeout=30, what=f"{symbol} stored up to {last}")
    finally:
        await store.close()


async def wait_ready(url: str) -> None:
    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{url}/readyz") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(ready, timeout=60, interval=0.3, what=f"{url}/readyz")


async def cut_and_return(
    js_dir: Path, tree: Tree, to: str, dialect: str, symbols: list[str], cut_ms: int
) -> dict[str, list[Any]]:
    await wait_ready(tree.front_url)
    await wait_ready(to)
    reports, _ = await run_node(
        js_dir,
        "recovery.mjs",
        {
            "BS_URL": tree.front_url,
            "BS_URL2": to,
            "BS_DIALECT": dialect,
            "BS_SYMBOLS": json.dumps(symbols),
            "BS_BEFORE": "3",
            "BS_CUT_MS": str(cut_ms),
            "BS_AFTER_MS": "3000",
        },
        timeout=cut_ms / 1000 + 60,
    )
    return by_event(reports)


def seconds_of(updates: list[dict[str, Any]], symbol: str) -> list[int]:
    found = []
    for update in updates:
        data = update["data"]
        for item in data["updates"] if "updates" in data else [data]:
            if item["symbol"] == symbol:
                found.append(item["timestamp"] // 1000)
    return found


@pytest.mark.parametrize("dialect", ["documented", "list"])
async def test_recovered_on_another_front_after_a_10_s_cut(
    js_dir: Path, shared_tree: Tree, other_front: str, dialect: str
) -> None:
    symbols = (await tree_symbols(shared_tree))[:2]
    seen = await cut_and_return(js_dir, shared_tree, other_front, dialect, symbols, 10_000)
    assert "error" not in seen and "timeout" not in seen, shared_tree.logs()
    assert [c["recovered"] for c in seen["connect"]] == [False, True]
    updates = seen["price_update"]
    offsets = [parse_offset(u["offset"]) for u in updates]
    assert offsets == sorted(offsets)
    for symbol in symbols:
        seconds = seconds_of(updates, symbol)
        assert seconds == sorted(seconds), symbol
        stored = await stored_seconds(shared_tree, symbol, seconds[0], seconds[-1])
        if dialect == "documented":  # every point the bus carried, once, in order
            assert seconds == stored, symbol
        else:
            # the list form is a snapshot per second: each one it sent is a stored point, and
            # the cut left no gap longer than its own cadence (a lost 10 s would)
            assert set(seconds) <= set(stored), symbol
            distinct = sorted(set(seconds))
            assert max(b - a for a, b in itertools.pairwise(distinct)) <= 2, symbol
    after = [u for u in updates if u["phase"] == "after"]
    assert len(after) >= 8 * (len(symbols) if dialect == "documented" else 1)


async def test_past_the_window_a_fresh_session_on_another_front(
    js_dir: Path, shared_tree: Tree
) -> None:
    symbols = (await tree_symbols(shared_tree))[:2]
    with extra_front(shared_tree, "front-short", SIO_RECOVERY_SECONDS="2") as short:
        seen = await cut_and_return(js_dir, shared_tree, short, "documented", symbols, 5_000)
    assert "error" not in seen and "connect_error" not in seen and "timeout" not in seen
    assert [c["recovered"] for c in seen["connect"]] == [False, False]
    assert len(seen["subscription_confirmed"]) == 2 * len(symbols)  # subscribed again
    assert [u for u in seen["price_update"] if u["phase"] == "after"]
