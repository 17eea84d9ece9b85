"""Login rate limiting (DESIGN.md §9): failed attempts per email and per client IP.

Only *failed* logins count, so a normal session's successful login is never refused (unless
its own email, or its IP, is under attack past the limit). A success clears that email's failures.
State lives in this process: with several front processes each enforces its own limits, which
multiplies the allowance by the number of fronts but keeps the limiter free of I/O.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most `attempts` failures within `window_seconds`."""

    attempts: int
    window_seconds: float


class SlidingWindow:
    """Failure times per key over a window; bounded in keys (least recently touched go first)."""

    def __init__(self, limit: Limit, max_keys: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()

    def _live(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        horizon = now - self.limit.window_seconds
        while hits and hits[0] <= horizon:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may try again; 0 when it is under its limit."""
        now = self.clock()
        hits = self._live(key, now)
        if hits is None or len(hits) < self.limit.attempts:
            return 0.0
        return max(0.0, hits[-self.limit.attempts] + self.limit.window_seconds - now)

    def record(self, key: str) -> None:
        """Count one failure for `key`."""
        now = self.clock()
        hits = self._live(key, now)
        if hits is None:
            hits = deque(maxlen=self.limit.attempts)
            self._hits[key] = hits
        hits.append(now)
        self._hits.move_to_end(key)
        while len(self._hits) > self.max_keys:
            self._hits.popitem(last=False)

    def clear(self, key: str) -> None:
        self._hits.pop(key, None)

    def forget_one(self, key: str) -> None:
        """Take back the latest hit of `key` (an attempt that turned out to succeed)."""
        hits = self._hits.get(key)
        if hits:
            hits.pop()
            if not hits:
                del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


class LoginLimiter:
    """The two login limits: failures per email (10 in 15 min) and per IP (60 in 1 min).

    An attempt counts from the moment it starts (`begin`), so a burst of concurrent guesses
    cannot all slip in before the first failure is known; `succeeded` takes it back.
    """

    def __init__(
        self,
        per_email: Limit = Limit(10, 15 * 60),
        per_ip: Limit = Limit(60, 60),
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.emails = SlidingWindow(per_email, max_keys, clock)
        self.ips = SlidingWindow(per_ip, max_keys, clock)

    def begin(self, email: str, ip: str) -> int:
        """0 and the attempt is counted; else the whole seconds to wait (nothing counted)."""
        wait = max(self.emails.retry_after(email), self.ips.retry_after(ip))
        if wait > 0:
            return max(1, math.ceil(wait))
        self.emails.record(email)
        self.ips.record(ip)
        return 0

    def succeeded(self, email: str, ip: str) -> None:
        """The attempt was right: it no longer counts, nor do the email's earlier failures."""
        self.emails.clear(email)
        self.ips.forget_one(ip)

    def withdraw(self, email: str, ip: str) -> None:
        """The attempt never reached a verdict (store down, server busy): it does not count."""
        self.emails.forget_one(email)
        self.ips.forget_one(ip)
