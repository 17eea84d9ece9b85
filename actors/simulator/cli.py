"""`binance-stats simulate`: options and entry point of the local exchange."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9443)


async def main(args: argparse.Namespace) -> int:
    print("binance-stats simulate: not implemented yet", file=sys.stderr)
    return 2
