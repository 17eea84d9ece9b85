"""Prometheus file-based discovery targets for this host's programs (grafana/targets/*.json)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from actors.config import Settings
from actors.treectl.programs import host_groups, metrics_address


def host_targets(settings: Settings) -> list[dict[str, object]]:
    """One entry per process: its metrics address, labelled with its program and host."""
    address = metrics_address(settings)
    host = socket.gethostname()
    return [
        {
            "targets": [f"{address}:{process.metrics_port}"],
            "labels": {"program": process.name, "host": host},
        }
        for group in host_groups(settings)
        for process in group.processes
    ]


def render_targets(settings: Settings) -> str:
    return (
        "[\n" + ",\n".join("  " + json.dumps(entry) for entry in host_targets(settings)) + "\n]\n"
    )


def write_targets(settings: Settings, path: Path) -> None:
    """Write the file atomically: Prometheus re-reads it whenever it changes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(render_targets(settings))
    temporary.replace(path)
