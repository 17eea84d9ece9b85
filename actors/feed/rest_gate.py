"""The process-wide REST gate: every feed REST call goes through one `RestGate`.

Binance limits REST by IP (binance-protocol.md §5.5): request weight per minute, reported in
`X-MBX-USED-WEIGHT-1M` on every response; over it a 429 (then 418 bans) with `Retry-After` in
seconds. After a 429/418 the gate lets no request out until `Retry-After` has passed, for
every reader sharing it; near the weight limit it holds requests until the next minute.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import aiohttp

from actors import metrics

log = logging.getLogger("actors.feed.rest")


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
    """Shared pacing for REST: Retry-After blocks, weight pacing, bounded concurrency."""

    def __init__(
        self,
        *,
        weight_limit: int = 6000,
        weight_margin: float = 0.9,
        max_concurrent: int = 8,
        max_attempts: int = 5,
        request_timeout: float = 10.0,
        default_retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.weight_limit = weight_limit
        self.weight_margin = weight_margin
        self.max_attempts = max_attempts
        self.request_timeout = request_timeout
        self.default_retry_after = default_retry_after
        self.clock = clock
        self.wall_clock = wall_clock
        self.blocked_until = 0.0
        self.used_weight = 0
        self.requests = 0
        self.rejections = 0
        self._slots = asyncio.Semaphore(max_concurrent)

    def block_for(self, seconds: float) -> None:
        """No request leaves before `seconds` from now (extends, never shortens, a block)."""
        self.blocked_until = max(self.blocked_until, self.clock() + seconds)

    def wait_seconds(self) -> float:
        """How long a request would have to wait now."""
        return max(0.0, self.blocked_until - self.clock())

    def note_weight(self, headers: Mapping[str, str]) -> None:
        """Read the used weight; near the limit, hold requests until the next minute starts."""
        raw = headers.get("X-MBX-USED-WEIGHT-1M") or headers.get("x-mbx-used-weight")
        if raw is None:
            return
        try:
            self.used_weight = int(raw)
        except ValueError:
            return
        if self.used_weight >= self.weight_limit * self.weight_margin:
            self.block_for(60.0 - self.wall_clock() % 60.0 + 0.05)

    async def _wait_open(self, label: str) -> None:
        waited = 0.0
        for _ in range(10_000):  # bounded: each pass sleeps until the current block ends
            delay = self.wait_seconds()
            if delay <= 0.0:
                break
            await asyncio.sleep(delay)
            waited += delay
        if waited:
            metrics.FEED_REST_WAIT.labels(label).inc(waited)

    async def get(
        self,
        session: aiohttp.ClientSession,
        url: str,
        params: Mapping[str, str | int] | None = None,
        *,
        label: str = "",
    ) -> bytes:
        """GET `url` once the gate is open; a 2xx body. Raises RestError or aiohttp/OS errors."""
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        for _ in range(self.max_attempts):
            await self._wait_open(label)
            async with self._slots:
                await self._wait_open(label)
                self.requests += 1
                async with session.get(url, params=params, timeout=timeout) as resp:
                    body = await resp.read()
                    self.note_weight(resp.headers)
                    status = resp.status
                    if status in (429, 418):
                        self.rejections += 1
                        pause = retry_after_seconds(resp.headers, self.default_retry_after)
                        self.block_for(pause)
                        log.warning(
                            "REST %d from %s: holding every REST request for %.1fs",
                            status,
                            url,
                            pause,
                        )
                        continue
                    if status >= 500:
                        self.block_for(1.0)
                        log.warning("REST %d from %s: retrying", status, url)
                        continue
                    if status >= 400:
                        raise RestError(f"GET {url} answered {status}: {body[:200]!r}")
                    return body
        raise RestError(f"GET {url}: gave up after {self.max_attempts} attempts")
