"""RestGate against a real aiohttp server: Retry-After holds every caller, errors are classified."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from actors.feed.rest_gate import RestError, RestGate

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


async def test_used_weight_near_the_limit_pauses_until_the_next_minute(serve_app: Serve) -> None:
    script = Script((200, {"X-MBX-USED-WEIGHT-1M": "5990"}))
    url = await serve_script(serve_app, script)
    gate = RestGate(weight_limit=6000)
    async with aiohttp.ClientSession() as session:
        await gate.get(session, url)
    assert gate.used_weight == 5990
    assert 0.0 < gate.wait_seconds() <= 60.1
