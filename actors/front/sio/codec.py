"""Encoding of Socket.IO events once, for every transport: msgspec JSON in the Socket.IO packet
format, and the WebSocket frame that carries it on the websocket transport.

A broadcast to a room is encoded here exactly once; the same `EncodedEvent` then goes to every
client in the room (the frame as is to websocket clients, the text to polling clients).
"""

from __future__ import annotations

import struct
from typing import Any

import msgspec

_ENCODER = msgspec.json.Encoder()
_TEXT_FIN = 0x81  # FIN bit + text opcode; servers never mask (RFC 6455 §5.1)
_PACK_LEN1 = struct.Struct("!BB").pack
_PACK_LEN2 = struct.Struct("!BBH").pack
_PACK_LEN3 = struct.Struct("!BBQ").pack


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

    `frame` is the whole WebSocket frame of the Engine.IO MESSAGE carrying it
    (`42["event",data]`); `packet` the Socket.IO packet text (`2["event",data]`, what
    `engineio.send` takes for polling clients), the same bytes as python-socketio's
    `Packet(EVENT, [event, data]).encode()` (namespace '/', no id, no binary). With an
    `offset` (connection state recovery, `recovery`) it is the event's last argument:
    `42["event",data,"offset"]`.
    """

    __slots__ = ("_body", "_packet", "event", "frame")

    def __init__(self, event: str, data: Any, offset: str | None = None) -> None:
        self.event = event
        self._body = _ENCODER.encode((event, data) if offset is None else (event, data, offset))
        self.frame = text_frame(b"42" + self._body)
        self._packet: str | None = None

    @property
    def packet(self) -> str:
        # built once: every polling client's queue then holds the same string, so a large
        # answer waiting for many clients costs its size once (docs/security.md §4)
        if self._packet is None:
            self._packet = "2" + self._body.decode()
        return self._packet
