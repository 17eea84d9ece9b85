"""Capped exponential backoff with jitter: pure, so tests can drive it with a seeded Random."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays `base * factor**n` capped at `cap`, each scaled into [1 - jitter, 1]; `reset()` after success."""

    base: float = 1.0
    cap: float = 10.0
    factor: float = 2.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def next(self) -> float:
        """The delay before the next attempt; counts the attempt."""
        raw = min(self.cap, self.base * self.factor**self.attempts)
        self.attempts += 1
        return raw * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0
