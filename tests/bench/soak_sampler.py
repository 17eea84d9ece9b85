"""Samples of every soaked process: RSS and open fds from /proc, gauges from its /metrics, and
Redis memory and stream length, at a fixed period.

`Sample` is one row of the soak's CSV. RSS and fds come from /proc so a process whose metrics
endpoint is down (restarting) is still measured; tasks, threads and SQLite's heap come from the
gauges of actors/core/introspect.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields

import aiohttp
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

GAUGES = {
    "bs_asyncio_tasks": "tasks",
    "bs_threads": "threads",
    "bs_sqlite_memory_bytes": "sqlite_mb",
    "bs_cache_series_points": "cache_points",
    "bs_db_buffered_points": "db_buffered",
    "bs_sio_connected_clients": "sio_clients",
    "bs_python_allocated_blocks": "py_blocks",
    "bs_malloc_in_use_bytes": "malloc_used_mb",
    "bs_malloc_free_bytes": "malloc_free_mb",
}
MEGABYTES = ("sqlite_mb", "malloc_used_mb", "malloc_free_mb")


@dataclass
class Sample:
    """One process at one moment; empty cells are None."""

    elapsed_s: float
    process: str
    pid: int
    rss_mb: float | None = None
    fds: int | None = None
    tasks: float | None = None
    threads: float | None = None
    sqlite_mb: float | None = None
    cache_points: float | None = None
    db_buffered: float | None = None
    sio_clients: float | None = None
    py_blocks: float | None = None
    malloc_used_mb: float | None = None
    malloc_free_mb: float | None = None
    redis_used_mb: float | None = None
    stream_len: int | None = None

    @staticmethod
    def columns() -> list[str]:
        return [f.name for f in fields(Sample)]

    def row(self) -> dict[str, object]:
        return {k: ("" if v is None else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Target:
    """A process to sample: its name, pid and (optionally) its metrics URL."""

    name: str
    pid: int
    metrics_url: str | None = None


def proc_rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def proc_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def scrape(http: aiohttp.ClientSession, url: str) -> dict[str, float]:
    """The GAUGES found at `url` (summed over labels), by their CSV column name."""
    found: dict[str, float] = {}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
            text = await response.text()
        for family in text_string_to_metric_families(text):
            column = GAUGES.get(family.name)
            if column is not None:
                found[column] = sum(sample.value for sample in family.samples)
    for column in MEGABYTES:
        if column in found:
            found[column] /= 1024 * 1024
    return found


class Sampler:
    """Every `period` seconds, one Sample per target and one for Redis (if any)."""

    def __init__(
        self,
        targets: Callable[[], Awaitable[list[Target]]],
        *,
        period: float = 10.0,
        redis_url: str | None = None,
        redis_pid: Callable[[], int | None] = lambda: None,
        stream_key: str | None = None,
        on_sample: Callable[[Sample], None] = lambda _: None,
    ) -> None:
        self.targets = targets
        self.period = period
        self.redis_url = redis_url
        self.redis_pid = redis_pid
        self.stream_key = stream_key
        self.on_sample = on_sample
        self.samples: list[Sample] = []
        self.started = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        redis = aioredis.Redis.from_url(self.redis_url) if self.redis_url else None
        async with aiohttp.ClientSession() as http:
            try:
                while not stop.is_set():
                    began = time.monotonic()
                    await self.sample_once(http, redis)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            stop.wait(), max(0.0, self.period - (time.monotonic() - began))
                        )
            finally:
                if redis is not None:
                    await redis.aclose()

    async def sample_once(self, http: aiohttp.ClientSession, redis: aioredis.Redis | None) -> None:
        elapsed = round(time.monotonic() - self.started, 1)
        for target in await self.targets():
            sample = Sample(elapsed, target.name, target.pid)
            sample.rss_mb = proc_rss_mb(target.pid)
            sample.fds = proc_fds(target.pid)
            if target.metrics_url is not None:
                for column, value in (await scrape(http, target.metrics_url)).items():
                    setattr(sample, column, value)
            self._keep(sample)
        if redis is not None:
            await self._sample_redis(elapsed, redis)

    async def _sample_redis(self, elapsed: float, redis: aioredis.Redis) -> None:
        pid = self.redis_pid() or 0
        sample = Sample(elapsed, "redis-server", pid, proc_rss_mb(pid), proc_fds(pid))
        with contextlib.suppress(Exception):  # down while it restarts: the row says so by gaps
            info = await redis.info("memory")
            sample.redis_used_mb = int(info["used_memory"]) / (1024 * 1024)
            if self.stream_key is not None:
                sample.stream_len = int(await redis.xlen(self.stream_key))
        self._keep(sample)

    def _keep(self, sample: Sample) -> None:
        self.samples.append(sample)
        self.on_sample(sample)
