"""Symbol discovery: exchangeInfo → TRADING USDT spot pairs → the store."""

from __future__ import annotations

import sys

from actors.config import Settings


async def seed_symbols_command(settings: Settings) -> int:
    print("binance-stats seed-symbols: not implemented yet", file=sys.stderr)
    return 2
