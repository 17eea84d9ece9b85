"""ListingWatcher: the tracked pairs follow the exchange's listings (docs/exchange.md §7).

Every `interval` seconds (`LISTING_CHECK_SECONDS`, and at once on start, which also seeds a
fresh store) `GET /api/v3/exchangeInfo` (weight 20, at the listing priority of the `RestGate`)
gives the TRADING USDT spot pairs. A new one is added active, one that left TRADING is marked
inactive (its history stays), one that returns is reactivated, unless an admin deactivated it:
an admin's decision wins. Each change is one log line and `bs_feed_listing_changes_total`; the
readers of this process are told at once (`REFRESH`), those of other processes see the store's
`symbols_version()` within their poll. A failed or implausible check is one warning line and
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp
from redis.exceptions import RedisError

from actors import metrics
from actors.core.actor import Actor
from actors.core.backoff import Backoff
from actors.core.service import Service
from actors.feed.listed import ListedSymbols
from actors.feed.reader import REFRESH
from actors.feed.rest_gate import RestGate
from actors.feed.symbols import DISCOVERY_FAULTS, discover_symbols
from actors.logs import one_line
from actors.messages import NewSymbol, SymbolRecord
from actors.store.base import Store, StoreError

# A check that would delist more than this share of the active pairs at once is taken for a
# broken answer (the exchange delists a few pairs a month, never half of them).
MAX_DELIST_SHARE = 0.5
MIN_DELIST_GUARD = 5


@dataclass
class ListingPlan:
    """What one check changes in the store."""

    new: list[NewSymbol] = field(default_factory=list)  # not in the store yet
    relisted: list[str] = field(default_factory=list)  # inactive (not by an admin), TRADING
    delisted: list[str] = field(default_factory=list)  # active, no longer TRADING
    held: list[str] = field(default_factory=list)  # TRADING, but an admin deactivated it


def plan_listing(records: Sequence[SymbolRecord], listed: Sequence[NewSymbol]) -> ListingPlan:
    """Compare the store with the exchange's TRADING USDT spot pairs (pure)."""
    stored = {r.symbol: r for r in records}
    names = {s.symbol for s in listed}
    plan = ListingPlan()
    for pair in listed:
        record = stored.get(pair.symbol)
        if record is None:
            plan.new.append(pair)
        elif record.admin_inactive:
            plan.held.append(pair.symbol)
        elif not record.is_active:
            plan.relisted.append(pair.symbol)
    plan.delisted = sorted(r.symbol for r in records if r.is_active and r.symbol not in names)
    return plan


def implausible(plan: ListingPlan, active: int) -> bool:
    """Too many delistings at once to be true."""
    return len(plan.delisted) > max(MIN_DELIST_GUARD, active * MAX_DELIST_SHARE)


class ListingWatcher(Service):
    """Checks exchangeInfo every `interval` seconds and applies the listing changes."""

    def __init__(
        self,
        store: Store,
        rest_url: str,
        rest_gate: RestGate,
        listed: ListedSymbols,
        *,
        interval: float = 300.0,
        notify: Sequence[Actor[str]] = (),
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__("listing-watcher")
        self.store = store
        self.rest_url = rest_url
        self.rest_gate = rest_gate
        self.listed = listed
        self.interval = interval
        self.notify = notify
        self.backoff = backoff or Backoff(base=1.0, cap=60.0)
        self.checks = 0

    async def run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while not self.should_stop:
                if await self.check(session):
                    self.backoff.reset()
                    delay = self.interval
                else:  # retried sooner than the next check, never more often than backoff
                    delay = min(self.interval, self.backoff.next())
                if await self.sleep(delay):
                    return

    async def check(self, session: aiohttp.ClientSession) -> bool:
        """One check; False (and a warning line, nothing changed) when it failed."""
        self.checks += 1
        try:
            listed = await discover_symbols(session, self.rest_url, self.rest_gate)
        except DISCOVERY_FAULTS as exc:
            return self._failed("failed", f"exchangeInfo check failed ({one_line(exc)})")
        if not listed:
            return self._failed("garbage", "exchangeInfo lists no TRADING USDT spot pair")
        try:
            records = await self.store.list_symbols()
            plan = plan_listing(records, listed)
            if implausible(plan, sum(r.is_active for r in records)):
                self.log.warning(
                    "exchangeInfo would delist %d of %d active pairs at once (e.g. %s): "
                    "taken for a broken answer, no pair delisted",
                    len(plan.delisted),
                    sum(r.is_active for r in records),
                    plan.delisted[0],
                )
                metrics.FEED_LISTING_CHECKS.labels("implausible").inc()
                plan.delisted = []
            changed = await self._apply(plan, seeding=not records)
        except StoreError as exc:
            return self._failed("store_error", f"listing check: store error ({exc})")
        try:
            await self.listed.publish([s.symbol for s in listed])
        except RedisError as exc:
            self.log.warning("listing check: cannot publish the listed pairs: %s", exc)
        metrics.FEED_LISTING_CHECKS.labels("ok").inc()
        if changed:
            for reader in self.notify:  # don't make the feed wait for its next poll
                reader.try_tell(REFRESH)
        return True

    async def _apply(self, plan: ListingPlan, *, seeding: bool) -> bool:
        if plan.new:
            await self.store.upsert_symbols(plan.new)
            metrics.FEED_LISTING_CHANGES.labels("listed").inc(len(plan.new))
            if seeding:
                self.log.info("seeded %d TRADING USDT spot pairs from exchangeInfo", len(plan.new))
            else:
                for pair in plan.new:
                    self.log.info("listed %s: a new TRADING USDT spot pair, streamed", pair.symbol)
        relisted = await self.store.set_listed(plan.relisted, True)
        for name in relisted:
            metrics.FEED_LISTING_CHANGES.labels("relisted").inc()
            self.log.info("relisted %s: TRADING again, streamed again", name)
        delisted = await self.store.set_listed(plan.delisted, False)
        for name in delisted:
            metrics.FEED_LISTING_CHANGES.labels("delisted").inc()
            self.log.info("delisted %s: no longer TRADING; inactive, history kept", name)
        return bool(plan.new or relisted or delisted)

    def _failed(self, outcome: str, what: str) -> bool:
        metrics.FEED_LISTING_CHECKS.labels(outcome).inc()
        self.log.warning("%s: the tracked pairs are left as they are", what)
        return False
