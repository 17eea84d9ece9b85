"""The process-wide REST accountant: every REST call to the exchange goes through one `RestGate`.

Binance limits REST by IP (docs/exchange.md §5.5): request weight per minute (6,000 on spot),
reported in `X-MBX-USED-WEIGHT-1M` on every response; past it a 429, and repeated 429s earn a
418 ban, both with `Retry-After` in seconds. The gate:

- admits a request only while the weight spent this minute (its own count, or the exchange's
  header when that is higher: other processes share the IP) plus the request's weight stays
  within `budget_share` of the limit (50 %: the rest is headroom for other tools on the IP);
  otherwise the request waits for the next minute (the exchange's windows reset on the minute);
- after a 429/418 lets nothing out until `Retry-After` has passed, for every caller;
- serves waiting requests by priority (`Priority`): the live path's backfill first, then
  listing checks, then bulk history import; FIFO within a priority.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from enum import IntEnum

import aiohttp

from actors import metrics
from actors.core.waiting import wait_set

log = logging.getLogger("actors.feed.rest")

WEIGHT_LIMIT = 6000  # spot REQUEST_WEIGHT per minute per IP
KLINES_WEIGHT = 2  # GET /api/v3/klines, any limit
EXCHANGE_INFO_WEIGHT = 20  # GET /api/v3/exchangeInfo, all symbols


class Priority(IntEnum):
    """Who goes first when requests wait for weight: lower is served first."""

    LIVE = 0  # backfill of the live path's downtime
    LISTING = 1  # exchangeInfo listing checks
    HISTORY = 2  # bulk history import (`binance-stats backfill`)


class RestError(Exception):
    """A REST call failed for good (4xx other than 429/418, or retries exhausted)."""


def retry_after_seconds(headers: Mapping[str, str], default: float) -> float:
    """`Retry-After` in seconds (Binance sends an integer); `default` when absent or unreadable."""
    raw = headers.get("Retry-After")
    if raw is None:
        return default
    try:
        return max(0.0, float(raw))
    except ValueError:
        return default


class RestGate:
    """Weight budget per minute, Retry-After blocks, priorities and bounded concurrency."""

    def __init__(
        self,
        *,
        weight_limit: int = WEIGHT_LIMIT,
        budget_share: float = 0.5,
        max_concurrent: int = 8,
        max_attempts: int = 5,
        request_timeout: float = 10.0,
        default_retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0.0 < budget_share <= 1.0:
            raise ValueError("budget_share must be within (0, 1]")
        self.weight_limit = weight_limit
        self.budget = max(1, int(weight_limit * budget_share))
        self.max_attempts = max_attempts
        self.request_timeout = request_timeout
        self.default_retry_after = default_retry_after
        self.clock = clock
        self.wall_clock = wall_clock
        self.blocked_until = 0.0  # monotonic
        self.banned_until_ms = 0  # epoch ms of the end of the last 418 ban
        self.used_weight = 0  # the exchange's figure for this minute (whole IP)
        self.spent = 0  # weight this gate sent this minute
        self.spent_total = 0
        self.requests = 0
        self.rejections = 0
        self.bans = 0
        self._minute = self._minute_now()
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting: list[tuple[int, int]] = []
        self._tickets = itertools.count()
        self._changed = asyncio.Event()

    # state -------------------------------------------------------------------
    def _minute_now(self) -> int:
        return int(self.wall_clock() // 60)

    def _roll(self) -> None:
        minute = self._minute_now()
        if minute != self._minute:
            self._minute, self.spent, self.used_weight = minute, 0, 0

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    @property
    def banned(self) -> bool:
        """True while a 418 ban's Retry-After has not passed."""
        return self.wall_clock() * 1000 < self.banned_until_ms

    def block_for(self, seconds: float) -> None:
        """No request leaves before `seconds` from now (extends, never shortens, a block)."""
        self.blocked_until = max(self.blocked_until, self.clock() + seconds)

    def wait_seconds(self) -> float:
        """How long a request would have to wait now for a Retry-After block."""
        return max(0.0, self.blocked_until - self.clock())

    def note_weight(self, headers: Mapping[str, str], sent_minute: int | None = None) -> None:
        """Read the exchange's used weight for this minute (a stale minute's figure is ignored)."""
        raw = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight")
        if raw is None:
            return
        try:
            used = int(raw)
        except ValueError:
            return
        self._roll()
        if sent_minute is not None and sent_minute != self._minute:
            return
        self.used_weight = max(self.used_weight, used)
        metrics.FEED_REST_WEIGHT_USED.set(self.used_weight)

    # admission -----------------------------------------------------------------
    def _delay(self, ticket: tuple[int, int], weight: int) -> float | None:
        """0 to go now; seconds to wait; None to wait for a change (someone ahead in line)."""
        blocked = self.wait_seconds()
        if blocked > 0.0:
            return blocked
        if self._waiting[0] != ticket:
            return None
        self._roll()
        used = max(self.spent, self.used_weight)
        if used > 0 and used + weight > self.budget:
            return 60.0 - self.wall_clock() % 60.0 + 0.05
        return 0.0

    async def _admit(self, weight: int, priority: Priority, label: str) -> None:
        ticket = (int(priority), next(self._tickets))
        heapq.heappush(self._waiting, ticket)
        waited = 0.0
        try:
            for _ in range(100_000):  # bounded: each pass waits for a change or a deadline
                delay = self._delay(ticket, weight)
                if delay == 0.0:
                    break
                changed = self._changed
                started = self.clock()
                await wait_set(changed, delay)
                waited += self.clock() - started
        finally:
            self._waiting.remove(ticket)
            heapq.heapify(self._waiting)
            self._wake()
        self.spent += weight
        self.spent_total += weight
        metrics.FEED_REST_WEIGHT.labels(priority.name.lower()).inc(weight)
        if waited > 0.0:
            metrics.FEED_REST_WAIT.labels(label).inc(waited)

    async def get(
        self,
        session: aiohttp.ClientSession,
        url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        label: str = "",
        weight: int = 1,
        priority: Priority = Priority.LIVE,
    ) -> bytes:
        """GET `url` once the gate admits it; a 2xx body. Raises RestError or aiohttp/OS errors."""
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        for _ in range(self.max_attempts):
            await self._admit(weight, priority, label)
            async with self._slots:  # after admission: a waiting import must not hold a slot
                for _ in range(1000):  # a Retry-After that came while this one waited for a slot
                    blocked = self.wait_seconds()
                    if blocked <= 0.0:
                        break
                    await asyncio.sleep(blocked)
                self.requests += 1
                sent_minute = self._minute
                async with session.get(url, params=params, timeout=timeout) as resp:
                    body = await resp.read()
                    self.note_weight(resp.headers, sent_minute)
                    status = resp.status
                    if status in (429, 418):
                        self._refused(status, url, resp.headers)
                        continue
                    if status >= 500:
                        self.block_for(1.0)
                        log.warning("REST %d from %s: retrying", status, url)
                        continue
                    if status >= 400:
                        raise RestError(f"GET {url} answered {status}: {body[:200]!r}")
                    return body
        raise RestError(f"GET {url}: gave up after {self.max_attempts} attempts")

    def _refused(self, status: int, url: str, headers: Mapping[str, str]) -> None:
        self.rejections += 1
        pause = retry_after_seconds(headers, self.default_retry_after)
        self.block_for(pause)
        metrics.FEED_REST_REFUSALS.labels(str(status)).inc()
        if status == 418:
            self.bans += 1
            until_ms = int((self.wall_clock() + pause) * 1000)
            self.banned_until_ms = max(self.banned_until_ms, until_ms)
            metrics.FEED_REST_BANNED_UNTIL.set(self.banned_until_ms / 1000)
            log.warning("REST 418 (IP banned) from %s: no REST request for %.0fs", url, pause)
        else:
            log.warning("REST %d from %s: holding every REST request for %.1fs", status, url, pause)
