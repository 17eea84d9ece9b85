"""Embedded and tree mode are built from the same role declarations: every child one mode has
and the other lacks is in MODE_ONLY with its reason, and MODE_ONLY holds nothing stale."""

from __future__ import annotations

from pathlib import Path

from actors.cli import ACTOR_NAMES
from actors.config import Settings
from actors.core.supervisor import Restart, Supervisor
from actors.sinks.consumer import GroupConsumer
from actors.topology.modes import MODE_ONLY, build_embedded, build_program
from actors.topology.roles import ROLE_NAMES, ROLES
from tests.helpers import make_settings


def _children(root: Supervisor) -> list[str]:
    """Every child's name under `root`, nested supervisors and their children included."""
    names: list[str] = []
    for spec in root.specs:
        names.append(spec.child.name)
        if isinstance(spec.child, Supervisor):
            names += _children(spec.child)
    return names


def _settings(tmp_path: Path, shards: int = 3) -> Settings:
    return make_settings(
        REDIS_URL="redis://127.0.0.1:6379/0",
        DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}",
        FEED_SHARDS=str(shards),
    )


def _modes(settings: Settings) -> dict[str, set[str]]:
    embedded = build_embedded(settings, simulate=True, simulated_symbols=2)
    tree: set[str] = set()
    for role in ROLES:
        for shard in role.shards(settings):
            tree.update(_children(build_program(settings, role.name, shard)))
    return {"embedded": set(_children(embedded)), "tree": tree}


def test_a_child_only_one_mode_has_is_declared_with_its_reason(tmp_path: Path) -> None:
    children = _modes(_settings(tmp_path))
    only = {
        "embedded": children["embedded"] - children["tree"],
        "tree": children["tree"] - children["embedded"],
    }
    for mode, names in only.items():
        for name in sorted(names):
            assert name in MODE_ONLY, f"{name} runs only in {mode} mode: say why in MODE_ONLY"
            assert MODE_ONLY[name].mode == mode, f"{name} is declared for the other mode"
            assert MODE_ONLY[name].reason.strip()
    stale = set(MODE_ONLY) - only["embedded"] - only["tree"]
    assert not stale, f"MODE_ONLY names children both modes have (or none): {stale}"


def test_every_feed_shard_and_role_runs_in_both_modes(tmp_path: Path) -> None:
    children = _modes(_settings(tmp_path, shards=3))
    for mode in ("embedded", "tree"):
        for name in ("feed-0", "feed-1", "feed-2", "listing-watcher", "db-writer", "cache-writer"):
            assert name in children[mode], (mode, name)
        assert {"front", "hub", "store", "bus", "cache"} <= children[mode]


def test_the_listing_watcher_runs_once_and_the_cli_knows_every_role(tmp_path: Path) -> None:
    names = [spec.child.name for spec in build_program(_settings(tmp_path), "feed", (0, 3)).specs]
    assert names.count("listing-watcher") == 1
    other = build_program(_settings(tmp_path), "feed", (1, 3)).specs
    assert "listing-watcher" not in [spec.child.name for spec in other]
    program = build_program(_settings(tmp_path), "feed", (0, 3))
    assert all(spec.restart is Restart.PERMANENT for spec in program.specs)
    assert set(ACTOR_NAMES) == set(ROLE_NAMES)


def test_the_writers_join_their_groups_under_this_hosts_name(tmp_path: Path) -> None:
    import socket

    settings = _settings(tmp_path)
    for name in ("db-writer", "cache-writer"):
        writer = build_program(settings, name).specs[-1].child
        assert isinstance(writer, GroupConsumer)
        assert writer.consumer == f"{name}@{socket.gethostname()}"
