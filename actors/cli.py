"""`binance-stats`: run (embedded), tree (supervisord), actor NAME (one supervisord program),
simulate, seed-symbols, backfill, create-admin."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from actors.config import ROLE_CHOICES, Settings, describe, load_or_exit
from actors.core.runtime import run_process, serve
from actors.logs import setup_logging
from actors.simulator.activity import DEFAULT_PROFILE, PROFILES

log = logging.getLogger("actors.cli")

ACTOR_NAMES = ROLE_CHOICES  # actors.topology.roles.ROLES declares them
TREE_ACTIONS = ("start", "stop", "status", "restart", "targets", "conf")


def _shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError("expected K/N, e.g. 0/2") from None
    if not (n >= 1 and 0 <= k < n):
        raise argparse.ArgumentTypeError("expected 0 <= K < N")
    return k, n


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="binance-stats", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="the whole tree in one process (embedded mode)")
    run.add_argument(
        "--simulate", action="store_true", help="run the local exchange in-process and feed from it"
    )
    run.add_argument("--symbols", type=int, default=242, help="simulated symbols (with --simulate)")
    run.add_argument(
        "--activity",
        choices=PROFILES,
        default=DEFAULT_PROFILE,
        help="simulated trade activity (with --simulate): realistic (default) or uniform",
    )
    tree = sub.add_parser("tree", help="tree mode: this host's programs under supervisord")
    tree.add_argument("action", choices=TREE_ACTIONS)
    tree.add_argument("--dir", type=Path, default=Path("."), help="the tree's root (default: .)")
    tree.add_argument(
        "--foreground", action="store_true", help="start: supervisord stays in the foreground"
    )
    tree.add_argument(
        "--portable", action="store_true", help="conf: the repository's supervisor.conf"
    )
    actor = sub.add_parser("actor", help="one program of supervisor.conf")
    actor.add_argument("name", choices=ACTOR_NAMES)
    actor.add_argument(
        "--shard",
        "--instance",
        dest="instance",
        type=_shard,
        default=(0, 1),
        help="feed shard K/N, or front K of N on this host",
    )
    simulate = sub.add_parser("simulate", help="the local Binance exchange simulator")
    from actors.simulator.cli import configure as configure_simulator

    configure_simulator(simulate)
    sub.add_parser(
        "seed-symbols", help="load TRADING USDT spot symbols from exchangeInfo into the store"
    )
    backfill = sub.add_parser(
        "backfill", help="import the last HOURS of 1 s klines into the store (resumable)"
    )
    from actors.history.command import configure as configure_backfill

    configure_backfill(backfill)
    admin = sub.add_parser(
        "create-admin",
        help="create an admin account (the password from --password-stdin, $ADMIN_PASSWORD "
        "or a prompt; never an argument, which ps and shell history would show)",
    )
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", default="Admin")
    admin.add_argument(
        "--promote", action="store_true", help="make an existing non-admin account admin"
    )
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin's first line"
    )
    admin.add_argument("--password", help=argparse.SUPPRESS)  # refused with a reason
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "tree":
        from actors.treectl.control import tree_command

        settings = load_or_exit(dotenv=args.dir / ".env")  # the .env its programs will read
        sys.exit(
            tree_command(
                settings, args.action, args.dir, foreground=args.foreground, portable=args.portable
            )
        )
    settings = load_or_exit()
    program = args.command
    if args.command == "actor":
        from actors.topology.roles import role

        program = role(args.name).program(args.instance)
    setup_logging(settings.log_level, settings.log_format, program)
    if settings.jwt_secret_generated and args.command in ("run", "actor"):
        log.warning(
            "JWT_ACCESS_SECRET is not set: using an ephemeral secret (tokens die with the process)"
        )
    status = run_process(lambda: _dispatch(args, settings))
    sys.exit(status)


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        from actors.topology.modes import build_embedded

        log.info("embedded mode: %s", describe(settings))
        return await serve(
            build_embedded(
                settings,
                simulate=args.simulate,
                simulated_symbols=args.symbols,
                simulated_activity=args.activity,
            )
        )
    if args.command == "actor":
        from actors.topology.modes import build_program

        return await serve(build_program(settings, args.name, args.instance))
    if args.command == "simulate":
        from actors.simulator.cli import main as simulate_main

        return await simulate_main(args)
    if args.command == "seed-symbols":
        from actors.feed.symbols import seed_symbols_command

        return await seed_symbols_command(settings)
    if args.command == "backfill":
        from actors.history.command import backfill_command

        return await backfill_command(settings, args.hours, args.symbols, args.workers, args.end)
    if args.command == "create-admin":
        from actors.front.admin import create_admin_command, read_admin_password

        if args.password is not None:
            print(
                "binance-stats create-admin: --password is not accepted (ps and shell history "
                "would show it): use --password-stdin, ADMIN_PASSWORD or the prompt",
                file=sys.stderr,
            )
            return 2
        password = read_admin_password(args.password_stdin)
        return await create_admin_command(
            settings, args.email, password, args.name, promote=args.promote
        )
    return 2
