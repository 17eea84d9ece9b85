"""Kline interval arithmetic in epoch seconds: bucket opens for 1s..1M, with a UTC offset."""

from __future__ import annotations

import datetime as dt
import re

SECONDS = {
    "1s": 1,
    "1m": 60,
    "3m": 180,
    "5m": 300,
    "15m": 900,
    "30m": 1800,
    "1h": 3600,
    "2h": 7200,
    "4h": 14400,
    "6h": 21600,
    "8h": 28800,
    "12h": 43200,
    "1d": 86400,
    "3d": 259200,
    "1w": 604800,
    "1M": 0,
}
"""Every kline interval of the protocol (`1M`, calendar months, has no fixed length)."""

_WEEK_SHIFT = 4 * 86400  # 1970-01-01 was a Thursday; weeks open on Monday 00:00
_TZ = re.compile(r"^([+-]?)(\d{1,2})(?::(\d{2}))?$")


def parse_time_zone(text: str) -> int | None:
    """`timeZone` parameter ("8", "-1:00", "05:45") to an offset in seconds; None if invalid."""
    match = _TZ.match(text)
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    offset = sign * (hours * 3600 + minutes * 60)
    if minutes >= 60 or not -12 * 3600 <= offset <= 14 * 3600:
        return None
    return offset


def bucket_open(second: int, interval: str, offset: int = 0) -> int:
    """Open (epoch s, UTC) of the `interval` bar holding `second`, bars cut at UTC+offset."""
    length = SECONDS[interval]
    local = second + offset
    if length == 0:
        day = dt.datetime.fromtimestamp(local, dt.UTC)
        first = dt.datetime(day.year, day.month, 1, tzinfo=dt.UTC)
        return int(first.timestamp()) - offset
    if interval == "1w":
        return (local - _WEEK_SHIFT) // length * length + _WEEK_SHIFT - offset
    return local // length * length - offset


def bucket_next(open_second: int, interval: str, offset: int = 0) -> int:
    """Open of the bar after the one opening at `open_second` (its close time + 1 s)."""
    length = SECONDS[interval]
    if length:
        return open_second + length
    local = dt.datetime.fromtimestamp(open_second + offset, dt.UTC)
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return int(dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp()) - offset
