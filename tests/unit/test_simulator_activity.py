"""Activity profiles: the long tail of trade rates, determinism, and the step draw."""

from __future__ import annotations

import itertools

import pytest

from actors.simulator.activity import (
    QUIETEST_CHANCE,
    check_profile,
    rank_chance,
    second_chances,
    step_chance,
)
from actors.simulator.catalogue import build_catalogue
from actors.simulator.market import Market, StepClock

START_MS = 1_700_000_000_000


def test_realistic_profile_is_a_long_tail_from_every_second_to_once_a_minute() -> None:
    listings = build_catalogue(400, seed=1)
    chances = second_chances(listings, "realistic")
    usdt = [c for listing, c in zip(listings, chances, strict=True) if listing.eligible]
    assert usdt[:8] == [1.0] * 8  # BTC, ETH, ... trade every second
    assert usdt == sorted(usdt, reverse=True)
    assert usdt[-1] == pytest.approx(QUIETEST_CHANCE)
    quiet = [c for c in usdt if c < 0.25]
    assert len(quiet) > len(usdt) / 2  # most pairs are silent in most seconds
    assert second_chances(listings, "uniform") == [1.0] * len(listings)


def test_small_catalogues_keep_their_first_three_pairs_busy() -> None:
    assert [rank_chance(rank, 3) for rank in range(3)] == [1.0, 1.0, 1.0]
    assert rank_chance(3, 20) < 1.0 and rank_chance(19, 20) == pytest.approx(QUIETEST_CHANCE)


def test_step_chance_keeps_the_chance_per_second_at_any_rate() -> None:
    assert step_chance(1.0, 7.0) == 1.0
    per_step = step_chance(0.1, 4.0)
    assert 1 - (1 - per_step) ** 4 == pytest.approx(0.1)
    assert step_chance(0.1, 1.0) == pytest.approx(0.1)


def test_unknown_profile_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="realistic, uniform"):
        check_profile("busy")


def _traded_seconds(seed: int, profile: str, seconds: int) -> dict[str, list[int]]:
    listings = build_catalogue(40, seed=seed)
    market = Market(
        listings, seed=seed, rate=1.0, start_ms=START_MS, keep_seconds=3600, activity=profile
    )
    clock = StepClock(len(market.trading), market.rate, START_MS)
    market.advance(clock, clock.due(START_MS + seconds * 1000 - 1, float("inf")), lambda s: None)
    out = {}
    for state in market.trading:
        bars = state.bars
        out[state.symbol] = [bars.second(i) for i in range(len(bars))]
    return out


def test_the_walk_and_its_silences_are_deterministic_from_the_seed() -> None:
    first = _traded_seconds(5, "realistic", 300)
    assert first == _traded_seconds(5, "realistic", 300)
    assert first != _traded_seconds(6, "realistic", 300)
    busy, quietest = first["BTCUSDT"], list(first.values())[39]
    assert len(busy) == 300
    assert 0 < len(quietest) < 30  # about one trading second in 60
    gaps = [b - a for a, b in itertools.pairwise(quietest)]
    assert max(gaps) >= 30
    uniform = _traded_seconds(5, "uniform", 60)
    assert all(len(seconds) == 60 for seconds in uniform.values())
