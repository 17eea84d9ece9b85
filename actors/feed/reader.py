"""FeedReader: the actor turning shard K/N of the active symbols into PricePoints
(docs/architecture.md §2.1).

It owns the shard's `<symbol>@miniTicker` streams, spread over connections of at most
`max_streams` each; follows the store's active symbols (polling `symbols_version()`) and
subscribes or unsubscribes live; publishes to the bus what each socket read decoded as soon as
that read is done (no timer: a batch is what arrived together, plus whatever arrived while the
previous publish was in flight); hands every connection's downtime (a reconnect, a zombie socket
replaced, a restart) to the backfiller, for the symbols it carried: a quiet symbol's silent
seconds are not downtime. Helper loops: one per connection, the publisher, the watchdog
(silence, 24 h cut, metrics, status board), the symbol poller and the backfill workers. A connection failing `max_reconnects` times in a row crashes
the actor so its supervisor restarts it; the instance (and its per-symbol memory) survives that.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable

import aiohttp

from actors import metrics
from actors.bus.backfill_requests import BackfillRequests
from actors.bus.base import Bus
from actors.config import Settings
from actors.core.actor import Actor
from actors.core.backoff import Backoff
from actors.feed.backfill import Backfiller
from actors.feed.connection import SUBSCRIBE_BATCH, FeedConnection
from actors.feed.decoder import TickerDecoder
from actors.feed.protocol import CANARY_STREAM, stream_name
from actors.feed.rest_gate import RestGate
from actors.feed.shards import MAX_STREAMS_PER_CONNECTION, owned_symbols
from actors.feed.status import FeedStatusBoard
from actors.messages import PricePoint
from actors.store.base import Store, StoreError

REFRESH = "refresh"  # mailbox message: re-read the active symbols now
# No frame (data or canary) for this long: a zombie socket, replaced. With the watchdog's tick
# of timeout/8 it is found within 9 s of its last frame and reopened at once (docs/exchange.md §7).
SILENCE_TIMEOUT = 8.0
RESTART_MARGIN = 60  # seconds before the newest stored point a new process recovers from
STOP_DRAIN_SECONDS = 3.0  # a stopping reader still fills the backfill it planned, this long
# After a point published inline, points within this long go through the publish task, batched
# (a burst of frames is one publish, not one per frame).
INLINE_GAP_SECONDS = 0.002


def base_ws_url(url: str) -> str:
    """`wss://host:port` from a configured URL that may end in `/ws` or `/stream`."""
    url = url.rstrip("/")
    for suffix in ("/ws", "/stream"):
        if url.endswith(suffix):
            return url[: -len(suffix)]
    return url


class FeedReader(Actor[str]):
    """One feed shard: connections, decoding, per-second points, live symbol changes, backfill."""

    def __init__(
        self,
        name: str,
        shard: tuple[int, int],
        ws_url: str,
        rest_url: str,
        bus: Bus,
        store: Store,
        status: FeedStatusBoard,
        rest_gate: RestGate,
        session: aiohttp.ClientSession | None = None,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 10.0,
        max_reconnects: int = 10,
        silence_timeout: float = SILENCE_TIMEOUT,
        max_connection_age: float = 23 * 3600 + 50 * 60,
        symbol_poll_seconds: float = 5.0,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        control_interval: float = 0.25,
        url_budget: int = 4000,
        subscribe_batch: int = SUBSCRIBE_BATCH,
        backfill_workers: int = 8,
        max_backfill_seconds: int = 3600,
        resume_from_store: bool = True,
        max_pending_points: int = 200_000,
        backfill_requests: BackfillRequests | None = None,
        connect_timeout: float = 10.0,
        canary: str | None = CANARY_STREAM,
        gap_rule: str = "downtime",
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name, mailbox_size=16)
        self.shard = shard
        self.ws_url = base_ws_url(ws_url)
        self.rest_url = rest_url.rstrip("/")
        self.bus = bus
        self.store = store
        self.status = status
        self.rest_gate = rest_gate
        self.session = session
        self._own_session = session is None
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_reconnects = max_reconnects
        self.silence_timeout = silence_timeout
        self.max_connection_age = max_connection_age
        self.symbol_poll_seconds = symbol_poll_seconds
        self.max_streams = max_streams
        self.control_interval = control_interval
        self.url_budget = url_budget
        self.subscribe_batch = subscribe_batch
        self.backfill_workers = backfill_workers
        self.resume_from_store = resume_from_store
        self.backfill_requests = backfill_requests
        self._resume_pending = False
        self.max_pending_points = max_pending_points
        self.connect_timeout = connect_timeout
        self.rng = rng or random.Random()
        self.clock = clock
        if gap_rule not in ("downtime", "silence"):
            raise ValueError("gap_rule must be 'downtime' or 'silence' (the old rule, benchmark)")
        self.canary = canary
        self.decoder = TickerDecoder(canary=canary or "", silence_gaps=gap_rule == "silence")
        self._restart_from: int | None = None  # the first second a (re)start may have missed
        self._restart_starts: dict[str, int] = {}  # per symbol, where it differs
        self.backfiller = Backfiller(
            self.rest_url, rest_gate, self._recovered, label=name, max_seconds=max_backfill_seconds
        )
        self.connections: list[FeedConnection] = []
        self.symbols: list[str] = []
        self.published = 0
        # set when points (or gaps, or recovered points) wait to be published
        self._ready = asyncio.Event()
        self._inline_at = 0.0
        self._recovered_points: list[PricePoint] = []
        self._conn_tasks: dict[str, asyncio.Task[None]] = {}
        self._conn_ids = itertools.count()
        self._symbols_version: int | None = None
        self._symbols_lock = asyncio.Lock()
        self._reported: dict[str, int] = {}
        self._messages = metrics.FEED_MESSAGES.labels(name)
        self._points = metrics.FEED_POINTS.labels(name)
        self._coalesced = metrics.FEED_COALESCED.labels(name)
        self._lag = metrics.FEED_LAG.labels(name)
        self._outage_seconds = metrics.FEED_OUTAGE_SECONDS.labels(name)

    # lifecycle ------------------------------------------------------------
    async def on_start(self) -> None:
        if self.session is None or self.session.closed:
            self.session = aiohttp.ClientSession()
            self._own_session = True
        await self._close_connections()  # sockets left open by a crash before a restart
        self._conn_ids = itertools.count()  # reuse the metric labels c0, c1, ... after a restart
        self._symbols_version = None
        self._resume_pending = True
        await self._refresh_symbols()
        session = self.session
        for index in range(self.backfill_workers):
            self.spawn(self.backfiller.run(session), f"backfill-{index}")
        self.spawn(self._publish_loop(), "publish")
        self.spawn(self._watchdog_loop(), "watchdog")
        self.spawn(self._symbol_loop(), "symbols")
        if self.backfill_requests is not None:
            self.spawn(self._requests_loop(self.backfill_requests), "backfill-requests")

    async def on_stop(self) -> None:
        await self._close_connections()
        if self.session is not None:  # what was planned (a loss handed over, an outage) is owed
            await self.backfiller.drain(self.session, STOP_DRAIN_SECONDS)
        await self.flush()
        self._update_status()
        if self._own_session and self.session is not None:
            await self.session.close()
            self.session = None

    async def handle(self, message: str) -> None:
        if message == REFRESH:
            self._symbols_version = None
            await self._refresh_symbols()

    # symbols ------------------------------------------------------------------
    async def _symbol_loop(self) -> None:
        while not await self.sleep(self.symbol_poll_seconds):
            await self._refresh_symbols()

    async def _refresh_symbols(self) -> None:
        async with self._symbols_lock:  # the poller and a REFRESH message must not interleave
            await self._refresh_symbols_locked()

    async def _refresh_symbols_locked(self) -> None:
        try:
            version = await self.store.symbols_version()
            if version == self._symbols_version:
                return
            records = await self.store.list_symbols(active_only=True)
        except StoreError as exc:
            self.log.warning("cannot read the active symbols: %s", exc)
            return
        self._symbols_version = version
        await self.apply_symbols([r.symbol for r in records])

    async def apply_symbols(self, active: list[str]) -> None:
        """Own this shard's part of `active`: subscribe new streams, unsubscribe dropped ones."""
        owned = owned_symbols(active, self.shard)
        wanted = {stream_name(s): s for s in owned}
        held = {n for c in self.connections for n in c.streams}
        for conn in self.connections:
            gone = {n: s for n, s in conn.streams.items() if n not in wanted}
            if gone:
                conn.remove(gone)
                for symbol in gone.values():
                    self.decoder.forget(symbol)
        new = {n: s for n, s in wanted.items() if n not in held}
        if self._resume_pending:  # only the first set after a (re)start has a past to recover;
            self._resume_pending = False  # later additions are new listings or reactivations
            await self._resume(list(new.values()))
        pending = list(new.items())
        for conn in self.connections:
            room = self.max_streams - len(conn.streams)
            if room > 0 and pending:
                conn.add(dict(pending[:room]))
                pending = pending[room:]
        while pending:
            conn = self._open_connection(dict(pending[: self.max_streams]))
            conn.down_from, conn.down_starts = self._restart_from, self._restart_starts
            pending = pending[self.max_streams :]
        for conn in [c for c in self.connections if not c.streams]:
            await self._drop_connection(conn)
        if owned != self.symbols:
            self.log.info(
                "%d symbols (shard %d/%d), %d connections",
                len(owned),
                *self.shard,
                len(self.connections),
            )
        self._restart_from, self._restart_starts = None, {}
        self.symbols = owned
        metrics.FEED_SYMBOLS.labels(self.name).set(len(owned))
        self._update_status()

    async def _resume(self, symbols: list[str]) -> None:
        """At (re)start the feed was down since the last frame it saw: a restarted actor
        remembers that second; a new process reads each symbol's last stored second, and
        recovers from there, but no further back than `RESTART_MARGIN` before the newest of
        them (older silence was a quiet symbol's, on a healthy feed; the margin covers what the
        DbWriter had not written yet). A stored last second is also seeded into the decoder
        (no second is emitted twice)."""
        newest = self.decoder.frame_second
        self._restart_from, self._restart_starts = (newest or None), {}
        if newest or not self.resume_from_store:
            return
        latest: dict[str, int] = {}
        for symbol in symbols:
            try:
                point = await self.store.latest_point(symbol)
            except StoreError as exc:
                self.log.warning("cannot read the latest point of %s: %s", symbol, exc)
                return
            if point is not None:
                self.decoder.resume(symbol, point.second)
                latest[symbol] = point.second
        if not latest:
            return
        floor = max(latest.values()) - RESTART_MARGIN
        never = 2**62  # no history: nothing to recover
        self._restart_starts = {
            s: max(latest[s] + 1, floor) if s in latest else never for s in symbols
        }
        self._restart_from = min(self._restart_starts.values())

    def _open_connection(self, streams: dict[str, str]) -> FeedConnection:
        assert self.session is not None
        conn = FeedConnection(
            f"{self.name}/c{next(self._conn_ids)}",
            self.ws_url,
            self.decoder,
            shard=self.name,
            backoff=Backoff(base=self.backoff_base, cap=self.backoff_cap, rng=self.rng),
            max_failures=self.max_reconnects,
            control_interval=self.control_interval,
            url_budget=self.url_budget,
            subscribe_batch=self.subscribe_batch,
            connect_timeout=self.connect_timeout,
            on_change=self._update_status,
            on_points=self._point_decoded,
            on_outage=self._outage,
            canary=self.canary,
        )
        conn.add(streams)
        self.connections.append(conn)
        self._conn_tasks[conn.conn_id] = self.spawn(conn.run(self.session), conn.conn_id)
        return conn

    async def _drop_connection(self, conn: FeedConnection) -> None:
        self.connections.remove(conn)
        task = self._conn_tasks.pop(conn.conn_id, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await conn.close()

    async def _close_connections(self) -> None:
        for conn in list(self.connections):
            await self._drop_connection(conn)

    async def _requests_loop(self, requests: BackfillRequests) -> None:
        """Backfill what a writer's bus group lost, for the symbols this shard owns."""
        listener = await requests.listen(self.name)
        span = self.backfiller.max_seconds
        while not self.should_stop:
            loss = await listener.read(1.0)
            if loss is None:
                continue
            owned = set(self.symbols)
            mine = {s: r for s, r in loss.ranges.items() if s in owned}
            if not mine:
                continue  # another shard's symbols
            self.log.info("backfilling %d symbols a bus group lost", len(mine))
            for symbol, (first, last) in mine.items():
                for start in range(first, last + 1, span):  # the Backfiller caps one gap's span
                    self.backfiller.plan((symbol,), start, min(last, start + span - 1))

    # points -------------------------------------------------------------------
    def _outage(self, symbols: list[str], first: int, last: int) -> None:
        self._outage_seconds.inc(len(symbols) * (last - first + 1))
        self.backfiller.plan(symbols, first, last)

    def _recovered(self, points: list[PricePoint]) -> None:
        self._recovered_points.extend(points)
        self._ready.set()

    def _point_decoded(self) -> None:
        """A connection decoded a point: on an in-process bus, after a quiet spell, it is
        published at once, in the read's own loop turn (through the publish task it would wait
        a turn more, and under load every turn is long: docs/security.md §6); points that follow
        within INLINE_GAP_SECONDS gather for the publish task, batched as before."""
        if self.bus.instant and not self._ready.is_set():
            now = time.monotonic()
            if now - self._inline_at >= INLINE_GAP_SECONDS:
                self._inline_at = now
                points, live = self._take()
                if points:
                    self.bus.publish_nowait(points)
                    self._count(points, live)
                return
        self._ready.set()

    def _take(self) -> tuple[list[PricePoint], list[PricePoint]]:
        """Queue new gaps; the points to publish (decoded and recovered) and the live ones."""
        for gap in self.decoder.take_gaps():
            self.backfiller.request(gap)
        live = self.decoder.take_points()
        points = live
        if self._recovered_points:
            points = live + self._recovered_points
            self._recovered_points = []
        return points, live

    def _count(self, points: list[PricePoint], live: list[PricePoint]) -> None:
        now_ms = time.time() * 1000.0
        for point in live:
            self._lag.observe(max(0.0, (now_ms - point.ts) / 1000.0))
        self.published += len(points)
        self._points.inc(len(points))

    async def flush(self) -> int:
        """Publish the points decoded and recovered since the last flush; queue new gaps."""
        points, live = self._take()
        if not points:
            return 0
        await self.bus.publish(points)
        self._count(points, live)
        return len(points)

    async def _publish_loop(self) -> None:
        # A connection sets `_ready` for each point it decodes; this task runs only once that
        # connection's task waits for the socket again, i.e. after it decoded everything one
        # read brought. While a publish is in flight new points gather for the next one.
        ready = self._ready
        while not self.should_stop:
            await ready.wait()
            ready.clear()
            await self.flush()

    # watchdog -----------------------------------------------------------------
    async def _watchdog_loop(self) -> None:
        tick = max(0.05, min(1.0, self.silence_timeout / 8))
        while not await self.sleep(tick):
            now = self.clock()
            for conn in self.connections:
                conn.watchdog(now, self.silence_timeout, self.max_connection_age)
            self._bound_pending()
            self._report_counts()
            self.backfiller.report()
            self._update_status()

    def _bound_pending(self) -> None:
        excess = len(self.decoder.points) - self.max_pending_points
        if excess > 0:  # the bus is stuck: keep the newest, count the rest
            del self.decoder.points[:excess]
            metrics.FEED_DROPPED.labels(self.name).inc(excess)

    def _report_counts(self) -> None:
        """Move the decoder's plain counters into Prometheus (cheaper than per-frame increments)."""
        counts = {"messages": self.decoder.messages, "coalesced": self.decoder.coalesced}
        counts.update({f"malformed:{k}": v for k, v in self.decoder.malformed.items()})
        for key, value in counts.items():
            delta = value - self._reported.get(key, 0)
            if delta <= 0:
                continue
            self._reported[key] = value
            if key == "messages":
                self._messages.inc(delta)
            elif key == "coalesced":
                self._coalesced.inc(delta)
            else:
                metrics.FEED_MALFORMED.labels(self.name, key.split(":", 1)[1]).inc(delta)

    def _update_status(self) -> None:
        self.status.update(
            self.name,
            connected=any(c.connected for c in self.connections),
            symbols=len(self.symbols),
            last_message_ms=self.decoder.last_event_ms or None,
            rest_banned_until_ms=self.rest_gate.banned_until_ms or None,
        )

    @property
    def malformed(self) -> int:
        return sum(self.decoder.malformed.values())


def build_feed_reader(
    settings: Settings,
    shard: tuple[int, int],
    *,
    bus: Bus,
    store: Store,
    status: FeedStatusBoard,
    rest_gate: RestGate,
    session: aiohttp.ClientSession | None = None,
    ws_url: str | None = None,
    rest_url: str | None = None,
    backfill_requests: BackfillRequests | None = None,
) -> FeedReader:
    """A FeedReader configured from Settings (URLs may be overridden, e.g. by the simulator's)."""
    return FeedReader(
        f"feed-{shard[0]}",
        shard,
        ws_url or settings.binance_ws_url,
        rest_url or settings.binance_rest_url,
        bus,
        store,
        status,
        rest_gate,
        session,
        backoff_cap=settings.feed_backoff_max_seconds,
        max_reconnects=settings.feed_max_reconnects,
        backfill_requests=backfill_requests,
    )
