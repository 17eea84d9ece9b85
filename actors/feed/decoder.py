"""Frame decoding and the one-point-per-symbol-per-second rule (pure: no I/O, no clock).

The connection hands every text frame to `TickerDecoder.feed`; data frames become
`PricePoint`s in `points` (the first event of a new second wins, later ones of the same second
are coalesced), the canary's frames only prove the connection alive, and anything malformed is
counted by kind and skipped. A symbol's silent seconds are not holes (quiet pairs are silent on a
healthy connection); holes are the connection's downtime, which `FeedConnection` tracks. The
old rule (every skipped stretch of a symbol's seconds is a gap) survives as `silence_gaps`, for
the benchmark that compares the two.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from enum import IntEnum

import msgspec

from actors.feed.protocol import CANARY_STREAM, FRAME_DECODER, Frame, Heartbeat, MiniTicker
from actors.messages import PricePoint


class Outcome(IntEnum):
    """What one frame turned out to be."""

    POINT = 0  # a data frame that emitted a point
    COALESCED = 1  # a data frame of a second already emitted
    HEARTBEAT = 2  # a frame of the liveness canary
    SHUTDOWN = 3  # serverShutdown: rotate the connection
    CONTROL = 4  # a reply to SUBSCRIBE / UNSUBSCRIBE / ...
    MALFORMED = 5  # counted in `malformed` and skipped
    IGNORED = 6  # data of a stream we just unsubscribed (still in flight)


Gap = tuple[str, int, int]  # symbol, first missing second, last missing second (inclusive)

# hot-path constants (a module global is cheaper to reach than an enum class attribute)
_POINT, _COALESCED, _MALFORMED, _IGNORED = (
    Outcome.POINT,
    Outcome.COALESCED,
    Outcome.MALFORMED,
    Outcome.IGNORED,
)
_INF = float("inf")
_decode = FRAME_DECODER.decode


class TickerDecoder:
    """Decodes miniTicker frames into at most one point per symbol per second; tracks gaps.

    `last_second` (symbol → last emitted epoch second) is the memory that makes backfill
    possible: it outlives connections, so a reconnect finds the seconds it missed.
    """

    def __init__(self, *, canary: str = CANARY_STREAM, silence_gaps: bool = False) -> None:
        self.canary = canary
        self.silence_gaps = silence_gaps
        self.frame_second = 0  # exchange second of the last data or canary frame decoded
        self.last_second: dict[str, int] = {}
        self.points: list[PricePoint] = []
        self.gaps: list[Gap] = []
        self.emitted = 0
        self.coalesced = 0
        self.malformed: dict[str, int] = {}
        self.last_event_ms = 0
        self.replies = 0
        self.last_reply: Frame | None = None

    @property
    def messages(self) -> int:
        """Data frames decoded (each either emitted a point or was coalesced)."""
        return self.emitted + self.coalesced

    def count_malformed(self, kind: str) -> Outcome:
        self.malformed[kind] = self.malformed.get(kind, 0) + 1
        return _MALFORMED

    def feed(
        self, raw: bytes | str, streams: Mapping[str, str], retired: Container[str] = ()
    ) -> Outcome:
        """Decode one text frame; `streams` maps the subscribed stream names to symbols.

        This runs for every exchange message: module-level constants and no extra calls on
        the common paths (a coalesced frame costs one decode and two dict lookups).
        """
        try:
            frame = _decode(raw)
        except msgspec.ValidationError:
            return self.count_malformed("type")
        except msgspec.DecodeError:
            return self.count_malformed("json")
        data = frame.data
        if data.__class__ is not MiniTicker:
            return self._other(frame)
        symbol = streams.get(frame.stream)  # type: ignore[arg-type]  # None never matches
        if symbol is None or data.s != symbol:
            return _IGNORED if frame.stream in retired else self.count_malformed("stream")
        event_ms = data.E
        second = event_ms // 1000
        self.frame_second = second
        last = self.last_second.get(symbol, -1)
        if second <= last:
            self.coalesced += 1  # not parsed further: the second already has its point
            return _COALESCED
        try:
            price = float(data.c)
            opened = float(data.o)
        except ValueError:
            return self.count_malformed("value")
        if not 0.0 < price < _INF:
            return self.count_malformed("value")
        self.emitted += 1
        self.last_second[symbol] = second
        if self.silence_gaps and 0 <= last < second - 1:
            self.gaps.append((symbol, last + 1, second - 1))
        # the exchange's own 24hrTicker `P` has 3 decimals; more would only cost storage
        pct = round((price - opened) / opened * 100.0, 3) if opened > 0.0 else None
        self.points.append(PricePoint(symbol, event_ms, price, pct))
        if event_ms > self.last_event_ms:
            self.last_event_ms = event_ms
        return _POINT

    def _other(self, frame: Frame) -> Outcome:
        data = frame.data
        if type(data) is Heartbeat:
            if frame.stream != self.canary:
                return self.count_malformed("stream")
            self.frame_second = data.E // 1000
            if data.E > self.last_event_ms:
                self.last_event_ms = data.E
            return Outcome.HEARTBEAT
        if frame.is_shutdown:
            return Outcome.SHUTDOWN
        if frame.is_control_reply:
            self.replies += 1
            self.last_reply = frame
            return Outcome.CONTROL
        return self.count_malformed("shape")

    def take_points(self) -> list[PricePoint]:
        points, self.points = self.points, []
        return points

    def take_gaps(self) -> list[Gap]:
        gaps, self.gaps = self.gaps, []
        return gaps

    def forget(self, symbol: str) -> None:
        """Drop a symbol's memory (it was unsubscribed: no backfill when it returns)."""
        self.last_second.pop(symbol, None)

    def resume(self, symbol: str, second: int) -> None:
        """Seed a symbol's last emitted second (e.g. from the store): no point at or before it."""
        if second > self.last_second.get(symbol, -1):
            self.last_second[symbol] = second
