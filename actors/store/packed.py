"""The packed bucket codec: a run of one symbol's 1 Hz points as a few compressed bytes each.

Columns are delta-encoded integers: seconds from the bucket start, millisecond offsets, and
prices (and 24 h change percents) as integers scaled by the smallest power of ten that gives the
float back exactly; a column whose values are not short decimals is stored as raw float64.
Integers use the narrowest signed width, bytes are shuffled (all low bytes first) and the whole
is zlib-compressed. Every float comes back bit for bit.
"""

from __future__ import annotations

import math
import struct
import zlib
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise, repeat
from operator import add, mul, truediv

VERSION = 1
RAW = -1  # scale marker: the column holds raw float64
MAX_DECIMALS = 15
_HEADER = struct.Struct("<BIbbB")  # version, count, price scale, pct scale, flags
_COLUMN = struct.Struct("<cI")  # typecode, byte length
_HAS_MISSING_PCT = 1
_HAS_BACKFILL = 2
_WIDTHS = (("b", 1 << 7), ("h", 1 << 15), ("i", 1 << 31), ("q", 1 << 63))


class CodecError(ValueError):
    """The bytes are not a bucket this codec wrote."""


@dataclass(slots=True)
class Columns:
    """Points of one symbol as parallel columns, strictly increasing by second."""

    secs: list[int]
    ms: list[int]
    prices: list[float]
    pcts: list[float | None]
    backfill: list[bool]

    @classmethod
    def empty(cls) -> Columns:
        return cls([], [], [], [], [])

    @classmethod
    def of_rows(cls, rows: Iterable[tuple[int, int, float, float | None, int | bool]]) -> Columns:
        """Columns from (sec, ms, price, pct, backfill) rows already ordered by second."""
        cols = cls.empty()
        for sec, ms, price, pct, backfill in rows:
            cols.secs.append(sec)
            cols.ms.append(ms)
            cols.prices.append(price)
            cols.pcts.append(pct)
            cols.backfill.append(bool(backfill))
        return cols

    def __len__(self) -> int:
        return len(self.secs)

    def ts(self) -> list[int]:
        """Epoch ms of every point."""
        return list(map(add, map(mul, self.secs, repeat(1000)), self.ms))

    def rows(self) -> list[tuple[int, int, float, float | None, bool]]:
        return list(zip(self.secs, self.ms, self.prices, self.pcts, self.backfill, strict=True))

    def slice_ms(self, lo_ms: int, hi_ms: int) -> Columns:
        """The points with lo_ms <= ts <= hi_ms."""
        secs, ms = self.secs, self.ms
        lo_sec, hi_sec = lo_ms // 1000, hi_ms // 1000
        i, j = bisect_left(secs, lo_sec), bisect_right(secs, hi_sec)
        # One point per second: only the edge seconds need their milliseconds checked.
        if i < len(secs) and secs[i] == lo_sec and lo_sec * 1000 + ms[i] < lo_ms:
            i += 1
        if j > 0 and secs[j - 1] == hi_sec and hi_sec * 1000 + ms[j - 1] > hi_ms:
            j -= 1
        if i == 0 and j == len(secs):
            return self
        if i >= j:
            return Columns.empty()
        return Columns(secs[i:j], ms[i:j], self.prices[i:j], self.pcts[i:j], self.backfill[i:j])

    def merged(self, newer: Columns) -> Columns:
        """These points overlaid by `newer` ones: on the same second the newer point wins."""
        if not newer.secs:
            return self
        if not self.secs or self.secs[-1] < newer.secs[0]:
            return Columns(
                self.secs + newer.secs, self.ms + newer.ms, self.prices + newer.prices,
                self.pcts + newer.pcts, self.backfill + newer.backfill,
            )  # fmt: skip
        by_sec = dict(zip(self.secs, self.rows(), strict=True))
        by_sec.update(zip(newer.secs, newer.rows(), strict=True))
        return Columns.of_rows(row for _, row in sorted(by_sec.items()))


def decimal_scale(values: Iterable[float]) -> int:
    """The smallest e such that every value is round(v * 10**e) / 10**e exactly, else RAW."""
    distinct = set(values)
    scale = 0
    for value in distinct:
        if not math.isfinite(value) or (value == 0 and math.copysign(1.0, value) < 0):
            return RAW  # -0.0 would come back as 0.0
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        decimals = len(mantissa.partition(".")[2]) - (int(exponent) if exponent else 0)
        if mantissa.endswith(".0"):
            decimals -= 1
        scale = max(scale, decimals)
    if scale > MAX_DECIMALS:
        return RAW
    factor = float(10**scale)
    for value in distinct:
        if abs(value) * factor >= 2.0**53:  # also catches a product that overflows to inf
            return RAW
        if round(value * factor) / factor != value:
            return RAW
    return scale


