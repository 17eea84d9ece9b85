"""The supervisord configuration of tree mode, rendered from the role declarations.

Two forms from one renderer: the portable `supervisor.conf` at the repository's root (every
role, one front, paths from `%(here)s`, FEED_SHARDS from supervisord's environment), and the
host's `run/tree.conf` that `binance-stats tree start` writes (its ROLES, FEED_SHARDS and
FRONTS, absolute paths). Both put the control socket at run/supervisor.sock, so supervisorctl
and `binance-stats tree status` reach either.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from actors.config import Settings
from actors.topology.roles import ROLES, Role
from actors.treectl.programs import host_groups

PORTABLE_HEADER = """\
; binance-stats in tree mode: one supervisord, one program per role (docs/operations.md).
; Generated from actors/topology/roles.py (`binance-stats tree conf --portable`); a test
; checks that this file matches it.
;
;   binance-stats tree start             the same programs, chosen by ROLES/FEED_SHARDS/FRONTS
;                                         (writes run/tree.conf and grafana/targets/tree.json)
; or by hand, every role and one front:
;   FEED_SHARDS=2 supervisord -c supervisor.conf        (add -n to stay in the foreground)
;   supervisorctl -c supervisor.conf status | restart front | stop all | shutdown
;
; Every path derives from %(here)s (this file's directory), so two checkouts run side by side;
; run/ and logs/ are in the repository. FEED_SHARDS must be set in supervisord's environment
; (1..64): it is the number of feed processes. Every program inherits supervisord's
; environment and reads the same variables (and ./.env) as embedded mode; tree mode needs
; Redis (REDIS_URL or REDIS_HOST). Each program serves Prometheus metrics on
; METRICS_HOST:METRICS_BASE_PORT + offset: front +0 (front K of a host +2+K), cache-writer
; +1, db-writer +2, feed shard K +10+K (grafana/prometheus.yml scrapes them).
"""

CONTROL = """\
[unix_http_server]
file={run}/supervisor.sock
chmod=0700

[supervisorctl]
serverurl=unix://{run}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisord]
logfile={logs}/supervisord.log
logfile_maxbytes=20MB
logfile_backups=3
pidfile={run}/supervisord.pid
childlogdir={logs}
directory={here}
loglevel=info
"""

PROGRAM = """\
; {about}
[program:{name}]
command={command} actor {name}{args}
{numbering}directory={here}
priority={priority}
autostart=true
autorestart=true
startsecs=2
startretries=20
stopsignal=TERM
stopwaitsecs={stop_wait}
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={logs}/{log}.log
stdout_logfile_maxbytes=50MB
stdout_logfile_backups=5
"""


@dataclass(frozen=True)
class Section:
    """A [program:x] section: the role and its process count (a number or a %(ENV_x)s)."""

    role: Role
    numprocs: str
    numbered: bool
    first: int = 0  # numprocs_start: a feed host running shards K..L starts at K
    total: str = "%(numprocs)d"  # N of --shard K/N


def _program(section: Section, *, here: str, command: str) -> str:
    role = section.role
    args, numbering, log = "", "", role.name
    if section.numbered:
        flag = "--shard" if role.sharded else "--instance"
        args = f" {flag} %(process_num)d/{section.total}"
        numbering = (
            f"process_name={role.name}_%(process_num)02d\n"
            f"numprocs={section.numprocs}\nnumprocs_start={section.first}\n"
        )
        log = f"{role.name}-%(process_num)02d"
    return PROGRAM.format(
        about=role.about,
        name=role.name,
        command=command,
        args=args,
        numbering=numbering,
        here=here,
        priority=role.priority,
        stop_wait=role.stop_wait,
        logs=f"{here}/logs",
        log=log,
    )


def _render(header: str, sections: list[Section], *, here: str, command: str) -> str:
    parts = [header, CONTROL.format(run=f"{here}/run", logs=f"{here}/logs", here=here)]
    parts += [_program(section, here=here, command=command) for section in sections]
    return "\n".join(parts)


def render_portable() -> str:
    """The repository's supervisor.conf: every role, one front, FEED_SHARDS from the env."""
    sections = [
        Section(role, "%(ENV_FEED_SHARDS)s" if role.sharded else "1", role.sharded)
        for role in ROLES
    ]
    return _render(PORTABLE_HEADER, sections, here="%(here)s", command="binance-stats")


def command_path() -> str:
    """The binance-stats script next to this interpreter (supervisord may not have its PATH)."""
    beside = Path(sys.executable).parent / "binance-stats"
    if beside.exists():
        return str(beside)
    return shutil.which("binance-stats") or "binance-stats"


def _shards_here(settings: Settings) -> str:
    if settings.feed_host_shards is None:
        return "all"
    first, last = settings.feed_host_shards
    return f"{first}-{last}"


def render_host(settings: Settings, root: Path) -> str:
    """This host's run/tree.conf: the programs of its ROLES, numbers from its settings."""
    sections = [
        Section(
            group.role,
            str(len(group.processes)),
            group.numbered,
            first=group.first,
            total=str(group.total),
        )
        for group in host_groups(settings)
    ]
    header = (
        "; Written by `binance-stats tree start` for this host from its settings "
        f"(ROLES={','.join(settings.roles)}, FEED_SHARDS={settings.feed_shards}, "
        f"FEED_HOST_SHARDS={_shards_here(settings)}, FRONTS={settings.fronts});\n; rewritten on every start: change the settings, "
        "not this file (docs/operations.md).\n"
    )
    return _render(header, sections, here=str(root.resolve()), command=command_path())
