"""Tree mode: the composition of each supervisord program (`binance-stats actor NAME`)."""

from __future__ import annotations

from actors.config import Settings
from actors.core.supervisor import Supervisor


def build_program(settings: Settings, name: str, shard: tuple[int, int]) -> Supervisor:
    """One program of supervisor.conf."""
    raise SystemExit(f"binance-stats actor {name}: tree mode is not available yet")