def _int_column(values: Sequence[int]) -> bytes:
    low, high = (min(values), max(values)) if values else (0, 0)
    fitting = [code for code, bound in _WIDTHS if -bound <= low and high < bound]
    if not fitting:
        raise ValueError("value out of the int64 range")
    typecode = fitting[0]
    raw = array(typecode, values).tobytes()
    width = array(typecode).itemsize
    shuffled = b"".join(raw[i::width] for i in range(width)) if width > 1 else raw
    return _COLUMN.pack(typecode.encode(), len(shuffled)) + shuffled


def _read_int_column(body: memoryview, offset: int) -> tuple[array[int], int]:
    typecode_b, length = _COLUMN.unpack_from(body, offset)
    offset += _COLUMN.size
    raw = body[offset : offset + length]
    typecode = typecode_b.decode()
    out = array(typecode)
    width = out.itemsize
    if width > 1:
        count = length // width
        buffer = bytearray(length)
        for i in range(width):
            buffer[i::width] = raw[i * count : (i + 1) * count]
        out.frombytes(bytes(buffer))
    else:
        out.frombytes(bytes(raw))
    return out, offset + length


def _deltas(values: Sequence[int]) -> list[int]:
    return [b - a for a, b in pairwise(values)]


def _float_column(values: Sequence[float], scale: int) -> bytes:
    if scale == RAW:
        return _int_column(array("q", array("d", values).tobytes()).tolist())
    factor = float(10**scale)
    scaled = [round(v * factor) for v in values]
    return _int_column(scaled[:1] + _deltas(scaled))


def _read_float_column(body: memoryview, offset: int, scale: int) -> tuple[list[float], int]:
    ints, offset = _read_int_column(body, offset)
    if scale == RAW:
        # The bit patterns were stored in the narrowest width that holds them; widen back to
        # 8 bytes before reading them as doubles (0.0 or a subnormal packs into one byte).
        return array("d", array("q", ints).tobytes()).tolist(), offset
    return list(map(truediv, accumulate(ints), repeat(float(10**scale)))), offset


def encode(cols: Columns, base_sec: int) -> bytes:
    """Pack points whose seconds are >= base_sec (the bucket start)."""
    if not cols.secs:
        raise ValueError("an empty bucket has no encoding")
    if cols.secs[0] < base_sec:
        raise ValueError("a point lies before the bucket start")
    present = [pct is not None for pct in cols.pcts]
    pcts = [pct for pct in cols.pcts if pct is not None]
    price_scale, pct_scale = decimal_scale(cols.prices), decimal_scale(pcts)
    flags = (0 if all(present) else _HAS_MISSING_PCT) | (_HAS_BACKFILL if any(cols.backfill) else 0)
    parts = [
        _HEADER.pack(VERSION, len(cols.secs), price_scale, pct_scale, flags),
        _int_column([cols.secs[0] - base_sec, *_deltas(cols.secs)]),
        _int_column(cols.ms[:1] + _deltas(cols.ms)),
        _float_column(cols.prices, price_scale),
        _float_column(pcts, pct_scale),
    ]
    if flags & _HAS_MISSING_PCT:
        parts.append(_int_column([int(flag) for flag in present]))
    if flags & _HAS_BACKFILL:
        parts.append(_int_column([int(flag) for flag in cols.backfill]))
    return zlib.compress(b"".join(parts), 6)


def decode(data: bytes, base_sec: int) -> Columns:
    """The points packed by `encode(cols, base_sec)`."""
    try:
        body = memoryview(zlib.decompress(data))
        version, count, price_scale, pct_scale, flags = _HEADER.unpack_from(body, 0)
        if version != VERSION:
            raise CodecError(f"unknown bucket version {version}")
        offset = _HEADER.size
        sec_deltas, offset = _read_int_column(body, offset)
        ms_deltas, offset = _read_int_column(body, offset)
        prices, offset = _read_float_column(body, offset, price_scale)
        pct_values, offset = _read_float_column(body, offset, pct_scale)
        pcts: list[float | None]
        if flags & _HAS_MISSING_PCT:
            present, offset = _read_int_column(body, offset)
            values = iter(pct_values)
            pcts = [next(values) if flag else None for flag in present]
        else:
            pcts = list(pct_values)
        if flags & _HAS_BACKFILL:
            marks, offset = _read_int_column(body, offset)
            backfill = list(map(bool, marks))
        else:
            backfill = [False] * count
    except (zlib.error, struct.error, ValueError, StopIteration) as exc:
        raise CodecError(f"corrupt bucket: {exc}") from exc
    secs = list(accumulate(sec_deltas, initial=base_sec))[1:]
    cols = Columns(secs, list(accumulate(ms_deltas)), prices, pcts, backfill)
    if not len(secs) == len(cols.ms) == len(prices) == len(pcts) == count:
        raise CodecError("corrupt bucket: column lengths differ")
    return cols
