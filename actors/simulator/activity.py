"""Trade activity profiles: how often each simulated symbol trades (docs/exchange.md §8).

The real exchange pushes a symbol's miniTicker only in seconds in which it traded, and its
USDT pairs span a long tail: the majors trade many times every second, the quietest pairs go
a minute or more without a trade (docs/exchange.md §2.4, [S5]). `realistic` models that with a
per-symbol chance of trading in a given second, falling log-linearly with the symbol's rank
(catalogue order, which is roughly market-cap order) from 1 for the busiest few (2 %, at least
three) to 1/60 for the quietest; `uniform` makes every symbol trade every second (the pre-issue-11 behaviour,
which throughput tests and benchmarks ask for explicitly).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from actors.simulator.catalogue import Listing

PROFILES = ("realistic", "uniform")
DEFAULT_PROFILE = "realistic"
BUSY_SHARE = 0.02  # the top 2 % of pairs trade every second ...
MIN_BUSY = 3  # ... and at least BTC, ETH and BNB
QUIETEST_CHANCE = 1 / 60  # the quietest pair trades in one second out of 60 on average
OTHER_QUOTES_CHANCE = 0.25  # pairs the feed does not track: mid-table activity


def check_profile(profile: str) -> str:
    """`profile` if it is known; ValueError naming the choices otherwise."""
    if profile not in PROFILES:
        raise ValueError(f"activity must be one of {', '.join(PROFILES)}, not {profile!r}")
    return profile


def second_chances(listings: Sequence[Listing], profile: str) -> list[float]:
    """Per listing, the chance that it trades in a given second (1.0: every second)."""
    check_profile(profile)
    if profile == "uniform":
        return [1.0] * len(listings)
    usdt = [listing for listing in listings if listing.eligible]
    rank = {listing.symbol: index for index, listing in enumerate(usdt)}
    return [
        rank_chance(rank[listing.symbol], len(usdt))
        if listing.symbol in rank
        else OTHER_QUOTES_CHANCE
        for listing in listings
    ]


def rank_chance(rank: int, count: int) -> float:
    """Chance of a trade per second of the pair at 0-based `rank` among `count` USDT pairs."""
    busy = max(MIN_BUSY, round(count * BUSY_SHARE))
    if rank < busy or count <= busy:
        return 1.0
    tail = count - busy
    position = (rank - busy + 1) / tail  # (0, 1]: the quietest pair is at 1
    return math.exp(position * math.log(QUIETEST_CHANCE))


def step_chance(second_chance: float, rate: float) -> float:
    """The chance per step at `rate` steps a second that keeps `second_chance` per second."""
    if second_chance >= 1.0:
        return 1.0
    return float(1.0 - (1.0 - second_chance) ** (1.0 / rate))
