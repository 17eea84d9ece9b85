"""RedisSessions against the real Redis: a session is taken once, by whichever front asks
first, and is gone after its window."""

from __future__ import annotations

import asyncio

import pytest

from actors.front.sio.sessions import RedisSessions, SessionState
from tests.conftest import RedisHandle

pytestmark = pytest.mark.timeout(30)


async def test_a_session_is_taken_once_and_expires(redis: RedisHandle) -> None:
    front_a = RedisSessions(redis.client, redis.prefix)
    front_b = RedisSessions(redis.client, redis.prefix)
    state = SessionState(rooms=["BTCUSDT"], lists=["ETHUSDT"], start="1700000000000-0:3")
    await front_a.save("pid-1", state, 60)
    await front_a.save("pid-2", state, 0.05)
    assert await front_b.take("pid-1") == state
    assert await front_a.take("pid-1") is None
    await asyncio.sleep(0.2)
    assert await front_b.take("pid-2") is None


async def test_an_unreadable_session_is_none(redis: RedisHandle) -> None:
    sessions = RedisSessions(redis.client, redis.prefix)
    await redis.client.set(sessions.prefix + "bad", b"\xc1 not msgpack")
    assert await sessions.take("bad") is None
