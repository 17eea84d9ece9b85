"""Backoff: doubles, caps, jitters within bounds, resets."""

from __future__ import annotations

import random

from actors.core.backoff import Backoff


def test_doubles_and_caps_without_jitter() -> None:
    backoff = Backoff(base=1.0, cap=10.0, jitter=0.0)
    assert [backoff.next() for _ in range(6)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    backoff.reset()
    assert backoff.next() == 1.0


def test_jitter_stays_within_bounds() -> None:
    backoff = Backoff(base=1.0, cap=10.0, jitter=0.5, rng=random.Random(7))
    for attempt in range(50):
        delay = backoff.next()
        nominal = min(10.0, 2.0**attempt)
        assert nominal * 0.5 <= delay <= nominal
