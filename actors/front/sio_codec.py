"""Encoding of Socket.IO events once, for every transport: msgspec JSON inside python-socketio's
own packet format, and the WebSocket frame that carries it on the websocket transport.

A broadcast to a room is encoded here exactly once; the same `EncodedEvent` then goes to every
client in the room (the frame as is to websocket clients, the text to polling clients).
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec
from socketio import packet as sio_packet

_ENCODER = msgspec.json.Encoder()
_TEXT_FIN = 0x81  # FIN bit + text opcode; servers never mask (RFC 6455 §5.1)
_PACK_LEN1 = struct.Struct("!BB").pack
_PACK_LEN2 = struct.Struct("!BBH").pack
_PACK_LEN3 = struct.Struct("!BBQ").pack


class MsgspecJson:
    """The `json` module interface python-socketio's Packet expects, backed by msgspec."""

    @staticmethod
    def dumps(obj: Any, **_: Any) -> str:
        return _ENCODER.encode(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: Any) -> Any:
        return msgspec.json.decode(text)


class _Packet(sio_packet.Packet):
    """python-socketio's packet encoder with msgspec as its JSON (a subclass: the base class's
    `json` attribute is shared by every server in the process and stays untouched)."""

    json = MsgspecJson
    uses_binary_events = False


def text_frame(payload: bytes) -> bytes:
    """One unmasked, uncompressed, final WebSocket text frame holding `payload`."""
    size = len(payload)
    if size < 126:
        header = _PACK_LEN1(_TEXT_FIN, size)
    elif size < 65536:
        header = _PACK_LEN2(_TEXT_FIN, 126, size)
    else:
        header = _PACK_LEN3(_TEXT_FIN, 127, size)
    return header + payload


class EncodedEvent:
    """A Socket.IO EVENT on namespace '/', encoded once.

    `packet` is the Socket.IO packet text (what `engineio.send` takes, for polling clients);
    `frame` the whole WebSocket frame of the Engine.IO MESSAGE carrying it (`4` + packet).
    """

    __slots__ = ("event", "frame", "packet")

    def __init__(self, event: str, data: Any) -> None:
        self.event = event
        self.packet: str = _Packet(sio_packet.EVENT, data=[event, data]).encode()
        self.frame = text_frame(b"4" + self.packet.encode())
