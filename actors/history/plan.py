"""What a history import still has to ask for: the seconds not yet imported, in pages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

PAGE_SECONDS = 1000  # the klines limit: one request covers at most 1,000 one-second bars


class Page(NamedTuple):
    """One klines request: `symbol`'s seconds [first, last] (at most PAGE_SECONDS of them)."""

    symbol: str
    first: int
    last: int


def missing_ranges(
    first: int, last: int, covered: Iterable[tuple[int, int]]
) -> list[tuple[int, int]]:
    """The parts of [first, last] outside every `covered` range (ranges may overlap)."""
    out: list[tuple[int, int]] = []
    cursor = first
    for lo, hi in sorted(covered):
        if hi < cursor:
            continue
        if lo > last:
            break
        if lo > cursor:
            out.append((cursor, lo - 1))
        cursor = max(cursor, hi + 1)
        if cursor > last:
            return out
    if cursor <= last:
        out.append((cursor, last))
    return out


def pages(symbol: str, ranges: Sequence[tuple[int, int]], size: int = PAGE_SECONDS) -> list[Page]:
    """`ranges` cut into requests of at most `size` seconds, oldest first."""
    out = []
    for lo, hi in ranges:
        for start in range(lo, hi + 1, size):
            out.append(Page(symbol, start, min(hi, start + size - 1)))
    return out
