"""`binance-stats create-admin`: make or promote an admin account."""

from __future__ import annotations

import sys

from actors.config import Settings


async def create_admin_command(settings: Settings, email: str, password: str, name: str) -> int:
    print("binance-stats create-admin: not implemented yet", file=sys.stderr)
    return 2
