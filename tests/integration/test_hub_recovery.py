"""Connection state recovery with the official client (socket.io-client 4 under Node) against
the hub on the front's whole app: the transport cut for 10 s, then back within the window
(recovered, every missed price_update in order, no hole, no duplicate) or past it (a fresh
session, no error), in both dialects. python-socketio's client, which does not opt in, never
gets an offset (its one-argument handlers keep working)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp import web

from actors.front.sio.recovery import parse_offset
from actors.store import Store
from tests.helpers import make_settings
from tests.integration.hub_support import SYMBOLS, HubEnv, now_ms, point, start_hub, stop_hub
from tests.integration.test_hub_js import by_event, js_dir, run_node

__all__ = ["js_dir"]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

WATCHED = list(SYMBOLS[:2])


class Seconds:
    """Publishes one point per symbol per `period` wall seconds, each a new exchange second,
    and remembers them (symbol, second) -> price."""

    def __init__(self, env: HubEnv, period: float) -> None:
        self.env = env
        self.period = period
        self.streamed: dict[tuple[str, int], float] = {}

    async def run(self) -> None:
        base = (now_ms() // 1000) * 1000
        for step in range(600):  # bounded: at most 600 periods
            ts = base + step * 1000
            points = [point(s, ts, 100.0 * (i + 1) + step / 8) for i, s in enumerate(SYMBOLS)]
            for p in points:
                self.streamed[(p.symbol, p.ts // 1000)] = p.price
            await self.env.publish(*points)
            await asyncio.sleep(self.period)


@contextlib.asynccontextmanager
async def streaming(env: HubEnv, period: float) -> AsyncIterator[Seconds]:
    stream = Seconds(env, period)
    task = asyncio.create_task(stream.run())
    try:
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def hub_with_window(
    store: Store, serve_app: Callable[[web.Application], Awaitable[str]], window: str
) -> HubEnv:
    settings = make_settings(SIO_RECOVERY_SECONDS=window)
    return await start_hub(store, serve_app, full_app=True, settings=settings, list_period=0.2)


def seconds_by_symbol(updates: list[dict[str, Any]], dialect: str) -> dict[str, list[int]]:
    """Per symbol, the exchange seconds of the price_updates in the order received."""
    found: dict[str, list[int]] = {s: [] for s in WATCHED}
    for update in updates:
        data = update["data"]
        items = data["updates"] if dialect == "list" else [data]
        for item in items:
            found[item["symbol"]].append(item["timestamp"] // 1000)
    return found


async def run_recovery(
    js_dir: Path, env: HubEnv, dialect: str, cut_ms: int, period: float
) -> tuple[dict[str, list[Any]], Seconds]:
    async with streaming(env, period) as stream:
        reports, _ = await run_node(
            js_dir,
            "recovery.mjs",
            {
                "BS_URL": env.url,
                "BS_DIALECT": dialect,
                "BS_SYMBOLS": json.dumps(WATCHED),
                "BS_BEFORE": "4",
                "BS_CUT_MS": str(cut_ms),
                "BS_AFTER_MS": "2500",
            },
            timeout=cut_ms / 1000 + 60,
        )
    return by_event(reports), stream


@pytest.mark.parametrize("dialect", ["documented", "list"])
async def test_recovered_after_a_10_s_cut(
    js_dir: Path,
    sqlite_store: Store,
    serve_app: Callable[[web.Application], Awaitable[str]],
    dialect: str,
) -> None:
    env = await hub_with_window(sqlite_store, serve_app, "120")
    try:
        # documented: every point is sent, so seconds run 5x faster than the wall clock; list:
        # one update per 0.2 s shows each second (a new one per 0.6 s) at least once
        period = 0.2 if dialect == "documented" else 0.6
        seen, stream = await run_recovery(js_dir, env, dialect, 10_000, period)
    finally:
        await stop_hub(env)
    assert "error" not in seen and "timeout" not in seen
    assert [c["recovered"] for c in seen["connect"]] == [False, True]
    updates = seen["price_update"]
    offsets = [parse_offset(u["offset"]) for u in updates]
    assert offsets == sorted(offsets), "offsets go back"
    replayed = [u for u in updates if u["phase"] == "after"]
    missed = 10 / period
    assert len(replayed) >= missed * 0.8, f"{len(replayed)} updates after the cut"
    for symbol, seconds in seconds_by_symbol(updates, dialect).items():
        assert seconds, symbol
        if dialect == "documented":  # each second exactly once, in order
            assert seconds == list(range(seconds[0], seconds[0] + len(seconds))), symbol
        else:  # the list form repeats the latest: never back in time, and no second missing
            assert seconds == sorted(seconds), symbol
            assert set(seconds) == set(range(seconds[0], seconds[-1] + 1)), symbol
        for second in seconds:
            assert (symbol, second) in stream.streamed
    if dialect == "documented":  # recovered, not subscribed again
        assert len(seen["subscription_confirmed"]) == len(WATCHED)
    else:
        assert len(seen["subscribed"]) == 1


@pytest.mark.parametrize("dialect", ["documented", "list"])
async def test_past_the_window_a_fresh_session_without_error(
    js_dir: Path,
    sqlite_store: Store,
    serve_app: Callable[[web.Application], Awaitable[str]],
    dialect: str,
) -> None:
    env = await hub_with_window(sqlite_store, serve_app, "2")
    try:
        seen, _ = await run_recovery(js_dir, env, dialect, 5_000, 0.5)
    finally:
        await stop_hub(env)
    assert "error" not in seen and "connect_error" not in seen and "timeout" not in seen
    assert [c["recovered"] for c in seen["connect"]] == [False, False]
    after = [u for u in seen["price_update"] if u["phase"] == "after"]
    assert after, "no price_update in the fresh session"
    # the fresh session subscribed again (as an application does) and got live updates only
    if dialect == "documented":
        assert len(seen["subscription_confirmed"]) == 2 * len(WATCHED)
    else:
        assert len(seen["subscribed"]) == 2
    before = [u for u in seen["price_update"] if u["phase"] == "before"]
    last_before = max(
        item["timestamp"]
        for u in before
        for item in (u["data"]["updates"] if dialect == "list" else [u["data"]])
    )
    first_after = min(
        item["timestamp"]
        for u in after
        for item in (u["data"]["updates"] if dialect == "list" else [u["data"]])
    )
    assert first_after - last_before >= 4000, "a fresh session got a replay"


async def test_clients_that_do_not_opt_in_never_get_an_offset(
    sqlite_store: Store, serve_app: Callable[[web.Application], Awaitable[str]]
) -> None:
    env = await hub_with_window(sqlite_store, serve_app, "120")
    plain = socketio.AsyncClient(reconnection=False)
    opted = socketio.AsyncClient(reconnection=False)
    got_plain: list[Any] = []
    got_opted: list[tuple[Any, Any]] = []

    async def on_plain(data: Any) -> None:  # one argument, as python-socketio apps write it
        got_plain.append(data)

    async def on_opted(data: Any, offset: Any = None) -> None:
        got_opted.append((data, offset))

    plain.on("price_update", on_plain)
    opted.on("price_update", on_opted)
    try:
        await plain.connect(env.url, transports=["websocket"], wait_timeout=5)
        await opted.connect(
            env.url, transports=["websocket"], wait_timeout=5, auth={"recover": True}
        )
        for client in (plain, opted):
            await client.call("subscribe", {"symbol": "BTCUSDT"}, timeout=5)
        async with streaming(env, 0.1):
            for _ in range(100):  # bounded: 10 s
                if len(got_plain) >= 3 and len(got_opted) >= 3:
                    break
                await asyncio.sleep(0.1)
    finally:
        await plain.disconnect()
        await opted.disconnect()
        await stop_hub(env)
    assert len(got_plain) >= 3 and all(
        set(d) == {"symbol", "price", "timestamp"} for d in got_plain
    )
    assert len(got_opted) >= 3 and all(isinstance(o, str) and parse_offset(o) for _, o in got_opted)
