"""The packed bucket codec: every point comes back bit for bit, whatever the floats."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.store.packed import RAW, CodecError, Columns, decimal_scale, decode, encode

BASE = 1_707_220_800
floats = st.floats(allow_nan=False, allow_infinity=True)
decimals = st.integers(-(10**12), 10**12).flatmap(
    lambda n: st.integers(0, 8).map(lambda e: n / 10**e)
)


@st.composite
def columns(draw: st.DrawFn, values: st.SearchStrategy[float] = floats) -> Columns:
    secs = sorted(draw(st.sets(st.integers(0, 899), min_size=1, max_size=120)))
    n = len(secs)
    return Columns(
        [BASE + s for s in secs],
        draw(st.lists(st.integers(0, 999), min_size=n, max_size=n)),
        draw(st.lists(values, min_size=n, max_size=n)),
        draw(st.lists(st.none() | values, min_size=n, max_size=n)),
        draw(st.lists(st.booleans(), min_size=n, max_size=n)),
    )


def same(a: Columns, b: Columns) -> bool:
    """Equal, with floats compared by repr so -0.0 and 0.0 differ."""
    return (
        a.secs == b.secs
        and a.ms == b.ms
        and a.backfill == b.backfill
        and (list(map(repr, a.prices)), list(map(repr, a.pcts)))
        == (list(map(repr, b.prices)), list(map(repr, b.pcts)))
    )


@given(columns())
def test_round_trip_any_floats(cols: Columns) -> None:
    assert same(decode(encode(cols, BASE), BASE), cols)


@given(columns(decimals))
def test_round_trip_short_decimals(cols: Columns) -> None:
    assert same(decode(encode(cols, BASE), BASE), cols)


@pytest.mark.parametrize("value", [5e-324, 2.5e-323])
def test_raw_floats_whose_bits_fit_a_narrow_column_come_back(value: float) -> None:
    # A subnormal's bit pattern packs into one or two bytes; decoding must widen it again.
    cols = Columns([BASE, BASE + 1], [0, 1], [value, value], [value, None], [False, True])
    assert decimal_scale([value]) == RAW
    assert same(decode(encode(cols, BASE), BASE), cols)


def test_decimal_scale() -> None:
    assert decimal_scale([42123.45, 1.5]) == 2
    assert decimal_scale([1e-08]) == 8
    assert decimal_scale([0.00001234]) == 8
    assert decimal_scale([100.0, 7.0]) == 0
    assert decimal_scale([0.1 + 0.2]) == RAW
    assert decimal_scale([-0.0]) == RAW
    assert decimal_scale([float("inf")]) == RAW
    assert decimal_scale([1e300]) == RAW
    assert decimal_scale([1.5e308, 0.5]) == RAW  # times 10 overflows to inf


def test_a_steady_series_packs_to_a_few_bytes_per_point() -> None:
    n = 900
    cols = Columns(
        [BASE + i for i in range(n)],
        [400 + i % 3 for i in range(n)],
        [round(42_000 + (i % 7) * 0.01, 2) for i in range(n)],
        [round(1.5 + (i % 5) * 0.001, 3) for i in range(n)],
        [False] * n,
    )
    data = encode(cols, BASE)
    assert len(data) / n < 2.0
    assert same(decode(data, BASE), cols)


def test_merge_newer_wins_and_slice() -> None:
    old = Columns(
        [BASE, BASE + 1, BASE + 2], [0, 0, 0], [1.0, 2.0, 3.0], [None, None, None], [False] * 3
    )
    new = Columns([BASE + 1, BASE + 3], [500, 1], [20.0, 4.0], [1.0, None], [True, False])
    merged = old.merged(new)
    assert merged.secs == [BASE, BASE + 1, BASE + 2, BASE + 3]
    assert merged.prices == [1.0, 20.0, 3.0, 4.0] and merged.ms[1] == 500 and merged.backfill[1]
    part = merged.slice_ms((BASE + 1) * 1000 + 500, (BASE + 3) * 1000)
    assert part.secs == [BASE + 1, BASE + 2] and part.ts() == [
        (BASE + 1) * 1000 + 500,
        (BASE + 2) * 1000,
    ]


def test_bad_input() -> None:
    with pytest.raises(ValueError):
        encode(Columns.empty(), BASE)
    with pytest.raises(ValueError):
        encode(Columns([BASE - 1], [0], [1.0], [None], [False]), BASE)
    with pytest.raises(CodecError):
        decode(b"not a bucket", BASE)
