"""Recorded exchange frames (docs/exchange.md §1.2, §1.5, §2.4, §3) through the real decoder."""

from __future__ import annotations

import pytest

from actors.feed.decoder import Outcome, TickerDecoder
from actors.feed.protocol import FRAME_DECODER, encode_control, stream_name

# docs/exchange.md §1.2: the documented combined frame (miniTicker payload of §2.4).
DOC_FRAME = (
    b'{"stream":"btcusdt@miniTicker","data":{"e":"24hrMiniTicker","E":1672515782136,"s":"BTCUSDT",'
    b'"c":"0.0025","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}}'
)
STREAMS = {"btcusdt@miniTicker": "BTCUSDT", "ethusdt@miniTicker": "ETHUSDT"}


def ticker(
    event_ms: int, close: str = "0.0025", symbol: str = "BTCUSDT", stream: str | None = None
) -> bytes:
    name = stream or stream_name(symbol)
    return (
        f'{{"stream":"{name}","data":{{"e":"24hrMiniTicker","E":{event_ms},"s":"{symbol}",'
        f'"c":"{close}","o":"0.0010","h":"0.0025","l":"0.0010","v":"10000","q":"18"}}}}'
    ).encode()


def test_documented_frame_becomes_a_point() -> None:
    decoder = TickerDecoder()
    assert decoder.feed(DOC_FRAME, STREAMS) is Outcome.POINT
    [point] = decoder.take_points()
    assert (point.symbol, point.ts, point.price, point.backfill) == (
        "BTCUSDT",
        1672515782136,
        0.0025,
        False,
    )
    assert point.pct == pytest.approx((0.0025 - 0.0010) / 0.0010 * 100)
    assert decoder.messages == 1
    assert decoder.last_event_ms == 1672515782136
    assert decoder.take_points() == []


def test_text_frames_decode_from_str_too() -> None:
    decoder = TickerDecoder()
    assert decoder.feed(DOC_FRAME.decode(), STREAMS) is Outcome.POINT


def test_first_event_of_a_second_wins_later_ones_coalesce() -> None:
    decoder = TickerDecoder()
    assert decoder.feed(ticker(1_000_100, "1.5"), STREAMS) is Outcome.POINT
    assert decoder.feed(ticker(1_000_900, "1.7"), STREAMS) is Outcome.COALESCED
    assert decoder.feed(ticker(999_999, "1.1"), STREAMS) is Outcome.COALESCED  # older second
    assert decoder.feed(ticker(1_001_000, "1.8"), STREAMS) is Outcome.POINT
    assert [(p.ts, p.price) for p in decoder.take_points()] == [(1_000_100, 1.5), (1_001_000, 1.8)]
    assert decoder.coalesced == 2
    assert decoder.gaps == []


def test_symbols_are_independent() -> None:
    decoder = TickerDecoder()
    assert decoder.feed(ticker(5_000_000), STREAMS) is Outcome.POINT
    assert decoder.feed(ticker(5_000_001, symbol="ETHUSDT"), STREAMS) is Outcome.POINT
    assert {p.symbol for p in decoder.take_points()} == {"BTCUSDT", "ETHUSDT"}


def test_a_quiet_symbols_silent_seconds_are_not_holes() -> None:
    decoder = TickerDecoder()
    decoder.feed(ticker(10_000), STREAMS)
    decoder.feed(ticker(17_200), STREAMS)
    assert decoder.take_gaps() == []  # downtime is the connection's business, not silence


def test_the_old_silence_rule_still_makes_gaps_for_the_benchmark() -> None:
    decoder = TickerDecoder(silence_gaps=True)
    decoder.feed(ticker(10_000), STREAMS)
    decoder.feed(ticker(11_500), STREAMS)
    decoder.feed(ticker(17_200), STREAMS)
    assert decoder.take_gaps() == [("BTCUSDT", 12, 16)]
    assert decoder.take_gaps() == []


def test_resume_keeps_a_stored_second_from_being_emitted_again_and_forget_drops_it() -> None:
    decoder = TickerDecoder()
    decoder.resume("BTCUSDT", 100)
    assert decoder.feed(ticker(100_500), STREAMS) is Outcome.COALESCED
    assert decoder.feed(ticker(104_000), STREAMS) is Outcome.POINT
    decoder.forget("BTCUSDT")
    assert "BTCUSDT" not in decoder.last_second


