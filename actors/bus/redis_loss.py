"""Where the Redis bus keeps what each group lost until its writer takes it (tree mode).

Per group, `{prefix}bus:lost:{group}` holds what awaits the writer's backfill request and
`{prefix}bus:lost-total:{group}` everything lost so far (for /readyz); both map each symbol to
`first:last` seconds, merged in Redis by a script, plus `#points`. They are bounded by the
number of symbols. `{prefix}bus:lost-groups` names the groups that ever lost anything.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from actors.bus.loss import Loss, LossView

POINTS = b"#points"  # cannot be a symbol

# KEYS: the hashes to merge into. ARGV: points, then (symbol, first, last) triples.
_MERGE = """
for k = 1, #KEYS do
  for i = 2, #ARGV, 3 do
    local first, last = tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
    local held = redis.call('HGET', KEYS[k], ARGV[i])
    if held then
      local f, l = string.match(held, '^(%d+):(%d+)$')
      if f then
        first = math.min(first, tonumber(f))
        last = math.max(last, tonumber(l))
      end
    end
    redis.call('HSET', KEYS[k], ARGV[i], first .. ':' .. last)
  end
  redis.call('HINCRBY', KEYS[k], '#points', ARGV[1])
end
return 1
"""


def _loss(fields: dict[Any, Any]) -> Loss:
    loss = Loss()
    for key, value in fields.items():
        name = key if isinstance(key, bytes) else str(key).encode()
        text = value.decode() if isinstance(value, bytes) else str(value)
        if name == POINTS:
            loss.points = int(text)
            continue
        first, _, last = text.partition(":")
        loss.ranges[name.decode()] = (int(first), int(last))
    return loss


class RedisLossBook:
    """Records, hands over and reports the losses of the bus's groups."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.groups_key = f"{prefix}bus:lost-groups"
        self._merge = client.register_script(_MERGE)

    def _untaken(self, group: str) -> str:
        return f"{self.prefix}bus:lost:{group}"

    def _total(self, group: str) -> str:
        return f"{self.prefix}bus:lost-total:{group}"

    async def record(self, group: str, loss: Loss) -> None:
        args: list[Any] = [loss.points]
        for symbol, (first, last) in loss.ranges.items():
            args += [symbol, first, last]
        await self._merge(keys=[self._untaken(group), self._total(group)], args=args)
        await self.client.sadd(self.groups_key, group)

    async def take(self, group: str) -> Loss | None:
        """What `group` lost since the last take (read and cleared at once), or None."""
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.hgetall(self._untaken(group))
            pipe.delete(self._untaken(group))
            fields, _ = await pipe.execute()
        loss = _loss(fields or {})
        return loss if loss.points else None

    async def views(self) -> dict[str, LossView]:
        groups = sorted(
            g.decode() if isinstance(g, bytes) else str(g)
            for g in await self.client.smembers(self.groups_key)
        )
        views: dict[str, LossView] = {}
        for group in groups:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.hgetall(self._total(group))
                pipe.hget(self._untaken(group), POINTS)
                total_fields, untaken = await pipe.execute()
            total = _loss(total_fields or {})
            if not total.points:
                continue
            views[group] = LossView(
                points=total.points,
                symbols=len(total.ranges),
                first=total.first * 1000,
                last=total.last * 1000,
                awaiting_backfill=int(untaken or 0),
            )
        return views
