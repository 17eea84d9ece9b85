"""`binance-stats simulate`: options and entry point of the local exchange."""

from __future__ import annotations

import argparse
import asyncio
import signal

from actors.simulator.activity import DEFAULT_PROFILE, PROFILES
from actors.simulator.exchange import ExchangeSimulator
from actors.simulator.faults import Faults


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("expected a fraction within [0, 1]")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("expected a positive number")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("expected seconds >= 0")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the simulator's options to the `simulate` sub-command."""
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=9443, help="listen port, 0 for any free one (default 9443)"
    )
    parser.add_argument(
        "--symbols", type=int, default=242, help="eligible USDT pairs (default 242)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random-walk seed (default 1)")
    parser.add_argument(
        "--rate",
        type=_positive,
        default=1.0,
        help="trades (events per stream) per second per symbol; 1 is Binance's ticker pace",
    )
    parser.add_argument(
        "--ping-interval", type=_positive, default=20.0, help="server ping period, s (default 20)"
    )
    parser.add_argument(
        "--pong-timeout", type=_positive, default=60.0, help="pong deadline, s (default 60)"
    )
    parser.add_argument(
        "--weight-limit", type=int, default=6000, help="REST weight per minute (default 6000)"
    )
    parser.add_argument(
        "--history-seconds", type=int, default=6 * 3600, help="1 s bars kept (default 6 h)"
    )
    parser.add_argument(
        "--activity",
        choices=PROFILES,
        default=DEFAULT_PROFILE,
        help="realistic: a long tail of quiet pairs (default); uniform: every pair every second",
    )
    parser.add_argument(
        "--prehistory-seconds",
        type=int,
        default=0,
        metavar="SECONDS",
        help="trade this many seconds before start, so klines reach back (default 0)",
    )
    parser.add_argument(
        "--connection-limit",
        type=int,
        default=300,
        help="new WebSocket connections per IP per 5 minutes before HTTP 429 (default 300)",
    )
    faults = parser.add_argument_group("fault injection")
    faults.add_argument(
        "--drop-every",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="close every WebSocket abruptly every SECONDS",
    )
    faults.add_argument(
        "--shutdown-every",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="send serverShutdown to every connection every SECONDS",
    )
    faults.add_argument(
        "--shutdown-grace",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="close connections still open SECONDS after serverShutdown (default 30)",
    )
    faults.add_argument("--stall-pings", action="store_true", help="never ping clients")
    faults.add_argument(
        "--stall-data", action="store_true", help="keep connections alive but send no data"
    )
    faults.add_argument(
        "--malformed-rate",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="replace this fraction of data frames with malformed ones",
    )
    faults.add_argument(
        "--rest-429-every",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="answer REST with 429 + Retry-After for --rest-429-for seconds every SECONDS",
    )
    faults.add_argument(
        "--rest-429-for",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="length of each 429 window (default 5)",
    )


def build(args: argparse.Namespace) -> ExchangeSimulator:
    """The simulator the parsed options describe (raises ValueError on bad combinations)."""
    faults = Faults(
        drop_every=args.drop_every,
        shutdown_every=args.shutdown_every,
        shutdown_grace=args.shutdown_grace,
        rest_429_every=args.rest_429_every,
        rest_429_seconds=args.rest_429_for,
        stall_pings=args.stall_pings,
        stall_data=args.stall_data,
        malformed_rate=args.malformed_rate,
    )
    return ExchangeSimulator(
        symbols=args.symbols,
        seed=args.seed,
        rate=args.rate,
        ping_interval=args.ping_interval,
        pong_timeout=args.pong_timeout,
        weight_limit=args.weight_limit,
        history_seconds=max(args.history_seconds, args.prehistory_seconds),
        faults=faults,
        activity=args.activity,
        prehistory_seconds=args.prehistory_seconds,
        connection_limit=args.connection_limit,
    )


async def main(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; print the URLs first. Exit 2 on bad options, 0 after a signal."""
    try:
        simulator = build(args)
    except ValueError as exc:
        print(f"binance-stats simulate: {exc}", flush=True)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await simulator.start(args.host, args.port)
        except OSError as exc:
            print(
                f"binance-stats simulate: cannot listen on {args.host}:{args.port}: {exc.strerror}",
                flush=True,
            )
            return 1
        print(
            f"simulator: {len(simulator.usdt_symbols())} USDT symbols, rate {simulator.rate:g}/s, "
            f"seed {args.seed}, activity {simulator.activity}",
            flush=True,
        )
        print(f"BINANCE_WS_URL={simulator.ws_url}", flush=True)
        print(f"BINANCE_REST_URL={simulator.rest_url}", flush=True)
        await stop.wait()
        await simulator.stop()
        return 0
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
