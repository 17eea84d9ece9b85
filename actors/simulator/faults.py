"""Fault-injection settings of the simulator (all off by default)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    """Scheduled and standing faults; the runtime controls on ExchangeSimulator act on demand."""

    drop_every: float = 0.0  # close every client WebSocket abruptly every N s (0: never)
    shutdown_every: float = 0.0  # send serverShutdown to every connection every N s
    shutdown_grace: float = 30.0  # after serverShutdown, close connections still open after N s
    rest_429_every: float = 0.0  # answer REST with 429 for `rest_429_seconds` every N s
    rest_429_seconds: float = 5.0
    stall_pings: bool = False  # send no pings (and so enforce no pong deadline)
    stall_data: bool = False  # keep connections and pings alive but send no data frames
    malformed_rate: float = 0.0  # fraction of data frames replaced by malformed ones

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        for name in (
            "drop_every",
            "shutdown_every",
            "shutdown_grace",
            "rest_429_every",
            "rest_429_seconds",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if not 0.0 <= self.malformed_rate <= 1.0:
            raise ValueError("malformed_rate must be within [0, 1]")
