"""RedisCache: the PriceCache on Redis (tree mode, or whenever REDIS_HOST is set).

Keys under the prefix P (default `bs:`):
- `P price:SYM`   the latest point, JSON `[symbol, ts, price, pct, backfill]`, 1 h TTL; a script
                  sets it only when the point's second is not older than the one held, so a late
                  backfill never rolls the latest price back.
- `P series:SYM`  sorted set, score ts, member msgpack `[ts, price, pct?, backfill?]`; one member
                  per second (a second's old member is removed first); trimmed to the 4 hours
                  before its newest point on every write; expires 4 h after its last write.
- `P series-floor` the series floor in ms (see actors/cache/base.py), same expiry.
- `P agg:SYM:START` an IntervalAggregate as JSON (camelCase), 24 h TTL.
Every write is one pipelined round trip. The per-point work runs in two short scripts
(latest prices; series insert, trim and expiry) rather than a command per point, because the
client's cost is per command: a second of 242 symbols is 4 commands, not about 1,000. Large
writes (a buffer held through an outage) are split so no script holds Redis for long.
Connection faults raise CacheError; the client reconnects on its next call, so nothing here
needs restarting after Redis comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from actors.cache.base import (
    AGGREGATE_TTL_SECONDS,
    LATEST_TTL_SECONDS,
    SERIES_WINDOW_MS,
    CacheError,
)
from actors.messages import IntervalAggregate, PricePoint


class _Sample(msgspec.Struct, array_like=True, omit_defaults=True):
    """A series member: the symbol is in the key; trailing defaults are left out."""

    ts: int
    price: float
    pct: float | None = None
    backfill: bool = False


# KEYS: latest keys; ARGV: ttl, then (ts, value) per key. Sets a key unless it holds a point of
# a later second (within a second the later write wins, as in the store); an unreadable value is
# replaced rather than blocking every later write.
_SET_LATEST = """
local ttl = ARGV[1]
for i, key in ipairs(KEYS) do
  local ts = tonumber(ARGV[2 * i])
  local held_ts = nil
  local held = redis.call('GET', key)
  if held then
    local ok, decoded = pcall(cjson.decode, held)
    if ok and type(decoded) == 'table' then held_ts = tonumber(decoded[2]) end
  end
  if (not held_ts) or held_ts - held_ts % 1000 <= ts then
    redis.call('SET', key, ARGV[2 * i + 1], 'EX', ttl)
  end
end
return 0
"""

# KEYS: series keys; ARGV: window ms, then per key: count n, trim cutoff (ms), n (ts, member).
# A second's old member goes first, so the set holds one point per second.
_PUT_SERIES = """
local window = ARGV[1]
local at = 2
for _, key in ipairs(KEYS) do
  local n = tonumber(ARGV[at])
  local cutoff = ARGV[at + 1]
  at = at + 2
  for _ = 1, n do
    local ts = tonumber(ARGV[at])
    local base = ts - ts % 1000
    redis.call('ZREMRANGEBYSCORE', key, base, base + 999)
    redis.call('ZADD', key, ts, ARGV[at + 1])
    at = at + 2
  end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. cutoff)
  redis.call('PEXPIRE', key, window)
