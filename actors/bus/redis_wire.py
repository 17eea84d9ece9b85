"""The wire of the Redis bus stream: entry fields, their msgpack points, reply shapes, ids."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from actors.messages import PricePoint

FIELD = b"p"
ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(list[PricePoint])

Entry = tuple[bytes, dict[bytes, bytes] | None]
StreamId = tuple[int, int]


def decode_entry(fields: Mapping[Any, Any] | None) -> list[PricePoint] | None:
    """Points of one stream entry; None for an entry trimmed away or not ours."""
    if not fields or FIELD not in fields:
        return None
    try:
        return _DECODER.decode(fields[FIELD])
    except msgspec.DecodeError:
        return None


def stream_entries(reply: Any) -> list[Entry]:
    """The entries of an XREAD/XREADGROUP reply on one stream (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        streams = list(reply.values())
        return list(streams[0][0]) if streams and streams[0] else []
    return list(reply[0][1])


def text_of(value: Any) -> str:
    """A reply value as text (bytes decoded)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def parse_id(value: Any) -> StreamId:
    """`ms-seq` as a comparable pair."""
    ms, _, seq = text_of(value).partition("-")
    return int(ms), int(seq or 0)


def format_id(stream_id: StreamId) -> str:
    return f"{stream_id[0]}-{stream_id[1]}"
