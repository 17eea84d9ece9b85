"""Simulator model: catalogue, interval arithmetic, 1 s bars and klines, the walk and its clock."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction

import pytest

from actors.simulator.bars import SecondBars
from actors.simulator.catalogue import build_catalogue
from actors.simulator.frames import decimal_text
from actors.simulator.intervals import SECONDS, bucket_next, bucket_open, parse_time_zone
from actors.simulator.market import Market, StepClock


def test_catalogue_has_n_eligible_usdt_pairs_with_real_names_first() -> None:
    listings = build_catalogue(242, seed=1)
    eligible = [listing.symbol for listing in listings if listing.eligible]
    assert len(eligible) == 242 and eligible[:3] == ["BTCUSDT", "ETHUSDT", "BNBUSDT"]
    others = [listing for listing in listings if not listing.eligible]
    assert any(listing.quote != "USDT" for listing in others)
    assert any(listing.quote == "USDT" and listing.status != "TRADING" for listing in others)
    assert any(
        listing.quote == "USDT" and listing.status == "TRADING" and not listing.spot
        for listing in others
    )
    assert len({listing.symbol for listing in listings}) == len(listings)


def test_catalogue_invents_unique_names_beyond_the_real_list_deterministically() -> None:
    first = [listing.symbol for listing in build_catalogue(600, seed=5) if listing.eligible]
    again = [listing.symbol for listing in build_catalogue(600, seed=5) if listing.eligible]
    assert first == again and len(set(first)) == 600
    assert all(name.isalnum() and name.isupper() and name.endswith("USDT") for name in first)
    with pytest.raises(ValueError):
        build_catalogue(0, seed=1)


@pytest.mark.parametrize(
    ("units", "decimals", "text"),
    [
        (123, 2, "1.23"),
        (5, 8, "0.00000005"),
        (-5, 2, "-0.05"),
        (0, 3, "0.000"),
        (42, 0, "42"),
        (10**20 + 7, 8, "1000000000000.00000007"),
        (-(10**18), 0, "-1000000000000000000"),
    ],
)
def test_decimal_text_is_exact(units: int, decimals: int, text: str) -> None:
    assert decimal_text(units, decimals) == text


def _epoch(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC).timestamp())


def test_bucket_opens_follow_binance_alignment() -> None:
    second = _epoch(2026, 11, 25, 13, 47, 12)  # a Wednesday
    assert bucket_open(second, "1m") == _epoch(2026, 11, 25, 13, 47)
    assert bucket_open(second, "4h") == _epoch(2026, 11, 25, 12)
    assert bucket_open(second, "1d") == _epoch(2026, 11, 25)
    assert bucket_open(second, "1w") == _epoch(2026, 11, 23)  # Monday 00:00 UTC
    assert bucket_open(second, "1M") == _epoch(2026, 11, 1)
    assert bucket_next(_epoch(2026, 12, 1), "1M") == _epoch(2027, 1, 1)
    # cut in UTC+8: the 1d bar opens at 16:00 UTC the day before
    assert bucket_open(second, "1d", 8 * 3600) == _epoch(2026, 11, 24, 16)
    for interval, length in SECONDS.items():
        if length:
            assert (
                bucket_next(bucket_open(second, interval), interval) - bucket_open(second, interval)
                == length
            )


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("0", 0),
        ("8", 28800),
        ("-1:00", -3600),
        ("05:45", 20700),
        ("14", 50400),
        ("15", None),
        ("-13", None),
        ("x", None),
    ],
)
def test_time_zone_parameter(text: str, offset: int | None) -> None:
    assert parse_time_zone(text) == offset


def test_second_bars_fold_trades_and_aggregate_to_intervals() -> None:
    bars = SecondBars(keep_seconds=3600)
    base = _epoch(2026, 1, 1, 0, 0, 0)
    trades = [
        (base, 100, 2, True),
        (base, 105, 1, False),
        (base + 1, 95, 3, True),
        (base + 61, 99, 1, False),
    ]
    for trade_id, (second, price, qty, taker_buy) in enumerate(trades, start=1):
        bars.add_trade(second, price, qty, price * qty, taker_buy, trade_id)
    assert len(bars) == 3 and bars.close_at(base) == 105 and bars.close_at(base + 2) is None
    first, second_bar = list(bars.aggregate("1m", base, base + 120))
    assert (first.open, first.o, first.h, first.low, first.c) == (base, 100, 105, 95, 95)
    assert (first.v, first.q, first.taker_v, first.taker_q, first.trades) == (6, 590, 5, 485, 3)
    assert (second_bar.open, second_bar.c, second_bar.first_id, second_bar.last_id) == (
        base + 60,
        99,
        4,
        4,
    )


def test_second_bars_forget_seconds_older_than_the_history() -> None:
    bars = SecondBars(keep_seconds=100)
    for second in range(1000):
        bars.add_trade(second, 1, 1, 1, True, second + 1)
    assert bars.close_at(999) == 1 and bars.close_at(500) is None
    assert len(bars) <= 100 + 60 + 1


def test_step_clock_gives_each_symbol_one_step_per_epoch_second_at_rate_1() -> None:
    clock = StepClock(symbols=7, rate=Fraction(1), start_ms=1_000_000_123)
    seconds: dict[int, list[int]] = {}
    for step in range(7 * 50):
        seconds.setdefault(step % 7, []).append(clock.event_ms(step) // 1000)
    for per_symbol in seconds.values():
        assert per_symbol == list(range(per_symbol[0], per_symbol[0] + 50))


def test_step_clock_rate_and_catch_up() -> None:
    clock = StepClock(symbols=10, rate=Fraction(5, 2), start_ms=0)
    assert clock.due(1000.0, max_lag_ms=2000) == 26  # steps 0..25 are due by t = 1 s
    clock.done = 26
    assert clock.due(60_000.0, max_lag_ms=2000) >= clock.done
    assert clock.skipped_rounds > 0 and clock.done % 10 == 6  # whole rounds skipped only
    assert 60_000 - clock.event_ms(clock.done) <= 2000


def test_market_walk_is_seeded_and_books_every_trade() -> None:
    def run(seed: int) -> list[int]:
        market = Market(build_catalogue(5, seed), seed=seed, rate=1.0, start_ms=0, keep_seconds=60)
        state = market.by_symbol["ETHUSDT"]
        prices = []
        for second in range(30):
            market.step(state, second * 1000 + 5)
            prices.append(state.price)
            assert market.close_ticks("ETHUSDT", second) == state.price
        assert state.trades == 30 and state.volume == sum(state.bars.v)
        assert state.low <= min(prices) and state.high >= max(prices)
        return prices

    assert run(3) == run(3) != run(4)
    with pytest.raises(ValueError):
        Market(build_catalogue(5, 1), seed=1, rate=0.0, start_ms=0, keep_seconds=60)


def test_trimmed_history_keeps_trade_ids_and_seconds_consistent() -> None:
    bars = SecondBars(keep_seconds=100)
    trade_id = 0
    for second in range(1_000_000, 1_000_500):
        for _ in range(2):
            trade_id += 1
            bars.add_trade(second, 7, 1, 7, False, trade_id)
    first = bars.bar(0)
    assert first.first_id == 2 * (first.open - 1_000_000) + 1 and first.trades == 2
    assert [bar.open for bar in bars.aggregate("1s", 1_000_450, 1_000_452)] == [
        1_000_450,
        1_000_451,
        1_000_452,
    ]
    assert bars.second(-1) == 1_000_499 and bars.close_at(1_000_499) == 7
