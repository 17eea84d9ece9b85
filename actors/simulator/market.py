"""The simulated market: a seeded random walk per symbol, one trade per step, and its books.

Model rule: each step is one trade at event time E; every event of that step carries E and
the state after the trade. The 1 s bars (hence every kline) are folded from those trades.
The 24 h window of the tickers is the simulator's lifetime: `o` is the price at start.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

from actors.simulator.activity import DEFAULT_PROFILE, second_chances, step_chance
from actors.simulator.bars import Bar, SecondBars
from actors.simulator.catalogue import MAX_TICKS, Listing
from actors.simulator.intervals import bucket_next, bucket_open

# Per-step relative volatility at rate 1; scaled by 1/sqrt(rate) so a second moves alike.
VOLATILITY = 1.5e-4  # about 4 % a day, like a large-cap crypto asset
MAX_LOTS = 1000
MIN_RATE, MAX_RATE = 0.001, 100_000.0
_MAX_LEVEL = float(MAX_TICKS)


class RunningKline:
    """The forming bar of one (symbol, interval, offset), updated on every trade."""

    __slots__ = ("bar", "closed", "interval", "next_open", "offset")

    def __init__(self, interval: str, offset: int, bar: Bar | None) -> None:
        self.interval = interval
        self.offset = offset
        self.bar = bar
        self.next_open = bucket_next(bar.open, interval, offset) if bar else 0
        self.closed: Bar | None = None  # the bar this step's trade closed, if any

    def add(
        self, second: int, price: int, qty: int, quote: int, taker_buy: bool, trade_id: int
    ) -> None:
        """Fold a trade in; remember the bar it closed, if any, for a final (x=true) update."""
        bar = self.bar
        if bar is not None and second < self.next_open:
            self.closed = None
            bar.add(price, qty, quote, taker_buy, trade_id)
            return
        self.closed = bar
        opened = bucket_open(second, self.interval, self.offset)
        tb_q, tb_v = (quote, qty) if taker_buy else (0, 0)
        self.bar = Bar(
            opened, price, price, price, price, qty, quote, tb_v, tb_q, trade_id, trade_id
        )
        self.next_open = bucket_next(opened, self.interval, self.offset)


class SymbolState:
    """One symbol's walk, last trade, lifetime (24 h) statistics, bars and running klines."""

    __slots__ = (
        "bars",
        "chance",
        "changed",
        "event_ms",
        "first_id",
        "high",
        "klines",
        "level",
        "listing",
        "low",
        "memo",
        "open_ms",
        "open_ticks",
        "price",
        "qty",
        "quote_volume",
        "second_chance",
        "sigma",
        "stream",
        "symbol",
        "taker_buy",
        "trade_id",
        "until_ms",
        "volume",
    )

    def __init__(self, listing: Listing, start_ms: int, sigma: float, keep_seconds: int) -> None:
        self.listing = listing
        self.symbol = listing.symbol
        self.stream = listing.symbol.lower()
        self.level = float(listing.start_ticks)
        self.price = listing.start_ticks
        self.sigma = sigma
        self.second_chance = 1.0  # chance of a trade in a given second (activity profile)
        self.chance = 1.0  # chance that a step is a trade, at the market's rate
        self.until_ms: int | None = None  # when it stopped trading (delisted), else None
        self.qty = 0
        self.taker_buy = False
        self.trade_id = 0
        self.first_id = 1
        self.event_ms = start_ms
        self.open_ms = start_ms
        self.open_ticks = self.high = self.low = listing.start_ticks
        self.volume = 0
        self.quote_volume = 0
        self.changed = False  # traded since the last !miniTicker@arr push
        self.bars = SecondBars(keep_seconds)
        self.klines: dict[tuple[str, int], RunningKline] = {}
        self.memo: dict[str, tuple[int, str]] = {}  # formatted texts of frames.py, by field

    @property
    def trades(self) -> int:
        """Trades since start (the ticker's `n`)."""
        return self.trade_id - self.first_id + 1

    def track_kline(self, interval: str, offset: int) -> RunningKline:
        """Keep the forming `interval` bar up to date from now on (seeded from the 1 s bars)."""
        key = (interval, offset)
        running = self.klines.get(key)
        if running is None:
            bar = (
                self.bars.current(interval, self.event_ms // 1000, offset)
                if self.trade_id
                else None
            )
            running = self.klines[key] = RunningKline(interval, offset, bar)
        return running


class Market:
    """Every listing's state and the seeded walk that advances the trading ones."""

    def __init__(
        self,
        listings: list[Listing],
        *,
        seed: int,
        rate: float,
        start_ms: int,
        keep_seconds: int,
        activity: str = DEFAULT_PROFILE,
    ) -> None:
        self.rate = Fraction(1)
        self.keep_seconds = keep_seconds
        self._rng = random.Random(seed)
        self._activity_rng = random.Random(seed ^ 0xAC71)  # apart from the walk's draws
        self.states = [SymbolState(listing, start_ms, 0.0, keep_seconds) for listing in listings]
        for state, chance in zip(self.states, second_chances(listings, activity), strict=True):
            state.second_chance = chance
        self.set_rate(rate)
        self.by_symbol = {state.symbol: state for state in self.states}
        self.by_stream = {state.stream: state for state in self.states}
        self.trading = [state for state in self.states if state.listing.trading]

    def advance(self, clock: StepClock, due: int, on_trade: Callable[[SymbolState], None]) -> None:
        """Take the clock's steps up to `due`; a step is a trade with its symbol's chance."""
        trading, step, draw = self.trading, self.step, self._activity_rng.random
        count = len(trading)
        event_ms = clock.event_ms
        index = clock.done
        if not count:
            clock.done = max(index, due)
            return
        while index < due:
            state = trading[index % count]
            if state.chance >= 1.0 or draw() < state.chance:
                step(state, event_ms(index))
                on_trade(state)
            index += 1
        clock.done = index

    def add_listing(self, listing: Listing, second_chance: float, now_ms: int) -> SymbolState:
        """A new symbol (TRADING if `listing` says so) whose window opens at `now_ms`."""
        if listing.symbol in self.by_symbol:
            raise ValueError(f"{listing.symbol} is already listed")
        state = SymbolState(listing, now_ms, self.states[0].sigma, self.keep_seconds)
        state.second_chance = second_chance
        state.chance = step_chance(second_chance, float(self.rate))
        self.states.append(state)
        self.by_symbol[state.symbol] = state
        self.by_stream[state.stream] = state
        if listing.trading:
            self.trading.append(state)
        return state

    def set_listing(self, state: SymbolState, listing: Listing, now_ms: int) -> None:
        """Replace a symbol's listing (a status change): it trades only while TRADING."""
        if state.listing.trading and not listing.trading:
            state.until_ms = now_ms
        elif listing.trading:
            state.until_ms = None
        state.listing = listing
        self.trading = [state for state in self.states if state.listing.trading]

    def set_rate(self, rate: float) -> None:
        """Steps per second per symbol (0.001 to 100000); each step's move shrinks as 1/sqrt(rate)."""
        if not MIN_RATE <= rate <= MAX_RATE:
            raise ValueError(f"rate must be within [{MIN_RATE}, {MAX_RATE}]")
        self.rate = Fraction(rate).limit_denominator(1000)
        sigma = 2 * math.sqrt(3) * VOLATILITY / math.sqrt(float(self.rate))
        for state in self.states:
            state.sigma = sigma
            state.chance = step_chance(state.second_chance, float(self.rate))

    def step(self, state: SymbolState, event_ms: int) -> None:
        """One trade of `state`'s symbol at `event_ms`: move the walk, book it everywhere."""
        rng = self._rng
        level = state.level * (1.0 + state.sigma * (rng.random() - 0.5))
        if level < 1.0:
            level = 1.0
        elif level > _MAX_LEVEL:
            level = _MAX_LEVEL
        state.level = level
        price = int(level + 0.5)
        draw = rng.random()
        taker_buy = draw >= 0.5
        qty = 1 + int(draw * 2 * MAX_LOTS) % MAX_LOTS
        quote = price * qty
        trade_id = state.trade_id + 1
        state.trade_id = trade_id
        state.price = price
        state.qty = qty
        state.taker_buy = taker_buy
        state.event_ms = event_ms
        state.changed = True
        if price > state.high:
            state.high = price
        elif price < state.low:
            state.low = price
        state.volume += qty
        state.quote_volume += quote
        second = event_ms // 1000
        state.bars.add_trade(second, price, qty, quote, taker_buy, trade_id)
        for running in state.klines.values():
            running.add(second, price, qty, quote, taker_buy, trade_id)

    def close_ticks(self, symbol: str, second: int) -> int | None:
        """Close (ticks) of `symbol`'s 1 s bar of `second`, if it traded then."""
        state = self.by_symbol.get(symbol)
        return None if state is None else state.bars.close_at(second)


class StepClock:
    """Global step order: step g is symbol g % n at start + g / (n * rate) seconds.

    Integer arithmetic keeps every symbol at exactly `rate` steps per second, spread evenly
    across the second (at rate 1 each symbol trades once in every epoch second).
    """

    def __init__(self, symbols: int, rate: Fraction, start_ms: int) -> None:
        self.symbols = symbols
        self.start_ms = start_ms
        self._num = 1000 * rate.denominator
        self._den = symbols * rate.numerator
        self.done = 0  # steps taken so far
        self.skipped_rounds = 0

    def event_ms(self, step: int) -> int:
        """Event time (epoch ms) of step `step`."""
        return self.start_ms + step * self._num // self._den

    def due(self, now_ms: float, max_lag_ms: float) -> int:
        """Index one past the last step due at `now_ms`; skip whole rounds past `max_lag_ms`."""
        due = int((now_ms - self.start_ms) * self._den // self._num) + 1
        behind_ms = now_ms - self.event_ms(self.done)
        if behind_ms > max_lag_ms:
            rounds = int((behind_ms - max_lag_ms / 2) * self._den / self._num) // self.symbols
            self.done += rounds * self.symbols
            self.skipped_rounds += rounds
        return max(due, self.done)
