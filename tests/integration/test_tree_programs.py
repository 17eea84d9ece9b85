"""What each supervisord program is made of, and how a program without Redis refuses to start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from actors.topology.modes import build_program
from actors.topology.roles import metrics_port
from tests.helpers import make_settings


@pytest.mark.parametrize(
    ("name", "shard", "children"),
    [
        (
            "feed",
            (0, 2),
            ["metrics", "store", "bus", "redis", "feed-status", "listing-watcher", "feed-0"],
        ),
        ("feed", (1, 2), ["metrics", "store", "bus", "redis", "feed-status", "feed-1"]),
        ("cache-writer", (0, 1), ["metrics", "bus", "cache", "cache-writer"]),
        ("db-writer", (0, 1), ["metrics", "store", "bus", "db-writer"]),
        ("front", (0, 1), ["metrics", "store", "bus", "cache", "redis", "front", "hub"]),
    ],
)
def test_each_program_starts_its_resources_before_its_actors(
    name: str, shard: tuple[int, int], children: list[str], tmp_path: Path
) -> None:
    settings = make_settings(
        REDIS_URL="redis://127.0.0.1:6379/0", DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"
    )
    program = build_program(settings, name, shard)
    assert program.child_names() == children  # stopped in reverse: actors first, then resources


def test_metrics_ports_do_not_collide() -> None:
    settings = make_settings(METRICS_BASE_PORT="9400")
    ports = [metrics_port(settings, n, (0, 1)) for n in ("front", "cache-writer", "db-writer")]
    ports += [metrics_port(settings, "feed", (k, 64)) for k in range(64)]
    assert len(set(ports)) == len(ports) and min(ports) == 9400


def test_tree_mode_without_redis_is_one_line_and_status_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_")}
    result = subprocess.run(
        [sys.executable, "-m", "actors", "actor", "db-writer"],
        env=env | {"JWT_ACCESS_SECRET": "x" * 40},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "binance-stats actor: tree mode needs Redis: set REDIS_URL or REDIS_HOST"
    ]
