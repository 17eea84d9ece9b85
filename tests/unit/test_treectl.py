"""What `binance-stats tree` writes: the supervisord configuration for a host's ROLES, FRONTS
and FEED_SHARDS, the repository's supervisor.conf from the same renderer, and the settings."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from actors.config import ROLE_CHOICES
from actors.topology.roles import ROLE_NAMES, metrics_port
from actors.treectl.conf import render_host, render_portable
from actors.treectl.programs import host_groups
from tests.helpers import make_settings

ROOT = Path(__file__).resolve().parents[2]


def _sections(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


def test_the_repository_supervisor_conf_is_the_rendered_one() -> None:
    committed = (ROOT / "supervisor.conf").read_text()
    assert committed == render_portable(), "regenerate: binance-stats tree conf --portable"
    programs = [name for name in _sections(committed) if name.startswith("program:")]
    assert programs == [f"program:{name}" for name in ROLE_NAMES]


def test_a_host_runs_only_the_programs_of_its_roles(tmp_path: Path) -> None:
    settings = make_settings(ROLES="front", FRONTS="2", PORT="8100", METRICS_BASE_PORT="9500")
    sections = _sections(render_host(settings, tmp_path))
    assert [name for name in sections if name.startswith("program:")] == ["program:front"]
    front = sections["program:front"]
    assert front["numprocs"] == "2" and front["process_name"] == "front_%(process_num)02d"
    assert front["command"].endswith("actor front --instance %(process_num)d/2")
    assert front["directory"] == str(tmp_path.resolve())
    assert sections["unix_http_server"]["file"] == f"{tmp_path.resolve()}/run/supervisor.sock"
    [group] = host_groups(settings)
    assert group.addresses() == ["front:front_00", "front:front_01"]
    assert [p.metrics_port for p in group.processes] == [9500, 9503]


def test_feed_hosts_number_their_shards_and_one_front_keeps_its_plain_name(tmp_path: Path) -> None:
    settings = make_settings(ROLES="feed, front", FEED_SHARDS="3")
    sections = _sections(render_host(settings, tmp_path))
    assert sections["program:feed"]["numprocs"] == "3"
    assert sections["program:feed"]["command"].endswith("--shard %(process_num)d/3")
    assert "numprocs" not in sections["program:front"]
    names = [a for group in host_groups(settings) for a in group.addresses()]
    assert names == ["front", "feed:feed_00", "feed:feed_01", "feed:feed_02"]


def test_a_feed_host_may_run_a_range_of_the_shards(tmp_path: Path) -> None:
    settings = make_settings(ROLES="feed", FEED_SHARDS="8", FEED_HOST_SHARDS="4-6")
    feed = _sections(render_host(settings, tmp_path))["program:feed"]
    assert (feed["numprocs"], feed["numprocs_start"]) == ("3", "4")
    assert feed["command"].endswith("--shard %(process_num)d/8")
    [group] = host_groups(settings)
    assert group.addresses() == ["feed:feed_04", "feed:feed_05", "feed:feed_06"]
    assert [p.metrics_port for p in group.processes] == [9414, 9415, 9416]


def test_every_process_of_a_full_host_has_its_own_metrics_port() -> None:
    settings = make_settings(FEED_SHARDS="64", FRONTS="7")
    ports = [p.metrics_port for g in host_groups(settings) for p in g.processes]
    assert len(ports) == 64 + 7 + 2 and len(set(ports)) == len(ports)
    assert metrics_port(settings, "front", (0, 7)) == settings.metrics_base_port


def test_roles_defaults_and_order() -> None:
    assert set(ROLE_CHOICES) == set(ROLE_NAMES) and ROLE_CHOICES == ROLE_NAMES
    assert make_settings().roles == ROLE_NAMES
    assert make_settings(ROLES="front,feed,front").roles == ("front", "feed")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROLES", "feed,frontend"),
        ("ROLES", ","),
        ("FRONTS", "0"),
        ("FRONTS", "8"),
        ("FEED_HOST_SHARDS", "3-1"),
        ("FEED_HOST_SHARDS", "0-1"),  # FEED_SHARDS is 1: shard 1 does not exist
    ],
)
def test_a_bad_roles_or_fronts_is_one_line_and_status_2(name: str, value: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "actors", "tree", "conf"],
        env={"PATH": "/usr/bin:/bin", name: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert name in line and value in line
