"""Shard assignment, connection splits and the pure REST/backfill helpers."""

from __future__ import annotations

import random

import pytest

from actors.feed.backfill import Backfiller, kline_points, merge_windows, request_spans
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


def test_retry_after_blocks_and_the_budget_is_half_the_minute() -> None:
    assert retry_after_seconds({"Retry-After": "7"}, 1.0) == 7.0
    assert retry_after_seconds({"Retry-After": "soon"}, 1.0) == 1.0
    assert retry_after_seconds({}, 3.0) == 3.0
    clock, wall = FakeClock(100.0), FakeClock(1_000_000_050.0)  # wall: 30 s into a minute
    gate = RestGate(clock=clock, wall_clock=wall, weight_limit=6000)
    assert gate.budget == 3000
    gate.note_weight({"X-MBX-USED-WEIGHT-1M": "100"})
    assert gate.used_weight == 100 and gate.wait_seconds() == 0.0
    gate.note_weight({"X-MBX-USED-WEIGHT-1M": "2990"})
    ticket = (0, 0)
    gate._waiting.append(ticket)
    assert gate._delay(ticket, 2) == 0.0  # 2,992 fits in 3,000
    assert gate._delay(ticket, 20) == pytest.approx(30.05)  # held until the next minute
    wall.now += 30.0
    assert gate._delay(ticket, 20) == 0.0 and gate.used_weight == 0  # a new minute
    gate.block_for(5.0)
    gate.block_for(1.0)  # a shorter Retry-After never shortens a block
    assert gate.wait_seconds() == pytest.approx(5.0)
    clock.now += 5.0
    assert gate.wait_seconds() == 0.0


def test_a_stale_minutes_used_weight_is_ignored() -> None:
    wall = FakeClock(1_000_000_050.0)
    gate = RestGate(wall_clock=wall)
    sent = gate._minute
    wall.now += 35.0  # the answer arrives in the next minute
    gate.note_weight({"X-MBX-USED-WEIGHT-1M": "2999"}, sent)
    assert gate.used_weight == 0


def test_downtime_windows_merge_per_symbol_into_one_request_per_thousand_seconds() -> None:
    assert merge_windows([(10, 20), (21, 30), (50, 60), (55, 70)]) == [(10, 30), (50, 70)]
    assert request_spans([(10, 20), (500, 600)]) == [(10, 600)]  # one request, both windows
    assert request_spans([(1, 2500)]) == [(1, 1000), (1001, 2000), (2001, 2500)]
    assert request_spans([(1, 10), (995, 1005)]) == [(1, 10), (995, 1005)]
    filler = Backfiller("http://127.0.0.1:1", RestGate(), lambda points: None, label="t")
    filler.plan(["AUSDT", "BUSDT"], 100, 159)  # every connection down for a minute
    filler.plan(["AUSDT"], 200, 209)  # A's connection dropped again before the fetch
    assert filler.queue.qsize() == 2
    assert filler.pending == {"AUSDT": [(100, 159), (200, 209)], "BUSDT": [(100, 159)]}
    assert request_spans(filler.pending["AUSDT"]) == [(100, 209)]
    filler.plan(["CUSDT"], 5, 4)  # empty: ignored
    assert "CUSDT" not in filler.pending


def test_backfill_windows_are_capped_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    filler = Backfiller(
        "http://127.0.0.1:1", RestGate(), lambda points: None, label="t", max_seconds=60
    )
    caplog.set_level("WARNING", logger="actors")
    filler.plan([f"S{index}USDT" for index in range(50)], 1, 1000)  # the last 60 s kept
    assert filler.queue.qsize() == 50
    assert filler.pending["S0USDT"] == [(941, 1000)]
    filler.report()
    filler.report()
    assert len(caplog.records) == 1 and "50 symbols missed more than the 60s" in caplog.text