end
return 0
"""

# Points per script call: bounds how long one call holds Redis (well under a millisecond each).
SCRIPT_CHUNK = 2000

# KEYS[1]: floor key; ARGV: until_ms, ttl ms. Raises the floor, never lowers it.
_RAISE_FLOOR = """
local held = tonumber(redis.call('GET', KEYS[1]))
if (not held) or held < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return 0
"""

_JSON = msgspec.json.Encoder()
_POINT = msgspec.json.Decoder(PricePoint)
_AGGREGATE = msgspec.json.Decoder(IntervalAggregate)
_SAMPLE_ENCODER = msgspec.msgpack.Encoder()
_SAMPLE = msgspec.msgpack.Decoder(_Sample)


class RedisCache:
    """The PriceCache on Redis; build with `RedisCache.from_url(url, prefix)`."""

    kind = "redis"

    def __init__(
        self, client: aioredis.Redis, prefix: str, *, window_ms: int = SERIES_WINDOW_MS
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.window_ms = window_ms
        self.floor_key = f"{prefix}series-floor"

    @classmethod
    def from_url(
        cls, url: str, prefix: str, *, timeout: float = 2.0, window_ms: int = SERIES_WINDOW_MS
    ) -> RedisCache:
        """A cache with short socket timeouts and one immediate retry on a fresh connection."""
        client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        return cls(client, prefix, window_ms=window_ms)

    def latest_key(self, symbol: str) -> str:
        return f"{self.prefix}price:{symbol}"

    def series_key(self, symbol: str) -> str:
        return f"{self.prefix}series:{symbol}"

    def aggregate_key(self, symbol: str, interval_start_ms: int) -> str:
        return f"{self.prefix}agg:{symbol}:{interval_start_ms}"

    async def put_points(self, points: Sequence[PricePoint]) -> None:
        if not points:
            return
        # One point per (symbol, second), the later one winning, as in the store.
        unique: dict[tuple[str, int], PricePoint] = {}
        for point in points:
            unique[(point.symbol, point.second)] = point
        newest: dict[str, PricePoint] = {}
        by_symbol: dict[str, list[PricePoint]] = {}
        for point in unique.values():
            held = newest.get(point.symbol)
            if held is None or held.ts <= point.ts:
                newest[point.symbol] = point
            by_symbol.setdefault(point.symbol, []).append(point)
        pipe = self.client.pipeline(transaction=False)
        # EVAL rather than EVALSHA: the scripts are short, and it saves a SCRIPT EXISTS round trip.
        symbols = list(newest)
        for i in range(0, len(symbols), SCRIPT_CHUNK):
            chunk = symbols[i : i + SCRIPT_CHUNK]
            latest_args: list[Any] = [LATEST_TTL_SECONDS]
            for symbol in chunk:
                latest_args += [newest[symbol].ts, _JSON.encode(newest[symbol])]
            pipe.eval(_SET_LATEST, len(chunk), *[self.latest_key(s) for s in chunk], *latest_args)
        keys: list[str] = []
        args: list[Any] = [self.window_ms]
        for symbol, symbol_points in by_symbol.items():
            cutoff = newest[symbol].ts - self.window_ms
            for j in range(0, len(symbol_points), SCRIPT_CHUNK):
                part = symbol_points[j : j + SCRIPT_CHUNK]
                keys.append(self.series_key(symbol))
                args += [len(part), cutoff]
                for point in part:
                    sample = _Sample(point.ts, point.price, point.pct, point.backfill)
                    args += [point.ts, _SAMPLE_ENCODER.encode(sample)]
                if len(args) > 2 * SCRIPT_CHUNK:
                    pipe.eval(_PUT_SERIES, len(keys), *keys, *args)
                    keys, args = [], [self.window_ms]
        if keys:
            pipe.eval(_PUT_SERIES, len(keys), *keys, *args)
        pipe.set(self.floor_key, min(point.ts for point in points), nx=True, px=self.window_ms)
        pipe.pexpire(self.floor_key, self.window_ms)
        await self._execute(pipe)

    async def put_aggregates(self, aggregates: Sequence[IntervalAggregate]) -> None:
        if not aggregates:
            return
        pipe = self.client.pipeline(transaction=False)
        for aggregate in aggregates:
            key = self.aggregate_key(aggregate.symbol, aggregate.interval_start_time)
            pipe.set(key, _JSON.encode(aggregate), ex=AGGREGATE_TTL_SECONDS)
        await self._execute(pipe)

    async def mark_gap(self, until_ms: int) -> None:
        try:
            await self.client.eval(_RAISE_FLOOR, 1, self.floor_key, until_ms, self.window_ms)
        except (RedisError, OSError) as exc:
            raise CacheError(f"redis: {exc}") from exc

    async def latest(self, symbols: Sequence[str]) -> dict[str, PricePoint]:
        if not symbols:
            return {}
        try:
            values = await self.client.mget([self.latest_key(symbol) for symbol in symbols])
            pairs = zip(symbols, values, strict=True)
            return {symbol: _POINT.decode(v) for symbol, v in pairs if v is not None}
        except (RedisError, OSError, msgspec.DecodeError) as exc:
            raise CacheError(f"redis: {exc}") from exc

    async def series(self, symbol: str, start_ms: int, end_ms: int) -> list[PricePoint]:
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self.floor_key)
        pipe.zrangebyscore(self.series_key(symbol), start_ms, end_ms)
        pipe.zrange(self.series_key(symbol), -1, -1, withscores=True)
        floor, members, newest = await self._execute(pipe)
        if floor is None or start_ms < int(floor):
            return []
        if newest and start_ms < int(newest[0][1]) - self.window_ms:
            return []  # reaches below what the trim keeps
        try:
            samples = [_SAMPLE.decode(member) for member in members]
        except msgspec.DecodeError as exc:
            raise CacheError(f"redis: undecodable series member of {symbol}: {exc}") from exc
        return [PricePoint(symbol, s.ts, s.price, s.pct, s.backfill) for s in samples]

    async def aggregate(self, symbol: str, interval_start_ms: int) -> IntervalAggregate | None:
        try:
            value = await self.client.get(self.aggregate_key(symbol, interval_start_ms))
            return None if value is None else _AGGREGATE.decode(value)
        except (RedisError, OSError, msgspec.DecodeError) as exc:
            raise CacheError(f"redis: {exc}") from exc

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self.client.aclose()

    async def _execute(self, pipe: Any) -> list[Any]:
        try:
            return list(await pipe.execute())
        except (RedisError, OSError) as exc:
            raise CacheError(f"redis: {exc}") from exc
        finally:
            await pipe.reset()
