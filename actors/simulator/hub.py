"""Client connections, their subscriptions, and the fan-out of each step's events to them.

Frames are queued per connection during a tick and written with one transport write per
connection per tick (raw RFC 6455 frames, no compression), which is what lets one process push
tens of thousands of messages a second.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import deque
from collections.abc import Callable

from aiohttp import web

from actors.simulator import frames
from actors.simulator.market import Market, RunningKline, SymbolState
from actors.simulator.streams import ARRAY_MINI_TICKER, StreamSpec

log = logging.getLogger("actors.simulator")

SLOW_CONSUMER_BYTES = 64 * 1024 * 1024  # a client this far behind is dropped, as Binance does
_PRICE_FIELD = re.compile(r'"([cpo])":"([-0-9.]+)"')
_MS_TIME = re.compile(r'("[ETtOC]":)(\d{13})(?=[,}])')  # epoch-ms time fields of a payload
_KLINE_CLOSE = re.compile(r'("t":\d{13},"T":)(\d{13})')  # a bar's last ms is its last µs


def to_microseconds(payload: str) -> str:
    """A payload with its epoch-ms time fields in microseconds (`timeUnit=MICROSECOND`)."""
    return _MS_TIME.sub(r"\g<1>\g<2>000", _KLINE_CLOSE.sub(r"\g<1>\g<2>999", payload))


class Connection:
    """One client WebSocket: its streams, the `combined` property and the frames queued for it."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.Transport,
        combined: bool,
        microseconds: bool = False,
        max_unsent: int = SLOW_CONSUMER_BYTES,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.combined = combined
        self.microseconds = microseconds
        self.max_unsent = max_unsent
        self.too_slow = False  # dropped for falling `max_unsent` bytes behind
        self.streams: dict[str, StreamSpec] = {}
        self.pending: list[str | bytes] = []
        self.closing = False
        self.inbound: deque[float] = deque(maxlen=5)  # arrival times of the last client messages
        self.pings: dict[bytes, float] = {}  # unanswered ping payload -> monotonic send time
        self.frames_written = 0

    def push(self, stream: str, payload: str) -> None:
        """Queue one data frame of `stream` (wrapped if the connection is combined)."""
        if self.microseconds:
            payload = to_microseconds(payload)
        self.pending.append(
            f'{{"stream":"{stream}","data":{payload}}}' if self.combined else payload
        )

    def write_now(self, texts: list[str]) -> None:
        """Write text frames now (control replies, serverShutdown), after anything queued."""
        self.pending.extend(texts)
        self.flush()

    def flush(self) -> None:
        """Write the queued frames in one transport write; drop a client that fell far behind."""
        pending = self.pending
        if not pending:
            return
        self.pending = []
        if self.closing or self.ws.closed or self.transport.is_closing():
            return
        chunks = [
            frames.ws_frame(item, 0x2)
            if isinstance(item, bytes)
            else frames.ws_frame(item.encode())
            for item in pending
        ]
        self.transport.write(b"".join(chunks))
        if self.transport.get_write_buffer_size() > self.max_unsent:
            log.warning(
                "simulator: dropping a slow consumer (%d bytes unsent)",
                self.transport.get_write_buffer_size(),
            )
            self.too_slow = True
            self.abort()
        self.frames_written += len(pending)

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        self.closing = True
        self.pending = []
        self.transport.abort()


class _Route:
    """Subscribers of one delivered stream name, with what its payload needs."""

    __slots__ = ("build", "conns", "prefix", "running", "spec")

    def __init__(
        self, spec: StreamSpec, running: RunningKline | None, build: Callable[[SymbolState], str]
    ) -> None:
        self.spec = spec
        self.running = running
        self.build = build
        self.prefix = f'{{"stream":"{spec.name}","data":'
        self.conns: set[Connection] = set()


