"""The supervisord programs a host runs, from the settings: one group per role in ROLES."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from actors.config import Settings
from actors.topology.roles import ROLES, Role, metrics_port


@dataclass(frozen=True)
class Process:
    """One process of a group: supervisord's name for it and the port it serves metrics on."""

    name: str  # as supervisorctl shows it inside its group: feed_00, front, front_01, db-writer
    metrics_port: int


@dataclass(frozen=True)
class Group:
    """One [program:x] section: a role and its instances on this host."""

    role: Role
    processes: tuple[Process, ...]
    first: int = 0  # the first instance's K (a feed host may run shards K..L of N)
    total: int = 1  # N

    @property
    def numbered(self) -> bool:
        """Several processes (feed shards, fronts): supervisord names them x_00, x_01, ..."""
        return self.role.sharded or len(self.processes) > 1

    def addresses(self) -> list[str]:
        """How supervisorctl addresses each process: `feed:feed_00`, or just `db-writer`."""
        if not self.numbered:
            return [self.role.name]
        return [f"{self.role.name}:{process.name}" for process in self.processes]


def host_groups(settings: Settings) -> list[Group]:
    """The groups of this host, in ROLES order (supervisord starts them by priority)."""
    groups = []
    for role in ROLES:
        if role.name not in settings.roles:
            continue
        n = role.count(settings)
        numbered = role.sharded or n > 1
        first, last = 0, n - 1
        if role.sharded and settings.feed_host_shards is not None:
            first, last = settings.feed_host_shards  # this host's share of the shards
        processes = tuple(
            Process(
                f"{role.name}_{k:02d}" if numbered else role.name,
                metrics_port(settings, role.name, (k, n)),
            )
            for k in range(first, last + 1)
        )
        groups.append(Group(role, processes, first=first, total=n))
    return groups


def metrics_address(settings: Settings) -> str:
    """Where Prometheus reaches this host's metrics: METRICS_HOST, or the host's name when
    the listeners bind every address."""
    if ipaddress.ip_address(settings.metrics_host).is_unspecified:
        return socket.gethostname()
    return settings.metrics_host
