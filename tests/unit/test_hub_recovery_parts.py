"""Connection recovery's parts that need no server: offsets, the in-memory session store."""

from __future__ import annotations

import asyncio

import pytest

from actors.front.sio.codec import EncodedEvent
from actors.front.sio.recovery import WHOLE, format_position, parse_offset
from actors.front.sio.sessions import MemorySessions, SessionState


def test_offsets_round_trip_and_order_like_the_bus() -> None:
    assert parse_offset("1700000000000-3:7") == (1700000000000, 3, 7)
    assert parse_offset("1700000000000-3") == (1700000000000, 3, WHOLE)
    for text in ("1700000000000-3:7", "1700000000000-3"):
        assert format_position(parse_offset(text)) == text
    ordered = ["9-0:5", "10-0:0", "10-0:1", "10-0", "10-1:0"]
    assert sorted(ordered, key=parse_offset) == ordered


@pytest.mark.parametrize("text", ["", "abc", "10", "10-x", "10-0:", "10-0:x", "-1-0", "10-0:-1"])
def test_offsets_not_ours_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_offset(text)


def test_an_offset_is_the_last_argument_of_the_event() -> None:
    plain = EncodedEvent("price_update", {"symbol": "BTCUSDT"})
    with_offset = EncodedEvent("price_update", {"symbol": "BTCUSDT"}, "10-0:1")
    assert plain.packet == '2["price_update",{"symbol":"BTCUSDT"}]'
    assert with_offset.packet == '2["price_update",{"symbol":"BTCUSDT"},"10-0:1"]'


async def test_memory_sessions_are_taken_once_and_expire() -> None:
    sessions = MemorySessions()
    state = SessionState(rooms=["BTCUSDT"], lists=[], start="10-0")
    await sessions.save("a", state, 60)
    await sessions.save("b", state, 0.05)
    assert await sessions.take("a") == state
    assert await sessions.take("a") is None
    await asyncio.sleep(0.1)
    assert await sessions.take("b") is None
