"""Simulator protocol tests over real sockets: stream frame shapes and types, ground truth."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import pytest

from actors.simulator.exchange import ExchangeSimulator
from tests.integration.simulator_support import connect

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
    async with ExchangeSimulator(symbols=20, seed=7, rate=20.0, activity="uniform") as simulator:
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


async def test_mini_ticker_array_once_a_second_with_changed_symbols_of_every_quote() -> None:
    async with ExchangeSimulator(symbols=6, seed=3, rate=1.0, activity="uniform") as sim:
        async with connect(f"{sim.ws_url}/stream?streams=!miniTicker@arr") as client:
            first, second = await client.data(2, timeout=5)
        assert first["stream"] == "!miniTicker@arr" and isinstance(first["data"], list)
        for entry in first["data"] + second["data"]:
            assert_shape(entry, MINI_TICKER)
        names = {entry["s"] for entry in second["data"]}
        assert set(sim.usdt_symbols()) <= names and "ETHBTC" in names  # all quote assets
        assert not names & {"LUNAUSDT", "SRMUSDT"}  # halted pairs never change
        assert len(names) == len(second["data"])
        assert second["data"][0]["E"] // 1000 > first["data"][0]["E"] // 1000


async def test_trade_ids_increase_and_ticker_fields_are_consistent(sim: ExchangeSimulator) -> None:
    trades = await frames_of(f"{sim.ws_url}/ws/btcusdt@trade", 5)
    ids = [trade["t"] for trade in trades]
    assert ids == list(range(ids[0], ids[0] + 5))
    aggs = await frames_of(f"{sim.ws_url}/ws/btcusdt@aggTrade", 2)
    assert all(agg["a"] == agg["f"] == agg["l"] for agg in aggs)
    for ticker in await frames_of(f"{sim.ws_url}/ws/btcusdt@ticker", 3):
        assert ticker["n"] == ticker["L"] - ticker["F"] + 1 and ticker["C"] == ticker["E"]
        assert abs(float(ticker["c"]) - float(ticker["o"]) - float(ticker["p"])) < 1e-6
        assert float(ticker["b"]) < float(ticker["c"]) < float(ticker["a"])
        assert float(ticker["l"]) <= float(ticker["c"]) <= float(ticker["h"])


async def test_kline_stream_closes_each_bar_with_x_true_then_opens_the_next() -> None:
    async with ExchangeSimulator(symbols=3, seed=3, rate=2.0) as sim:
        frames = await frames_of(f"{sim.ws_url}/ws/btcusdt@kline_1s", 6, timeout=6)
        closed = [frame["k"] for frame in frames if frame["k"]["x"]]
        assert closed, "no closing update within 6 frames"
        for bar in closed:
            assert sim.close_price("BTCUSDT", bar["t"] // 1000) == float(bar["c"])
            assert (
                bar["n"] == bar["L"] - bar["f"] + 1 in (1, 2)
            )  # rate 2 (the first may be partial)
        zoned = (await frames_of(f"{sim.ws_url}/ws/btcusdt@kline_1d@+08:00", 1))[0]["k"]
        assert zoned["i"] == "1d" and (zoned["t"] // 1000 + 8 * 3600) % 86400 == 0


async def test_requests_over_4_kb_are_ignored_silently(sim: ExchangeSimulator) -> None:
    async with connect(f"{sim.ws_url}/ws") as client:
        names = [f"s{i:05d}usdt@trade" for i in range(300)]
        await client.send({"method": "SUBSCRIBE", "params": names, "id": 1})
        await client.send({"method": "LIST_SUBSCRIPTIONS", "id": 2})
        assert await client.next_json() == {"result": [], "id": 2}


async def test_rate_can_change_at_runtime() -> None:
    async with ExchangeSimulator(symbols=3, seed=3, rate=1.0) as sim:
        sim.rate = 50.0
        assert sim.rate == 50.0
        started = time.monotonic()
        frames = await frames_of(f"{sim.ws_url}/ws/btcusdt@trade", 50, timeout=5)
        assert time.monotonic() - started < 2.5  # about 1 s at 50 a second, 50 s at the old rate
        assert [frame["t"] for frame in frames] == list(range(frames[0]["t"], frames[0]["t"] + 50))
        with pytest.raises(ValueError):
            sim.rate = 0.0


async def test_frames_sent_counts_exactly_what_a_client_received() -> None:
    async with ExchangeSimulator(symbols=5, seed=3, rate=100.0, ping_interval=0.5) as sim:
        received = 0
        async with connect(
            f"{sim.ws_url}/stream?streams=btcusdt@trade/ethusdt@miniTicker"
        ) as client:
            await client.data(50)
            received += 50
            sim.stall_data = True
            while True:
                try:
                    await client.next_json(timeout=0.5)
                except TimeoutError:
                    break
                received += 1
            assert sim.frames_sent == received


async def test_microsecond_time_unit_on_streams(sim: ExchangeSimulator) -> None:
    url = f"{sim.ws_url}/stream?streams=btcusdt@kline_1m/ethusdt@trade&timeUnit=MICROSECOND"
    frames = await frames_of(url, 4)
    for frame in frames:
        data = frame["data"]
        assert len(str(data["E"])) == 16
        if data["e"] == "kline":
            assert (
                len(str(data["k"]["t"])) == 16 and data["k"]["T"] == data["k"]["t"] + 60_000_000 - 1
            )
        else:
            assert data["T"] == data["E"] and data["t"] < 10**12  # the trade id is left alone
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await session.ws_connect(f"{sim.ws_url}/ws/btcusdt@trade?timeUnit=NANOSECOND")
