"""Interval arithmetic (docs/architecture.md §4) against a brute-force reference (hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from actors.store.intervals import HOUR_MS, IntervalScheme

DAY_MS = 24 * HOUR_MS
DEFAULT = IntervalScheme()
schemes = st.builds(
    IntervalScheme,
    hours=st.sampled_from([1, 2, 3, 4, 6, 8, 12, 24]),
    offset_hours=st.integers(0, 23),
)
# From 1969 to 2100, so floor division on negative times is covered too.
times = st.integers(-DAY_MS * 400, 4_102_444_800_000)


def reference_start(scheme: IntervalScheme, ts: int) -> int:
    """The latest whole hour <= ts whose UTC hour is an interval start hour."""
    hour = ts // HOUR_MS * HOUR_MS
    for _ in range(scheme.hours):
        if datetime.fromtimestamp(hour / 1000, UTC).hour in scheme.start_hours:
            return hour
        hour -= HOUR_MS
    raise AssertionError("no start hour within one interval length")


def utc(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_default_start_hours() -> None:
    assert DEFAULT.start_hours == (1, 5, 9, 13, 17, 21)
    assert DEFAULT.length_ms == 4 * HOUR_MS


@given(schemes, times)
def test_start_matches_reference_and_holds_the_point(scheme: IntervalScheme, ts: int) -> None:
    start = scheme.start_of(ts)
    assert start == reference_start(scheme, ts)
    assert start <= ts < scheme.end_of(start)
    assert scheme.end_of(start) - start == scheme.hours * HOUR_MS
    assert scheme.hour_of(start) in scheme.start_hours
    assert scheme.tag(ts) == (start, scheme.hour_of(start))
    assert scheme.is_start(start)


@given(schemes, times)
def test_a_point_on_a_boundary_opens_the_next_interval(scheme: IntervalScheme, ts: int) -> None:
    boundary = scheme.start_of(ts)
    assert scheme.start_of(boundary) == boundary
    assert scheme.start_of(boundary - 1) == boundary - scheme.length_ms
    assert scheme.start_of(scheme.end_of(boundary)) == scheme.end_of(boundary)
    assert scheme.start_of(scheme.end_of(boundary) - 1) == boundary
    assert not scheme.is_start(boundary + 1)


@given(schemes, times, times)
def test_start_is_monotonic(scheme: IntervalScheme, a: int, b: int) -> None:
    lo, hi = min(a, b), max(a, b)
    assert scheme.start_of(lo) <= scheme.start_of(hi)


@given(st.integers(0, 20_000), st.integers(0, 4 * HOUR_MS - 1))
def test_the_21_00_interval_crosses_midnight(day: int, into: int) -> None:
    start = day * DAY_MS + 21 * HOUR_MS
    ts = start + into  # anywhere from 21:00:00.000 to 00:59:59.999 the next day
    assert DEFAULT.tag(ts) == (start, 21)
    assert DEFAULT.end_of(start) == (day + 1) * DAY_MS + HOUR_MS
    assert DEFAULT.tag(start + 4 * HOUR_MS) == (start + 4 * HOUR_MS, 1)


@given(st.integers(-30, 30))
def test_offset_is_taken_modulo_the_length(shift: int) -> None:
    shifted = IntervalScheme(hours=4, offset_hours=1 + 4 * abs(shift) % 24)
    for ts in (
        0,
        utc("2024-02-06T00:59:59.999"),
        utc("2024-02-06T01:00:00"),
        utc("2024-02-06T23:00:00"),
    ):
        assert shifted.start_of(ts) == DEFAULT.start_of(ts)


def test_known_examples() -> None:
    assert DEFAULT.tag(utc("2024-02-06T09:00:00")) == (utc("2024-02-06T09:00:00"), 9)
    assert DEFAULT.tag(utc("2024-02-06T08:59:59.999")) == (utc("2024-02-06T05:00:00"), 5)
    assert DEFAULT.tag(utc("2024-02-07T00:30:00")) == (utc("2024-02-06T21:00:00"), 21)
    assert DEFAULT.tag(utc("2024-02-07T01:00:00")) == (utc("2024-02-07T01:00:00"), 1)
    assert DEFAULT.tag(1_707_220_800_123) == (utc("2024-02-06T09:00:00"), 9)
    assert IntervalScheme(hours=6, offset_hours=0).start_hours == (0, 6, 12, 18)
    assert IntervalScheme(hours=4, offset_hours=23).start_hours == (3, 7, 11, 15, 19, 23)
