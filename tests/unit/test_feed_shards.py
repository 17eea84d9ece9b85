"""Shard assignment, connection splits and the pure REST/backfill helpers."""

from __future__ import annotations

import random

import pytest

from actors.feed.backfill import Backfiller, kline_points
from actors.feed.protocol import EXCHANGE_INFO_DECODER, KLINES_DECODER
from actors.feed.reader import base_ws_url
from actors.feed.rest_gate import RestGate, retry_after_seconds
from actors.feed.shards import owned_symbols, shard_of, split, url_streams
from actors.feed.symbols import tracked_symbols
from actors.messages import NewSymbol, PricePoint

SYMBOLS = [f"S{i:03d}USDT" for i in range(400)]


@pytest.mark.parametrize("seed", range(20))
def test_shards_partition_the_symbols(seed: int) -> None:
    rng = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    symbols = [
        "".join(rng.choices(letters, k=rng.randint(2, 8))) + "USDT"
        for _ in range(rng.randint(0, 200))
    ]
    count = rng.randint(1, 16)
    parts = [owned_symbols(symbols, (k, count)) for k in range(count)]
    flat = [s for part in parts for s in part]
    assert sorted(flat) == sorted(set(symbols))
    assert len(flat) == len(set(flat))
    assert all(part == sorted(part) for part in parts)


def test_shares_are_even_and_stable_when_a_symbol_is_listed() -> None:
    before = [owned_symbols(SYMBOLS, (k, 4)) for k in range(4)]
    assert all(80 <= len(part) <= 120 for part in before)
    after = [owned_symbols([*SYMBOLS, "AAAUSDT"], (k, 4)) for k in range(4)]
    moved = [set(b) ^ set(a) for b, a in zip(before, after, strict=True)]
    assert set().union(*moved) == {"AAAUSDT"}  # nobody else changes shard


def test_shard_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        owned_symbols(SYMBOLS, (4, 4))
    with pytest.raises(ValueError):
        shard_of("BTCUSDT", 0)
    assert shard_of("btcusdt", 7) == shard_of("BTCUSDT", 7)


def test_split_at_the_connection_limit() -> None:
    streams = [f"s{i}@miniTicker" for i in range(2500)]
    chunks = split(streams)
    assert [len(c) for c in chunks] == [1024, 1024, 452]
    assert [s for c in chunks for s in c] == streams
    assert split([], 10) == []


def test_url_streams_respects_the_budget() -> None:
    streams = ["btcusdt@miniTicker"] * 10  # 18 chars each, joined by "/"
    assert url_streams(streams, 18) == 1
    assert url_streams(streams, 37) == 2
    assert url_streams(streams, 36) == 1
    assert url_streams(streams, 10_000) == 10
    assert url_streams(streams, 0) == 0


def test_base_ws_url() -> None:
    assert base_ws_url("wss://stream.binance.com:9443") == "wss://stream.binance.com:9443"
    assert base_ws_url("ws://127.0.0.1:1/ws/") == "ws://127.0.0.1:1"
    assert base_ws_url("ws://127.0.0.1:1/stream") == "ws://127.0.0.1:1"


def test_documented_kline_row_becomes_a_backfilled_point() -> None:
    rows = KLINES_DECODER.decode(
        b'[[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",'
        b'1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"]]'
    )
    assert kline_points("LTCBTC", rows, 1499040000, 1499040000) == [
        PricePoint("LTCBTC", 1499040000000, 0.015771, None, True)
    ]
    assert kline_points("LTCBTC", rows, 1499040001, 1499040010) == []


def test_exchange_info_selection() -> None:
    body = (
        b'{"timezone":"UTC","serverTime":1,"rateLimits":[],"exchangeFilters":[],"symbols":['
        b'{"symbol":"BTCUSDT","status":"TRADING","baseAsset":"BTC","baseAssetPrecision":8,"quoteAsset":"USDT",'
        b'"isSpotTradingAllowed":true,"filters":[],"permissions":[],"permissionSets":[["SPOT","MARGIN"]]},'
        b'{"symbol":"ETHBTC","status":"TRADING","baseAsset":"ETH","quoteAsset":"BTC","isSpotTradingAllowed":true},'
        b'{"symbol":"LUNAUSDT","status":"BREAK","baseAsset":"LUNA","quoteAsset":"USDT","isSpotTradingAllowed":true},'
        b'{"symbol":"XUSDT","status":"TRADING","baseAsset":"X","quoteAsset":"USDT","isSpotTradingAllowed":false},'
        b'{"symbol":"ADAUSDT","status":"TRADING","baseAsset":"ADA","quoteAsset":"USDT","isSpotTradingAllowed":true},'
        b'{"symbol":"COUSDT","status":"CANCEL_ONLY","baseAsset":"CO","quoteAsset":"USDT","isSpotTradingAllowed":true}'
        b"]}"
    )
    assert tracked_symbols(EXCHANGE_INFO_DECODER.decode(body)) == [
        NewSymbol("ADAUSDT", "ADA", "USDT", True),
        NewSymbol("BTCUSDT", "BTC", "USDT", True),
    ]


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_retry_after_and_weight_pacing() -> None:
    assert retry_after_seconds({"Retry-After": "7"}, 1.0) == 7.0
    assert retry_after_seconds({"Retry-After": "soon"}, 1.0) == 1.0
    assert retry_after_seconds({}, 3.0) == 3.0
    clock, wall = FakeClock(100.0), FakeClock(1_000_000_050.0)  # wall: 30 s into a minute
    gate = RestGate(clock=clock, wall_clock=wall, weight_limit=6000)
    gate.note_weight({"X-MBX-USED-WEIGHT-1M": "100"})
    assert gate.used_weight == 100 and gate.wait_seconds() == 0.0
    gate.note_weight({"X-MBX-USED-WEIGHT-1M": "5900"})
    assert gate.wait_seconds() == pytest.approx(30.05)  # held until the next minute
    gate.block_for(5.0)  # a shorter Retry-After never shortens a block
    assert gate.wait_seconds() == pytest.approx(30.05)
    clock.now += 31.0
    assert gate.wait_seconds() == 0.0


def test_backfill_gaps_are_capped_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    filler = Backfiller(
        "http://127.0.0.1:1", RestGate(), lambda points: None, label="t", max_seconds=60
    )
    caplog.set_level("WARNING", logger="actors")
    filler.request(("AUSDT", 100, 99))  # empty: ignored
    filler.request(("AUSDT", 100, 109))
    for index in range(50):
        filler.request((f"S{index}USDT", 1, 1000))  # 1000 s missed, the last 60 kept
    assert filler.queue.qsize() == 51
    assert filler.queue.get_nowait() == ("AUSDT", 100, 109)
    assert filler.queue.get_nowait() == ("S0USDT", 941, 1000)
    assert filler.lost == 50 * 940
    filler.report()
    filler.report()
    assert len(caplog.records) == 1 and "50 gaps longer than the 60s backfill cap" in caplog.text
