"""Simulator control requests and stream names: parsing and the documented error bodies."""

from __future__ import annotations

import msgspec
import pytest

from actors.simulator import control
from actors.simulator.control import ControlError
from actors.simulator.streams import parse_stream


def error_of(text: str) -> dict[str, object]:
    with pytest.raises(ControlError) as caught:
        control.parse_request(text)
    body: dict[str, object] = msgspec.json.decode(caught.value.body())
    return body


def test_well_formed_requests_parse_with_any_documented_id_type() -> None:
    for request_id in (1, -5, "abcXYZ123", None):
        text = msgspec.json.encode(
            {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": request_id}
        )
        request = control.parse_request(text.decode())
        assert (request.method, request.params, request.id) == (
            "SUBSCRIBE",
            ["btcusdt@trade"],
            request_id,
        )
    assert control.parse_request('{"method":"LIST_SUBSCRIPTIONS","id":3}').params == []


def test_replies_match_the_reference_bytes() -> None:
    assert control.reply(1) == '{"result":null,"id":1}'
    assert control.reply(3, ["btcusdt@aggTrade"]) == '{"result":["btcusdt@aggTrade"],"id":3}'
    assert control.reply(2, True) == '{"result":true,"id":2}'


def test_malformed_json_is_code_3_with_position() -> None:
    assert error_of('{"method":') == {
        "error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 11"},
        "id": None,
    }


def test_missing_method_and_unknown_method_are_code_2() -> None:
    missing = error_of('{"params":[],"id":7}')
    assert missing["id"] == 7
    assert missing["error"] == {
        "code": 2,
        "msg": "Invalid request: missing field `method` at line 1 column 20",
    }
    unknown = error_of('{"method":"SUBSCRIBEE","id":1}')
    msg = unknown["error"]["msg"]  # type: ignore[index]
    assert unknown["error"]["code"] == 2  # type: ignore[index]
    assert msg.startswith(
        "Invalid request: unknown variant `SUBSCRIBEE`, expected one of `SUBSCRIBE`, "
    )
    assert msg.endswith("`GET_PROPERTY` at line 1 column 22")


@pytest.mark.parametrize(
    "bad_id", ["true", "1.5", '"has space"', '"' + "a" * 37 + '"', "[1]", "{}"]
)
def test_bad_or_missing_ids_are_rejected(bad_id: str) -> None:
    body = error_of('{"method":"LIST_SUBSCRIPTIONS","id":' + bad_id + "}")
    assert body == {
        "error": {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"},
        "id": None,
    }
    assert error_of('{"method":"LIST_SUBSCRIPTIONS"}')["error"]["code"] == 2  # type: ignore[index]


def test_property_checks_in_documented_order() -> None:
    def check(params: str, arity: int, value: bool = False) -> dict[str, object]:
        request = control.parse_request('{"method":"SET_PROPERTY","params":' + params + ',"id":5}')
        with pytest.raises(ControlError) as caught:
            control.property_name(request, arity)
            if value:
                control.property_value(request)
        body: dict[str, object] = msgspec.json.decode(caught.value.body())
        return body["error"]  # type: ignore[return-value]

    assert check('["combined",true,1]', 2) == {
        "code": 2,
        "msg": "Invalid request: too many parameters",
    }
    assert check("[5,true]", 2) == {
        "code": 2,
        "msg": "Invalid request: property name must be a string",
    }
    assert check('["compressed",true]', 2) == {"code": 0, "msg": "Unknown property"}
    assert check('["combined","yes"]', 2, value=True) == {
        "code": 1,
        "msg": "Invalid value type: expected Boolean",
    }


@pytest.mark.parametrize(
    ("name", "kind", "delivered"),
    [
        ("btcusdt@trade", "trade", True),
        ("btcusdt@aggTrade", "aggTrade", True),
        ("btcusdt@miniTicker", "miniTicker", True),
        ("btcusdt@ticker", "ticker", True),
        ("btcusdt@kline_1s", "kline", True),
        ("btcusdt@kline_1M@+08:00", "kline", True),
        ("!miniTicker@arr", "miniTicker@arr", True),
        ("btcusdt@bookTicker", "bookTicker", False),
        ("btcusdt@depth20@100ms", "depth20@100ms", False),
        ("BTCUSDT@trade", "trade", True),  # valid name; the hub never finds data for it
    ],
)
def test_valid_stream_names(name: str, kind: str, delivered: bool) -> None:
    spec = parse_stream(name)
    assert spec is not None and spec.kind == kind and spec.delivered is delivered


@pytest.mark.parametrize(
    "name",
    [
        "btcusdt@trades",
        "btcusdt@minitickers",
        "btcusdt",
        "@trade",
        "btcusdt@kline_2s",
        "btcusdt@kline_1m@+09:00",
        "!ticker@arr",
        "btc usdt@trade",
        "",
    ],
)
def test_malformed_stream_names(name: str) -> None:
    assert parse_stream(name) is None