def canary(event_ms: int, stream: str = "btcusdt@ticker") -> bytes:
    return (
        f'{{"stream":"{stream}","data":{{"e":"24hrTicker","E":{event_ms},"s":"BTCUSDT",'
        f'"p":"1.0","P":"0.1","c":"91234.5","Q":"0.1","b":"1","B":"1","a":"1","A":"1",'
        f'"o":"1","h":"1","l":"1","v":"1","q":"1","O":0,"C":1,"F":0,"L":1,"n":1}}}}'
    ).encode()


def test_canary_frames_prove_liveness_and_never_become_points() -> None:
    decoder = TickerDecoder()
    assert decoder.feed(canary(7_000_250), STREAMS) is Outcome.HEARTBEAT
    assert decoder.frame_second == 7_000 and decoder.last_event_ms == 7_000_250
    assert decoder.take_points() == [] and decoder.messages == 0
    assert decoder.feed(canary(7_001_000, "ethusdt@ticker"), STREAMS) is Outcome.MALFORMED
    assert decoder.malformed == {"stream": 1}


@pytest.mark.parametrize(
    "frame",
    [
        b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}',
        b'{"e":"serverShutdown","E":1770123456789}',
    ],
)
def test_server_shutdown_combined_and_bare(frame: bytes) -> None:
    decoder = TickerDecoder()
    assert decoder.feed(frame, STREAMS) is Outcome.SHUTDOWN
    assert decoder.take_points() == []


@pytest.mark.parametrize(
    "frame",
    [
        b'{"result":null,"id":1}',
        b'{"result":["btcusdt@aggTrade"],"id":3}',
        b'{"result":true,"id":2}',
        b'{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}',
    ],
)
def test_control_replies(frame: bytes) -> None:
    decoder = TickerDecoder()
    assert decoder.feed(frame, STREAMS) is Outcome.CONTROL
    assert decoder.last_reply is not None
    assert decoder.malformed == {}


@pytest.mark.parametrize(
    ("frame", "kind"),
    [
        (b"not json at all", "json"),
        (DOC_FRAME[: len(DOC_FRAME) // 2], "json"),
        (DOC_FRAME.replace(b'"c":"0.0025"', b'"c":0.0025'), "type"),  # price not a string
        (DOC_FRAME.replace(b'"E":1672515782136', b'"E":"1672515782136"'), "type"),
        (DOC_FRAME.replace(b'"v":"10000"', b'"v":10000'), "type"),
        (DOC_FRAME.replace(b'"c":"0.0025"', b'"c":"abc"'), "value"),
        (DOC_FRAME.replace(b'"c":"0.0025"', b'"c":"-1"'), "value"),
        (DOC_FRAME.replace(b'"c":"0.0025"', b'"c":"nan"'), "value"),
        (ticker(1, stream="xrpusdt@miniTicker", symbol="XRPUSDT"), "stream"),  # not subscribed
        (ticker(1, stream="btcusdt@miniTicker", symbol="ETHUSDT"), "stream"),  # symbol mismatch
        (
            b'{"stream":"zzzzusdt@trade","data":{"e":"trade","E":0,"s":"ZZZZUSDT","t":1,"p":"1.0",'
            b'"q":"1","T":0,"m":true,"M":true}}',
            "type",
        ),
        (b'{"stream":"btcusdt@miniTicker","data":null}', "shape"),
        (b"{}", "shape"),
        (b"[]", "type"),
    ],
)
def test_malformed_frames_are_counted_and_skipped(frame: bytes, kind: str) -> None:
    decoder = TickerDecoder()
    assert decoder.feed(frame, STREAMS) is Outcome.MALFORMED
    assert decoder.malformed == {kind: 1}
    assert decoder.take_points() == []
    assert decoder.messages == 0
    # the next good frame still decodes
    assert decoder.feed(DOC_FRAME, STREAMS) is Outcome.POINT


def test_a_just_unsubscribed_stream_is_ignored_not_malformed() -> None:
    decoder = TickerDecoder()
    outcome = decoder.feed(
        ticker(1, stream="xrpusdt@miniTicker", symbol="XRPUSDT"), STREAMS, {"xrpusdt@miniTicker"}
    )
    assert outcome is Outcome.IGNORED
    assert decoder.malformed == {}


def test_control_requests_encode_as_documented() -> None:
    text = encode_control("SUBSCRIBE", 1, ["btcusdt@miniTicker"])
    assert text == '{"method":"SUBSCRIBE","id":1,"params":["btcusdt@miniTicker"]}'
    assert FRAME_DECODER.decode(b'{"result":null,"id":1}').id == 1
    assert stream_name("BTCUSDT") == "btcusdt@miniTicker"
