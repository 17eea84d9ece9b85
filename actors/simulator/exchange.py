"""ExchangeSimulator: the local Binance exchange (docs/exchange.md §8) on one aiohttp server.

Usage: `async with ExchangeSimulator(symbols=242, seed=1) as sim: ... sim.ws_url ...`.

Model: per symbol, each step is a chance of one trade at event time E (wall-clock epoch ms); the
trade, aggTrade, miniTicker, ticker and kline events of a step that traded carry E and the state
after it, and a step that did not trade sends nothing (the exchange pushes only on change).
`rate` steps per second per symbol, spread evenly over the second; the chance of a trade comes
from the `activity` profile (`realistic` by default: a long tail of quiet pairs; `uniform`: a
trade every step, so at rate 1 `close_price(s, S)` equals the `c` of the miniTicker sent in S).
Klines of every interval fold the 1 s bars of those very trades. The 24 h window of the tickers
is the simulator's lifetime (`o` is the price at start). `!miniTicker@arr` is pushed once a
second with the symbols that traded since the last push.

Where Binance leaves room, the choices are: a handshake naming a malformed stream or more than
1024 streams gets HTTP 400 `{"code":2,"msg":...}`; a SUBSCRIBE that would pass 1024 streams gets
error code 2 and subscribes nothing; a client too slow to take 64 MiB of frames is dropped;
handshakes past `connection_limit` per `connection_window` per IP get HTTP 429; the 24 h
lifetime is not modelled.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

from aiohttp import web

from actors.simulator import frames
from actors.simulator.activity import DEFAULT_PROFILE, check_profile
from actors.simulator.catalogue import build_catalogue, new_usdt_listing
from actors.simulator.faults import Faults
from actors.simulator.hub import Connection, Hub
from actors.simulator.listing_control import ListingControl
from actors.simulator.market import Market, StepClock, SymbolState
from actors.simulator.rest import RestApi, WeightBudget
from actors.simulator.websocket import ConnectionAttempts, WsEndpoint, WsSettings

log = logging.getLogger("actors.simulator")

SYMBOL_STATUSES = ("TRADING", "BREAK", "HALT", "END_OF_DAY", "CANCEL_ONLY")
# Frames are written when their step is due (event time), not on a fixed tick: the loop sleeps
# until the next step's event time, but at least MIN_TICK_SECONDS (above a few hundred steps a
# second, the steps due in that time share one write per connection) and at most
# MAX_TICK_SECONDS (so the once-a-second array stream and a rate change are not held back).
MIN_TICK_SECONDS = 0.001
MAX_TICK_SECONDS = 0.01
MAX_LAG_MS = 2000.0  # past this backlog whole rounds of steps are skipped rather than replayed


class ExchangeSimulator:
    """Seeded random-walk market served over Binance's WebSocket and REST protocol on loopback."""

    def __init__(
        self,
        *,
        symbols: int = 242,
        seed: int = 1,
        rate: float = 1.0,
        ping_interval: float = 20.0,
        pong_timeout: float = 60.0,
        weight_limit: int = 6000,
        history_seconds: int = 6 * 3600,
        faults: Faults | None = None,
        activity: str = DEFAULT_PROFILE,
        prehistory_seconds: int = 0,
        connection_limit: int = 300,
        connection_window: float = 300.0,
    ) -> None:
        if ping_interval <= 0 or pong_timeout <= 0:
            raise ValueError("ping_interval and pong_timeout must be positive")
        if weight_limit < 1 or history_seconds < 1:
            raise ValueError("weight_limit and history_seconds must be >= 1")
        if not 0 <= prehistory_seconds <= history_seconds:
            raise ValueError("prehistory_seconds must be within [0, history_seconds]")
        self.faults = faults or Faults()
        self.faults.validate()
        self.activity = check_profile(activity)
        self.prehistory_seconds = prehistory_seconds
        self.market = Market(
            build_catalogue(symbols, seed),
            seed=seed,
            rate=rate,
            start_ms=_now_ms(),
            keep_seconds=history_seconds,
            activity=activity,
        )
        self.hub = Hub(self.market, seed)
        self.hub.malformed_rate = self.faults.malformed_rate
        self.hub.stall_data = self.faults.stall_data
        self.ws_settings = WsSettings(ping_interval, pong_timeout, self.faults.stall_pings)
        self.budget = WeightBudget(weight_limit)
        self.connection_attempts = ConnectionAttempts(connection_limit, connection_window)
        self._rest = RestApi(self.market, self.budget, self._refusing)
        self._ws = WsEndpoint(self.hub, self.ws_settings, self._refusing, self.connection_attempts)
        self._outage_until = 0.0
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock: StepClock | None = None
        self.ws_url = ""
        self.rest_url = ""

    # lifecycle ---------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Start serving on host:port (0 picks a free port) and start the market."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        app = web.Application()
        app.middlewares.append(self._rest.middleware)
        app.add_routes(self._ws.routes() + self._rest.routes() + ListingControl(self).routes())
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError:
            await self._runner.cleanup()
            self._runner = None
            raise
        bound = self._runner.addresses[0]
        self.ws_url = f"ws://{bound[0]}:{bound[1]}"
        self.rest_url = f"http://{bound[0]}:{bound[1]}"
        start_ms = _now_ms()
        if self._clock is None:  # the 24 h window opens at the first start, not at a restart
            self._play_prehistory(start_ms)
        self._clock = StepClock(len(self.market.trading), self.market.rate, start_ms)
        self._spawn(self._run_market())
        self._spawn(self._run_schedules())

    def _play_prehistory(self, start_ms: int) -> None:
        """Trade the `prehistory_seconds` before `start_ms` at once, so klines reach back."""
        first_ms = start_ms - self.prehistory_seconds * 1000
        for state in self.market.states:
            state.event_ms = state.open_ms = first_ms
        if not self.prehistory_seconds:
            return
        clock = StepClock(len(self.market.trading), self.market.rate, first_ms)
        self.market.advance(clock, clock.due(start_ms - 1, float("inf")), _no_subscribers)
        for state in self.market.states:
            state.changed = False

    async def stop(self) -> None:
        """Stop the market and close every connection and the server."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn in list(self.hub.connections):
            conn.abort()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ground truth --------------------------------------------------------
    def usdt_symbols(self) -> list[str]:
        """The TRADING, spot-allowed USDT pairs (what the feed should track), uppercase."""
        return [state.symbol for state in self.market.states if state.listing.eligible]

    def close_price(self, symbol: str, second: int) -> float | None:
        """Close of `symbol`'s 1 s kline of epoch `second`; None if it did not trade then."""
        state = self.market.by_symbol.get(symbol)
        ticks = None if state is None else state.bars.close_at(second)
        if ticks is None or state is None:
            return None
        return float(frames.decimal_text(ticks, state.listing.price_decimals))

    @property
    def rest_requests(self) -> Counter[str]:
        """REST requests received so far by endpoint (`klines`, `exchangeInfo`, ...)."""
        return self._rest.served

    def activity_of(self, symbol: str) -> float:
        """The chance that `symbol` trades in a given second under the activity profile."""
        return self.market.by_symbol[symbol].second_chance

    # listings ------------------------------------------------------------
    def list_symbol(self, symbol: str, price: float = 1.0, activity: float = 0.5) -> None:
        """List a TRADING spot USDT pair now (a new one, or a delisted one again, its price walk
        resuming where it stopped): in exchangeInfo at once, trading from now."""
        if not 0.0 < activity <= 1.0:
            raise ValueError("activity must be within (0, 1]")
        state = self.market.by_symbol.get(symbol)
        if state is not None and not state.listing.trading:
            relisted = dataclasses.replace(state.listing, status="TRADING")
            self.market.set_listing(state, relisted, _now_ms())
        else:
            state = self.market.add_listing(new_usdt_listing(symbol, price), activity, _now_ms())
        self._rest.refresh(state)
        self.hub.on_listing(state)
        self._restart_clock()
        log.info("simulator: listed %s", symbol)

    def delist_symbol(self, symbol: str, status: str = "BREAK") -> None:
        """Move a pair out of TRADING (BREAK by default): its streams stop, its klines stay."""
        if status not in SYMBOL_STATUSES or status == "TRADING":
            raise ValueError(f"status must be one of {', '.join(SYMBOL_STATUSES[1:])}")
        state = self.market.by_symbol.get(symbol)
        if state is None:
            raise ValueError(f"{symbol} is not listed")
        self.market.set_listing(state, dataclasses.replace(state.listing, status=status), _now_ms())
        self._rest.refresh(state)
        self._restart_clock()
        log.info("simulator: %s moved to %s", symbol, status)

    def _restart_clock(self) -> None:
        if self._clock is not None:  # a new step order over the trading set, from now on
            self._clock = StepClock(len(self.market.trading), self.market.rate, _now_ms())

    @property
    def rate(self) -> float:
        """Steps (trades, hence events per stream) per second per symbol."""
        return float(self.market.rate)

    @rate.setter
    def rate(self, value: float) -> None:
        self.market.set_rate(value)
        self._restart_clock()

    @property
    def frames_sent(self) -> int:
        """Frames written to clients so far (data, replies and events)."""
        return self.hub.frames_sent

    # faults --------------------------------------------------------------
    @property
    def stall_pings(self) -> bool:
        """While true, no pings are sent (so no pong deadline runs)."""
        return self.ws_settings.stall_pings

    @stall_pings.setter
    def stall_pings(self, value: bool) -> None:
        self.ws_settings.stall_pings = value

    @property
    def stall_data(self) -> bool:
        """While true, connections and pings live on but no data frame is sent."""
        return self.hub.stall_data

    @stall_data.setter
    def stall_data(self, value: bool) -> None:
        self.hub.stall_data = value

    @property
    def malformed_rate(self) -> float:
        """Fraction of data frames replaced by malformed ones."""
        return self.hub.malformed_rate

    @malformed_rate.setter
    def malformed_rate(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError("malformed_rate must be within [0, 1]")
        self.hub.malformed_rate = value

    def rest_429(self, seconds: float) -> None:
        """Answer every REST request with 429 + Retry-After for the next `seconds`."""
        self.budget.forced_until = time.time() + seconds
        self.budget.forced_status = 429

    def rest_418(self, seconds: float) -> None:
        """An IP ban: every REST request gets 418 + Retry-After for the next `seconds`."""
        self.budget.forced_until = time.time() + seconds
        self.budget.forced_status = 418

    async def drop_connections(self) -> None:
        """Close every client WebSocket abruptly (no close frame)."""
        for conn in list(self.hub.connections):
            conn.abort()

    async def outage(self, seconds: float) -> None:
        """Drop all WebSockets, then refuse new ones and answer REST with 503 for `seconds`."""
        self._outage_until = time.monotonic() + seconds
        await self.drop_connections()

    async def send_server_shutdown(self) -> None:
        """Send `serverShutdown` everywhere; abort connections still open after the grace period."""
        event_ms = _now_ms()
        conns = list(self.hub.connections)
        for conn in conns:
            event = frames.server_shutdown(event_ms * 1000 if conn.microseconds else event_ms)
            conn.write_now([frames.wrap("!serverShutdown", event) if conn.combined else event])
        self._spawn(self._close_after_grace(conns))

    async def _close_after_grace(self, conns: list[Connection]) -> None:
        await asyncio.sleep(self.faults.shutdown_grace)
        for conn in conns:
            if conn in self.hub.connections:
                conn.abort()

    def _refusing(self) -> bool:
        return time.monotonic() < self._outage_until

    # loops -----------------------------------------------------------------
    async def _run_market(self) -> None:
        market, hub = self.market, self.hub
        last_second = _now_ms() // 1000
        while True:
            clock = self._clock
            assert clock is not None
            now_ms = time.time() * 1000
            market.advance(clock, clock.due(now_ms, MAX_LAG_MS), hub.on_step)
            second = int(now_ms // 1000)
            if second != last_second:
                last_second = second
                hub.push_arrays()
            hub.flush()
            wait_ms = clock.event_ms(clock.done) - time.time() * 1000
            await asyncio.sleep(min(MAX_TICK_SECONDS, max(MIN_TICK_SECONDS, wait_ms / 1000)))

    async def _run_schedules(self) -> None:
        """The periodic faults of `Faults` (drop, serverShutdown, 429 windows)."""
        faults = self.faults
        every = {
            "drop": faults.drop_every,
            "shutdown": faults.shutdown_every,
            "429": faults.rest_429_every,
        }
        due = {name: time.monotonic() + period for name, period in every.items() if period > 0}
        while due:
            name = min(due, key=due.__getitem__)
            await asyncio.sleep(max(0.0, due[name] - time.monotonic()))
            due[name] += every[name]
            if name == "drop":
                log.info("simulator fault: dropping %d connections", len(self.hub.connections))
                await self.drop_connections()
            elif name == "shutdown":
                log.info(
                    "simulator fault: serverShutdown to %d connections", len(self.hub.connections)
                )
                await self.send_server_shutdown()
            else:
                log.info("simulator fault: REST 429 for %.1f s", faults.rest_429_seconds)
                self.rest_429(faults.rest_429_seconds)


def _no_subscribers(state: SymbolState) -> None:
    """Pre-history trades reach no client."""


def _now_ms() -> int:
    return int(time.time() * 1000)