class Hub:
    """Subscriptions index and per-step fan-out; `malformed_rate` replaces frames with bad ones."""

    def __init__(self, market: Market, seed: int) -> None:
        self.market = market
        self.connections: set[Connection] = set()
        self.malformed_rate = 0.0
        self.stall_data = False
        self._frames_closed = 0  # frames written to connections since gone
        self.max_unsent = SLOW_CONSUMER_BYTES  # per connection; past it the client is dropped
        self.slow_consumers_dropped = 0
        self._rng = random.Random(seed ^ 0x5EED)
        self._routes: dict[str, dict[str, _Route]] = {}
        self._array_conns: set[Connection] = set()
        self._builders: dict[str, Callable[[SymbolState], str]] = {
            "trade": frames.trade,
            "aggTrade": frames.agg_trade,
            "miniTicker": frames.mini_ticker,
            "ticker": frames.ticker,
        }
        self._malformers = (self._truncated, self._binary, self._wrong_type, self._unsubscribed)

    # subscriptions ---------------------------------------------------
    def add(self, conn: Connection) -> None:
        """Register a new connection."""
        self.connections.add(conn)

    def remove(self, conn: Connection) -> None:
        """Forget a closed connection and its subscriptions."""
        for spec in list(conn.streams.values()):
            self.unsubscribe(conn, spec)
        if conn in self.connections:
            self.connections.discard(conn)
            self._frames_closed += conn.frames_written
            self.slow_consumers_dropped += conn.too_slow

    @property
    def frames_sent(self) -> int:
        """Frames written to every connection so far (data, replies and events)."""
        return self._frames_closed + sum(conn.frames_written for conn in self.connections)

    def subscribe(self, conn: Connection, spec: StreamSpec) -> None:
        """Add a stream to a connection (names that carry no data are only listed)."""
        conn.streams[spec.name] = spec
        if spec.name == ARRAY_MINI_TICKER:
            self._array_conns.add(conn)
            return
        state = self.market.by_stream.get(spec.symbol)
        if not spec.delivered or state is None:
            return  # a pair listed later is routed by on_listing
        routes = self._routes.setdefault(spec.symbol, {})
        route = routes.get(spec.name)
        if route is None:
            running = (
                state.track_kline(spec.interval, spec.offset) if spec.kind == "kline" else None
            )
            build = self._builders.get(spec.kind, frames.mini_ticker)  # klines use _push_kline
            route = routes[spec.name] = _Route(spec, running, build)
        route.conns.add(conn)

    def on_listing(self, state: SymbolState) -> None:
        """Route the new pair's streams to connections that subscribed before it was listed."""
        for conn in self.connections:
            for spec in list(conn.streams.values()):
                if spec.symbol == state.stream:
                    self.subscribe(conn, spec)

    def unsubscribe(self, conn: Connection, spec: StreamSpec) -> None:
        """Remove a stream from a connection."""
        conn.streams.pop(spec.name, None)
        if spec.name == ARRAY_MINI_TICKER:
            self._array_conns.discard(conn)
            return
        routes = self._routes.get(spec.symbol)
        route = routes.get(spec.name) if routes else None
        if routes is None or route is None:
            return
        route.conns.discard(conn)
        if not route.conns:
            del routes[spec.name]
            if not routes:
                del self._routes[spec.symbol]

    # fan-out ---------------------------------------------------------
    def on_step(self, state: SymbolState) -> None:
        """Queue this step's events for every subscriber of `state`'s streams."""
        routes = self._routes.get(state.stream)
        if not routes or self.stall_data:
            return
        for name, route in routes.items():
            if route.running is not None:
                self._push_kline(state, name, route)
                continue
            payload = route.build(state)
            if self.malformed_rate:
                for conn in route.conns:
                    self._deliver(conn, name, payload)
                continue
            for conn in route.conns:  # the hot path: Connection.push, inlined
                if conn.microseconds:
                    conn.push(name, payload)
                elif conn.combined:
                    conn.pending.append(route.prefix + payload + "}")
                else:
                    conn.pending.append(payload)

    def _push_kline(self, state: SymbolState, name: str, route: _Route) -> None:
        running = route.running
        assert running is not None and running.bar is not None
        spec = route.spec
        texts = [frames.kline(state, running.bar, spec.interval, spec.offset, False)]
        if running.closed is not None:
            texts.insert(0, frames.kline(state, running.closed, spec.interval, spec.offset, True))
        for conn in route.conns:
            for payload in texts:
                self._deliver(conn, name, payload)

    def push_arrays(self) -> None:
        """Once a second: `!miniTicker@arr` with every symbol that traded since the last push."""
        changed = [state for state in self.market.states if state.changed]
        for state in changed:
            state.changed = False
        if not self._array_conns or not changed or self.stall_data:
            return
        payload = "[" + ",".join(frames.mini_ticker(state) for state in changed) + "]"
        for conn in self._array_conns:
            self._deliver(conn, ARRAY_MINI_TICKER, payload)

    def _deliver(self, conn: Connection, name: str, payload: str) -> None:
        if self.malformed_rate and self._rng.random() < self.malformed_rate:
            self._malformers[self._rng.randrange(len(self._malformers))](conn, name, payload)
        else:
            conn.push(name, payload)

    def flush(self) -> None:
        """Write every connection's queued frames (one transport write each)."""
        for conn in self.connections:
            if conn.pending:
                conn.flush()

    # malformed frames (fault injection) ------------------------------
    @staticmethod
    def _truncated(conn: Connection, name: str, payload: str) -> None:
        conn.push(name, payload[: len(payload) // 2])

    @staticmethod
    def _binary(conn: Connection, name: str, payload: str) -> None:
        conn.pending.append(
            frames.wrap(name, payload).encode() if conn.combined else payload.encode()
        )

    @staticmethod
    def _wrong_type(conn: Connection, name: str, payload: str) -> None:
        conn.push(name, _PRICE_FIELD.sub(r'"\1":\2', payload, count=1))

    @staticmethod
    def _unsubscribed(conn: Connection, name: str, payload: str) -> None:
        conn.push(
            "zzzzusdt@trade",
            '{"e":"trade","E":0,"s":"ZZZZUSDT","t":1,"p":"1.0","q":"1","T":0,"m":true,"M":true}',
        )
