"""The simulator's own control routes for listings, for tests that run it as a process.

`POST /sim/listings {"symbol": "NEWUSDT", "price": 1.5, "activity": 0.5}` lists a TRADING
pair; `POST /sim/delistings {"symbol": "XRPUSDT", "status": "BREAK"}` moves one out of
TRADING. Not part of Binance's protocol; outside `/api/`, so they cost no request weight.
"""

from __future__ import annotations

from typing import Protocol

import msgspec
from aiohttp import web


class Listings(Protocol):
    """What the routes drive (ExchangeSimulator)."""

    def list_symbol(self, symbol: str, price: float = 1.0, activity: float = 0.5) -> None: ...

    def delist_symbol(self, symbol: str, status: str = "BREAK") -> None: ...


class NewListing(msgspec.Struct, forbid_unknown_fields=True):
    """Body of `POST /sim/listings`."""

    symbol: str
    price: float = 1.0
    activity: float = 0.5


class Delisting(msgspec.Struct, forbid_unknown_fields=True):
    """Body of `POST /sim/delistings`."""

    symbol: str
    status: str = "BREAK"


def _answer(status: int, msg: str) -> web.Response:
    return web.json_response({"msg": msg}, status=status)


class ListingControl:
    """aiohttp routes over a `Listings`; bad bodies get 400 naming the problem."""

    def __init__(self, listings: Listings) -> None:
        self.listings = listings

    def routes(self) -> list[web.RouteDef]:
        """The control routes."""
        return [
            web.post("/sim/listings", self.add),
            web.post("/sim/delistings", self.remove),
        ]

    async def add(self, request: web.Request) -> web.Response:
        """List a new pair."""
        try:
            body = msgspec.json.decode(await request.read(), type=NewListing)
            self.listings.list_symbol(body.symbol, body.price, body.activity)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            return _answer(400, str(exc))
        return _answer(200, f"listed {body.symbol}")

    async def remove(self, request: web.Request) -> web.Response:
        """Move a pair out of TRADING."""
        try:
            body = msgspec.json.decode(await request.read(), type=Delisting)
            self.listings.delist_symbol(body.symbol, body.status)
        except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
            return _answer(400, str(exc))
        return _answer(200, f"{body.symbol} moved to {body.status}")
