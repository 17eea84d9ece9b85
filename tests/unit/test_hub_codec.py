"""Pure parts of the hub: the encode-once codec, request validation, list subscription groups."""

from __future__ import annotations

import msgspec
import pytest
from socketio import packet as sio_packet

from actors.front.sio.codec import EncodedEvent, text_frame
from actors.front.sio.lists import ListSubscriptions
from actors.front.sio.requests import (
    IntervalRequest,
    RequestError,
    SymbolsRequest,
    normalize_symbols,
    parse,
    parse_time_ms,
)


@pytest.mark.parametrize(("size", "header"), [(0, 2), (125, 2), (126, 4), (65535, 4), (65536, 10)])
def test_text_frame_header_lengths(size: int, header: int) -> None:
    frame = text_frame(b"x" * size)
    assert frame[0] == 0x81  # FIN + text, never masked
    assert len(frame) == size + header
    length = frame[1]
    if header == 2:
        assert length == size
    elif header == 4:
        assert length == 126 and int.from_bytes(frame[2:4], "big") == size
    else:
        assert length == 127 and int.from_bytes(frame[2:10], "big") == size


def test_encoded_event_matches_python_socketio_packet() -> None:
    data = {"symbol": "BTCUSDT", "price": 43250.5, "timestamp": 1707220800000, "note": "ü"}
    event = EncodedEvent("price_update", data)
    reference = sio_packet.Packet(sio_packet.EVENT, data=["price_update", data]).encode()
    assert event.packet[0] == reference[0] == "2"
    assert msgspec.json.decode(event.packet[1:]) == msgspec.json.decode(reference[1:])
    assert event.frame == text_frame(("4" + event.packet).encode())


def test_symbols_are_upper_cased_and_deduplicated() -> None:
    request = parse({"symbols": ["btcusdt", "ETHUSDT", "BTCUSDT"]}, SymbolsRequest)
    assert normalize_symbols(request.symbols) == ["BTCUSDT", "ETHUSDT"]


@pytest.mark.parametrize(
    "payload",
    [
        None,
        "BTCUSDT",
        ["BTCUSDT"],
        {"symbols": "BTCUSDT"},
        {"symbols": [1]},
        {"symbols": ["A"] * 1001},
    ],
)
def test_bad_symbols_payloads_are_refused(payload: object) -> None:
    with pytest.raises(RequestError):
        parse(payload, SymbolsRequest)


def test_invalid_symbol_text_is_refused() -> None:
    with pytest.raises(RequestError, match="invalid symbol"):
        normalize_symbols(["BTC-USDT"])


def test_times_accept_iso_and_epoch_ms() -> None:
    assert parse_time_ms("2024-02-06T09:00:00Z", "t") == 1707210000000
    assert parse_time_ms("2024-02-06T09:00:00", "t") == 1707210000000
    assert parse_time_ms(1707210000000, "t") == parse_time_ms("1707210000000", "t")
    with pytest.raises(RequestError, match="intervalStartTime"):
        parse_time_ms("soon", "intervalStartTime")
    with pytest.raises(RequestError):
        parse({"symbol": "BTCUSDT", "intervalStartTime": 0, "intervalHour": 24}, IntervalRequest)


def test_list_subscriptions_group_sockets_by_set() -> None:
    lists = ListSubscriptions()
    lists.add("a", "ea", ["BTCUSDT", "ETHUSDT"])
    lists.add("b", "eb", ["ETHUSDT"])
    lists.add("b", "eb", ["BTCUSDT"])
    assert list(lists.groups) == [frozenset({"BTCUSDT", "ETHUSDT"})]
    assert sorted(lists.subscribers_of("ETHUSDT")) == [("a", "ea"), ("b", "eb")]
    lists.discard("a", "ea", ["ETHUSDT"])
    assert len(lists.groups) == 2
    assert lists.subscription_count() == 3
    lists.remove("b")
    lists.discard("a", "ea", ["BTCUSDT"])
    assert lists.groups == {} and lists.by_sid == {}


def test_sockets_of_one_group_share_one_set() -> None:
    lists = ListSubscriptions()
    lists.add("a", "ea", ["BTCUSDT", "ETHUSDT"])
    lists.add("b", "eb", ["ETHUSDT", "BTCUSDT"])
    assert lists.by_sid["a"] is lists.by_sid["b"]
