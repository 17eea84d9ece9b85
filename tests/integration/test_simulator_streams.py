"""Simulator protocol tests over real sockets: stream frame shapes and types, ground truth."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from actors.simulator.exchange import ExchangeSimulator

MINI_TICKER = {
    "e": str,
    "E": int,
    "s": str,
    "c": str,
    "o": str,
    "h": str,
    "l": str,
    "v": str,
    "q": str,
}
TRADE = {"e": str, "E": int, "s": str, "t": int, "p": str, "q": str, "T": int, "m": bool, "M": bool}
AGG_TRADE = {**TRADE, "a": int, "f": int, "l": int}
del AGG_TRADE["t"]
KLINE = {"e": str, "E": int, "s": str, "k": dict}
KLINE_K = {
    "t": int,
    "T": int,
    "s": str,
    "i": str,
    "f": int,
    "L": int,
    "o": str,
    "c": str,
    "h": str,
    "l": str,
    "v": str,
    "n": int,
    "x": bool,
    "q": str,
    "V": str,
    "Q": str,
    "B": str,
}
TICKER = {
    "e": str,
    "E": int,
    "s": str,
    "p": str,
    "P": str,
    "w": str,
    "x": str,
    "c": str,
    "Q": str,
    "b": str,
    "B": str,
    "a": str,
    "A": str,
    "o": str,
    "h": str,
    "l": str,
    "v": str,
    "q": str,
    "O": int,
    "C": int,
    "F": int,
    "L": int,
    "n": int,
}


def assert_shape(obj: dict[str, Any], shape: dict[str, type]) -> None:
    """Exactly these keys, each with this JSON type (bool is not an int here)."""
    assert set(obj) == set(shape), sorted(set(obj) ^ set(shape))
    for key, kind in shape.items():
        value = obj[key]
        assert type(value) is kind, f"{key}={value!r} is not {kind.__name__}"
        if isinstance(value, str) and key not in ("e", "s", "i"):
            float(value)  # numeric strings


@pytest.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(symbols=20, seed=7, rate=4.0) as simulator:
        yield simulator


async def frames_of(url: str, count: int, timeout: float = 5.0) -> list[Any]:
    out: list[Any] = []
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        deadline = time.monotonic() + timeout
        while len(out) < count and time.monotonic() < deadline:
            msg = await ws.receive(timeout=timeout)
            assert msg.type is aiohttp.WSMsgType.TEXT, msg
            out.append(msgspec.json.decode(msg.data))
    assert len(out) == count
    return out


@pytest.mark.parametrize(
    ("stream", "event", "shape"),
    [
        ("btcusdt@miniTicker", "24hrMiniTicker", MINI_TICKER),
        ("ethusdt@trade", "trade", TRADE),
        ("ethusdt@aggTrade", "aggTrade", AGG_TRADE),
        ("btcusdt@ticker", "24hrTicker", TICKER),
        ("btcusdt@kline_1m", "kline", KLINE),
    ],
)
async def test_raw_and_combined_frames_have_the_reference_shape(
    sim: ExchangeSimulator, stream: str, event: str, shape: dict[str, type]
) -> None:
    raw = await frames_of(f"{sim.ws_url}/ws/{stream}", 3)
    combined = await frames_of(f"{sim.ws_url}/stream?streams={stream}", 3)
    for wrapper in combined:
        assert set(wrapper) == {"stream", "data"} and wrapper["stream"] == stream
    for payload in raw + [w["data"] for w in combined]:
        assert_shape(payload, shape)
        assert payload["e"] == event
        assert payload["s"] == stream.split("@")[0].upper()
        if event == "kline":
            assert_shape(payload["k"], KLINE_K)
            assert payload["k"]["T"] == payload["k"]["t"] + 60_000 - 1


async def test_close_price_matches_streamed_mini_ticker_at_rate_1() -> None:
    async with ExchangeSimulator(symbols=5, seed=3, rate=1.0) as sim:
        seen = await frames_of(f"{sim.ws_url}/ws/btcusdt@miniTicker", 3)
        for tick in seen:
            second = tick["E"] // 1000
            assert sim.close_price("BTCUSDT", second) == float(tick["c"])
        seconds = [tick["E"] // 1000 for tick in seen]
        assert seconds == list(range(seconds[0], seconds[0] + 3))  # one step per second
