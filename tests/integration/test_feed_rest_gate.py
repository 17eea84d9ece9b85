"""RestGate against a real aiohttp server: Retry-After holds every caller, errors are classified."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from actors.feed.backfill import Backfiller
from actors.feed.rest_gate import Priority, RestError, RestGate
from tests.helpers import eventually

Serve = Callable[[web.Application], Awaitable[str]]


class Script:
    """Answers the scripted statuses in order (then 200), recording when each request came."""

    def __init__(self, *answers: tuple[int, dict[str, str]]) -> None:
        self.answers = list(answers)
        self.times: list[float] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.times.append(time.monotonic())
        status, headers = self.answers.pop(0) if self.answers else (200, {})
        body = (
            b'{"ok":true}'
            if status == 200
            else b'{"code":-1003,"msg":"Too much request weight used"}'
        )
        return web.Response(
            status=status, body=body, headers=headers, content_type="application/json"
        )


async def serve_script(serve: Serve, script: Script) -> str:
    app = web.Application()
    app.router.add_get("/api/v3/klines", script.handle)
    return await serve(app) + "/api/v3/klines"


@pytest.mark.parametrize("status", [429, 418])
async def test_retry_after_holds_every_caller(serve_app: Serve, status: int) -> None:
    script = Script((status, {"Retry-After": "1"}))
    url = await serve_script(serve_app, script)
    gate = RestGate(max_concurrent=1)
    async with aiohttp.ClientSession() as session:
        first, second = await asyncio.gather(gate.get(session, url), gate.get(session, url))
    assert first == second == b'{"ok":true}'
    assert gate.rejections == 1
    rejected_at, *later = script.times
    assert len(later) == 2
    assert all(t - rejected_at >= 0.95 for t in later)  # nobody asked again before Retry-After


async def test_server_errors_are_retried_and_client_errors_raise(serve_app: Serve) -> None:
    script = Script((503, {}), (400, {}))
    url = await serve_script(serve_app, script)
    gate = RestGate()
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RestError, match="answered 400"):
            await gate.get(session, url)  # 503 → retried after 1 s → 400 is final
        assert await gate.get(session, url) == b'{"ok":true}'
    assert len(script.times) == 3
    assert script.times[1] - script.times[0] >= 0.95


async def test_gives_up_after_max_attempts(serve_app: Serve) -> None:
    script = Script(*[(429, {"Retry-After": "0"})] * 3)
    url = await serve_script(serve_app, script)
    gate = RestGate(max_attempts=3)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(RestError, match="gave up after 3 attempts"):
            await gate.get(session, url)
    assert len(script.times) == 3


def wall_near_minute_end(seconds_left: float) -> Callable[[], float]:
    """A wall clock running at real speed, `seconds_left` before a minute boundary now."""
    now = time.time()
    offset = 60.0 - seconds_left - now % 60.0
    return lambda: time.time() + offset


async def test_used_weight_past_half_the_minute_waits_for_the_next_minute(
    serve_app: Serve,
) -> None:
    script = Script((200, {"X-MBX-USED-WEIGHT-1M": "2999"}))
    url = await serve_script(serve_app, script)
    gate = RestGate(weight_limit=6000, wall_clock=wall_near_minute_end(0.6))
    async with aiohttp.ClientSession() as session:
        await gate.get(session, url, weight=2)
        assert gate.used_weight == 2999
        await gate.get(session, url, weight=2)  # 3,001 > 3,000: the next minute
    assert script.times[1] - script.times[0] >= 0.4
    assert gate.spent == 2


@pytest.mark.parametrize("status", [418])
async def test_a_ban_is_visible_until_retry_after_has_passed(serve_app: Serve, status: int) -> None:
    script = Script((status, {"Retry-After": "1"}))
    url = await serve_script(serve_app, script)
    gate = RestGate()
    async with aiohttp.ClientSession() as session:
        call = asyncio.ensure_future(gate.get(session, url))
        await eventually(lambda: _true(gate.banned), timeout=5.0)
        assert gate.bans == 1 and len(script.times) == 1
        await call
    assert not gate.banned and script.times[1] - script.times[0] >= 0.95


async def _true(value: bool) -> bool:
    return value


async def test_waiting_requests_go_by_priority_live_first(serve_app: Serve) -> None:
    order: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        order.append(request.query["who"])
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/x", handle)
    url = await serve_app(app) + "/x"
    gate = RestGate(max_concurrent=1)
    gate.block_for(0.3)  # everyone queues behind a Retry-After
    async with aiohttp.ClientSession() as session:
        calls = [
            gate.get(session, url, {"who": "history"}, priority=Priority.HISTORY),
            gate.get(session, url, {"who": "listing"}, priority=Priority.LISTING),
            gate.get(session, url, {"who": "live"}, priority=Priority.LIVE),
        ]
        await asyncio.gather(*calls)
    assert order == ["live", "listing", "history"]


async def test_a_backfill_cut_short_waits_again_for_the_next_worker(serve_app: Serve) -> None:
    asked = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        asked.set()
        await asyncio.sleep(30)
        return web.json_response([])

    app = web.Application()
    app.router.add_get("/api/v3/klines", hang)
    url = await serve_app(app)
    filler = Backfiller(url, RestGate(), lambda points: None, label="t")
    filler.plan(["AUSDT"], 100, 109)
    async with aiohttp.ClientSession() as session:
        worker = asyncio.ensure_future(filler.run(session))
        await asyncio.wait_for(asked.wait(), 5)
        assert filler.pending == {} and filler.in_flight == 1
        worker.cancel()  # a stop or a restart in the middle of the request
        await asyncio.gather(worker, return_exceptions=True)
    assert filler.pending == {"AUSDT": [(100, 109)]} and filler.queue.qsize() == 1


async def test_a_second_whose_kline_the_exchange_has_not_published_yet_is_asked_again(
    serve_app: Serve,
) -> None:
    """A lagging exchange publishes a 1 s bar LAG seconds after the second ends; the backfill of
    a window that just closed must wait for it instead of storing the window short."""
    lag = 1.2
    asked: list[float] = []

    async def lagging_klines(request: web.Request) -> web.Response:
        asked.append(time.time())
        first = int(request.query["startTime"]) // 1000
        last = int(request.query["endTime"]) // 1000
        published = int(time.time() - lag) - 1  # the newest second whose bar exists
        rows = [
            [s * 1000, "1.0", "1.0", "1.0", "1.0", "1", s * 1000 + 999, "1", 1, "0", "0", "0"]
            for s in range(first, min(last, published) + 1)
        ]
        return web.json_response(rows)

    app = web.Application()
    app.router.add_get("/api/v3/klines", lagging_klines)
    url = await serve_app(app)
    stored: list[int] = []
    filler = Backfiller(url, RestGate(), lambda points: stored.extend(p.ts for p in points), label="t")
    now = int(time.time())
    filler.plan(["AUSDT"], now - 4, now)  # a connection replaced just now
    async with aiohttp.ClientSession() as session:
        worker = asyncio.ensure_future(filler.run(session))
        try:
            await eventually(lambda: _true(filler.idle and bool(asked)), timeout=15.0)
        finally:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
    assert sorted({ts // 1000 for ts in stored}) == list(range(now - 4, now + 1))
    assert len(asked) >= 2  # the first answer stopped short and was asked again
