"""Simulator frame text and WebSocket framing (pure): payloads decode to the reference types,
server frames follow RFC 6455 length encodings, microsecond rewriting touches only times."""

from __future__ import annotations

import struct

import msgspec
import pytest

from actors.simulator import frames
from actors.simulator.catalogue import build_catalogue
from actors.simulator.hub import to_microseconds
from actors.simulator.market import Market


@pytest.fixture
def market() -> Market:
    market = Market(
        build_catalogue(3, 1), seed=1, rate=1.0, start_ms=1_795_000_000_000, keep_seconds=60
    )
    state = market.by_symbol["BTCUSDT"]
    for step in range(3):
        market.step(state, 1_795_000_000_000 + 1000 * step + 17)
    return market


def test_payloads_are_valid_json_with_string_prices(market: Market) -> None:
    state = market.by_symbol["BTCUSDT"]
    mini = msgspec.json.decode(frames.mini_ticker(state))
    assert mini["s"] == "BTCUSDT" and isinstance(mini["c"], str) and mini["E"] == state.event_ms
    assert float(mini["c"]) == state.price / 100  # BTC ticks are cents
    trade = msgspec.json.decode(frames.trade(state))
    assert trade["t"] == 3 and trade["m"] is (not state.taker_buy) and trade["M"] is True
    ticker = msgspec.json.decode(frames.ticker(state))
    assert ticker["n"] == 3 and ticker["F"] == 1 and ticker["L"] == 3
    bar = state.bars.bar(len(state.bars) - 1)
    kline = msgspec.json.decode(frames.kline(state, bar, "1s", 0, closed=True))["k"]
    assert kline["x"] is True and kline["T"] - kline["t"] == 999 and kline["n"] == 1


@pytest.mark.parametrize(("size", "header"), [(5, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_ws_frame_length_encodings(size: int, header: int) -> None:
    frame = frames.ws_frame(b"x" * size)
    assert len(frame) == size + header and frame[0] == 0x81
    length = frame[1]
    if header == 4:
        assert length == 126 and struct.unpack("!H", frame[2:4])[0] == size
    elif header == 10:
        assert length == 127 and struct.unpack("!Q", frame[2:10])[0] == size
    else:
        assert length == size
    assert frames.ws_frame(b"ab", 0x2)[0] == 0x82


def test_to_microseconds_rewrites_times_only() -> None:
    kline = '{"e":"kline","E":1795000000017,"k":{"t":1795000000000,"T":1795000059999,"f":1234567890123,"L":5}}'
    assert to_microseconds(kline) == (
        '{"e":"kline","E":1795000000017000,"k":{"t":1795000000000000,"T":1795000059999999,'
        '"f":1234567890123,"L":5}}'
    )
    trade = '{"e":"trade","E":1795000000999,"t":42,"p":"1.00","T":1795000000999,"m":true}'
    assert to_microseconds(trade) == (
        '{"e":"trade","E":1795000000999000,"t":42,"p":"1.00","T":1795000000999000,"m":true}'
    )
