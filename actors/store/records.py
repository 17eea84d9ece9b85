"""Validation shared by the stores for users and symbols (bad input: a clear ValueError)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from actors.messages import PricePoint

ROLES = ("user", "admin")
SYMBOL_FIELDS = ("symbol", "baseAsset", "quoteAsset", "isActive")


def check_role(role: str) -> None:
    """Raise ValueError unless `role` is user or admin."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, not {role!r}")


def symbol_changes(changes: dict[str, object]) -> dict[str, str | bool]:
    """Validated `update_symbol` changes by camelCase field; names are stored upper-cased."""
    unknown = sorted(set(changes) - set(SYMBOL_FIELDS))
    if unknown:
        raise ValueError(f"unknown symbol fields: {unknown}")
    out: dict[str, str | bool] = {}
    for key, value in changes.items():
        if key == "isActive":
            if not isinstance(value, bool):
                raise ValueError("isActive must be a boolean")
            out[key] = value
        else:
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{key} must be a non-empty string")
            out[key] = value.strip().upper()
    return out


def check_points(points: Sequence[PricePoint]) -> None:
    """Raise ValueError naming the first point whose price or pct is not a finite number."""
    for point in points:
        if not math.isfinite(point.price) or (
            point.pct is not None and not math.isfinite(point.pct)
        ):
            raise ValueError(f"a stored price and pct must be finite numbers: {point!r}")
