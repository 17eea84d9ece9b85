"""Account rate limiting: failed logins per (email, client IP) and per client IP, and
registrations per client IP (docs/security.md §3).

Only *failed* logins count, and per address: nobody can lock an account's owner out from
somewhere else. A success clears that address's failures on the email.
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

    def count(self, key: str) -> int:
        """Failures of `key` within the window."""
        hits = self._live(key, self.clock())
        return 0 if hits is None else len(hits)

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
    """Failed logins per (email, client IP) and per client IP (docs/security.md §3).

    Ten wrong passwords for an email from one address make *that address* wait for that email;
    the owner, from an address without failures, still gets in with the right password. An
    email under a spread-out attack (`email_alarm` failures from anywhere within the window)
    still takes an attempt from any clean address, but none more from an address that already
    failed on it. An attempt counts from the moment it starts (`begin`), so a burst of
    concurrent guesses cannot all slip in before the first failure is known; `succeeded` takes
    it back.
    """

    def __init__(
        self,
        per_pair: Limit = Limit(10, 15 * 60),
        per_ip: Limit = Limit(60, 60),
        email_alarm: int | None = None,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pairs = SlidingWindow(per_pair, max_keys, clock)
        self.ips = SlidingWindow(per_ip, max_keys, clock)
        alarm = 10 * per_pair.attempts if email_alarm is None else email_alarm
        self.emails = SlidingWindow(Limit(alarm, per_pair.window_seconds), max_keys, clock)

    @staticmethod
    def _pair(email: str, ip: str) -> str:
        return f"{email}\n{ip}"

    def begin(self, email: str, ip: str) -> int:
        """0 and the attempt is counted; else the whole seconds to wait (nothing counted)."""
        pair = self._pair(email, ip)
        wait = max(self.pairs.retry_after(pair), self.ips.retry_after(ip))
        if not wait and self.pairs.count(pair):
            wait = self.emails.retry_after(email)  # under attack: clean addresses only
        if wait > 0:
            return max(1, math.ceil(wait))
        self.pairs.record(pair)
        self.ips.record(ip)
        self.emails.record(email)
        return 0

    def succeeded(self, email: str, ip: str) -> None:
        """The attempt was right: it no longer counts, nor do this address's earlier failures
        on the email."""
        self.pairs.clear(self._pair(email, ip))
        self.ips.forget_one(ip)
        self.emails.forget_one(email)

    def withdraw(self, email: str, ip: str) -> None:
        """The attempt never reached a verdict (store down, server busy): it does not count."""
        self.pairs.forget_one(self._pair(email, ip))
        self.ips.forget_one(ip)
        self.emails.forget_one(email)


class RegistrationLimiter:
    """Registrations per client IP (`limit`) and in all (`overall`, which bounds the bcrypt work
    a flood from many addresses can cause); each counted when it starts (a failed one too: it
    cost a bcrypt hash)."""

    def __init__(
        self,
        limit: Limit = Limit(10, 3600),
        overall: Limit = Limit(60, 60),
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = SlidingWindow(limit, max_keys, clock)
        self.overall = SlidingWindow(overall, 1, clock)

    def begin(self, ip: str) -> int:
        """0 and the attempt is counted; else the whole seconds to wait."""
        wait = max(self.window.retry_after(ip), self.overall.retry_after(""))
        if wait > 0:
            return max(1, math.ceil(wait))
        self.window.record(ip)
        self.overall.record("")
        return 0

    def withdraw(self, ip: str) -> None:
        """The attempt was refused before any work (bad input): it does not count."""
        self.window.forget_one(ip)
        self.overall.forget_one("")
