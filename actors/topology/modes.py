"""The two ways to run the roles, and the only children one has that the other lacks.

Embedded (`binance-stats run`): every role under one supervisor, in-memory wiring.
Tree (`binance-stats actor NAME`): one role per supervisord program, Redis wiring.
Children start in list order and stop in reverse: the feed stops first, the DbWriter flushes
late, the resources (store, bus, cache) close last.
"""

from __future__ import annotations

import dataclasses
import socket
from dataclasses import dataclass

from actors.config import Settings
from actors.core.resource import Resource
from actors.core.supervisor import ChildSpec, Supervisor
from actors.simulator.activity import DEFAULT_PROFILE
from actors.simulator.exchange import ExchangeSimulator
from actors.topology.roles import ROLES, Shard, metrics_port, role
from actors.topology.wiring import MemoryWiring, RedisWiring


@dataclass(frozen=True)
class ModeOnly:
    """A child only one mode has, and why the other does without it."""

    mode: str  # "embedded" or "tree"
    reason: str


# tests/unit/test_topology.py fails when a mode gains a child the other lacks and is not here
MODE_ONLY: dict[str, ModeOnly] = {
    "simulator": ModeOnly(
        "embedded",
        "`run --simulate` hosts the exchange simulator in-process; a tree points BINANCE_*_URL "
        "at an exchange (or at `binance-stats simulate` run on its own)",
    ),
    "feed": ModeOnly(
        "embedded",
        "the supervisor of the feed shards in one process; in tree mode each shard is its own "
        "process and supervisord is that supervisor",
    ),
    "metrics": ModeOnly(
        "tree",
        "each program serves its own Prometheus port; embedded mode serves /metrics on the "
        "front's port",
    ),
    "redis": ModeOnly(
        "tree",
        "the client for the feed heartbeats, which cross processes through Redis; in one "
        "process the front reads the feed's status board directly",
    ),
    "feed-status": ModeOnly(
        "tree",
        "publishes a feed program's status board to Redis for the fronts in other processes",
    ),
}


# The in-process exchange lives and dies with this process, so its klines only ever serve the
# feed's reconnect gaps: 15 minutes of 1 s bars (about 52 B each, 11 MB for 242 symbols, full
# after 15 minutes) rather than hours that grow memory 45 MB an hour until they are full.
SIMULATED_HISTORY_SECONDS = 15 * 60


def _loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def build_embedded(
    settings: Settings,
    *,
    simulate: bool = False,
    simulated_symbols: int = 242,
    simulated_activity: str = DEFAULT_PROFILE,
) -> Supervisor:
    """The whole tree in one process; `simulate` runs the local exchange in-process too."""
    head: list[ChildSpec] = []
    if simulate:
        sim = ExchangeSimulator(
            symbols=simulated_symbols,
            history_seconds=SIMULATED_HISTORY_SECONDS,
            activity=simulated_activity,
        )
        port = _loopback_port()
        head.append(
            ChildSpec(Resource("simulator", lambda: sim.start("127.0.0.1", port), sim.stop))
        )
        settings = dataclasses.replace(
            settings,
            binance_ws_url=f"ws://127.0.0.1:{port}",
            binance_rest_url=f"http://127.0.0.1:{port}",
        )
    wiring = MemoryWiring(settings)
    roles: list[ChildSpec] = []
    for each in ROLES:
        children = [child for shard in each.shards(settings) for child in each.build(wiring, shard)]
        if each.sharded:  # one supervisor for the shards, as supervisord is in tree mode
            roles.append(ChildSpec(Supervisor(each.name, children, max_restarts=10, period=60.0)))
        else:
            roles += children
    return Supervisor("embedded", head + wiring.resources + roles, max_restarts=20, period=60.0)


def build_program(settings: Settings, name: str, shard: Shard = (0, 1)) -> Supervisor:
    """One tree program: role `name` (shard K/N of the feed) over Redis."""
    found = role(name)
    wiring = RedisWiring(settings, metrics_port(settings, name, shard))
    children = found.build(wiring, shard)
    return Supervisor(found.program(shard), wiring.resources + children)
