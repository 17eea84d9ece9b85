"""Symbols: list, names only (and the dashboard's /symbols/active), by id, and the admin writes."""

from __future__ import annotations

from typing import Any, cast

import msgspec
from aiohttp import web

from actors.feed.listed import ListedSymbols
from actors.front.auth import Guard
from actors.front.errors import ApiError, ErrorSource, envelope
from actors.front.rest.common import Endpoint, read_json, read_query
from actors.front.schemas import (
    MAX_BULK_SYMBOLS,
    SymbolBody,
    SymbolBulk,
    SymbolBulkBody,
    SymbolPatch,
    SymbolPatchBody,
    SymbolsQuery,
)
from actors.messages import NewSymbol, SymbolRecord
from actors.store.base import DuplicateError, Store

ADMIN_ERRORS = (400, 401, 403, 413, 415)


def _new_symbol(body: SymbolBody) -> NewSymbol:
    return NewSymbol(
        body.symbol.upper(), body.base_asset.upper(), body.quote_asset.upper(), body.is_active
    )


def _duplicate(exc: DuplicateError, path: str = "symbol") -> ApiError:
    message = f"Symbol {exc.value} already exists"
    return ApiError(409, message, [ErrorSource(path, message)])


def _not_found(symbol_id: str) -> ApiError:
    message = f"No symbol with id {symbol_id}"
    return ApiError(404, message, [ErrorSource("id", message)])


class SymbolsApi:
    """Symbol handlers; writes need an admin token."""

    def __init__(self, store: Store, guard: Guard, listed: ListedSymbols | None = None) -> None:
        self.store = store
        self.guard = guard
        self.listed = listed

    async def _check_listed(self, names: list[tuple[str, str]]) -> None:
        """400 naming the field of the first pair the exchange does not list (when known)."""
        known = await self.listed.known() if self.listed is not None else None
        if known is None:
            return
        for path, name in names:
            if name not in known:
                raise ApiError.field(
                    400, path, f"{name} is not listed by the exchange as a TRADING USDT spot pair"
                )

    def endpoints(self) -> list[Endpoint]:
        name_list = Endpoint(
            "GET",
            "/symbols/list",
            self.list_names,
            "Active symbol names only",
            "Symbols",
            data=list[str],
        )
        return [
            Endpoint(
                "GET",
                "/symbols",
                self.list_all,
                "All active symbols",
                "Symbols",
                query=SymbolsQuery,
                data=list[SymbolRecord],
                errors=(400,),
            ),
            name_list,
            name_list.alias("/symbols/active", "Active symbol names (dashboard alias)"),
            Endpoint(
                "POST",
                "/symbols/bulk",
                self.create_bulk,
                "Create many symbols (all or none)",
                "Symbols",
                body=SymbolBulk,
                data=list[SymbolRecord],
                status=201,
                admin=True,
                errors=(*ADMIN_ERRORS, 409),
                description=f"An array or `{{symbols: [...]}}`, at most {MAX_BULK_SYMBOLS} items.",
            ),
            Endpoint(
                "GET",
                "/symbols/{id}",
                self.get_one,
                "One symbol by id (or by name)",
                "Symbols",
                data=SymbolRecord,
                errors=(404,),
            ),
            Endpoint(
                "POST",
                "/symbols",
                self.create,
                "Create a symbol",
                "Symbols",
                body=SymbolBody,
                data=SymbolRecord,
                status=201,
                admin=True,
                errors=(*ADMIN_ERRORS, 409),
            ),
            Endpoint(
                "PATCH",
                "/symbols/{id}",
                self.update,
                "Update a symbol",
                "Symbols",
                body=SymbolPatchBody,
                data=SymbolRecord,
                admin=True,
                errors=(*ADMIN_ERRORS, 404, 409),
            ),
            Endpoint(
                "DELETE",
                "/symbols/{id}",
                self.delete,
                "Delete a symbol",
                "Symbols",
                data=SymbolRecord,
                admin=True,
                errors=(401, 403, 404),
            ),
        ]

    async def _resolve(self, symbol_id: str) -> SymbolRecord:
        """A symbol by id, or by its name (BTCUSDT) as a convenience."""
        record = await self.store.get_symbol(symbol_id)
        if record is None and symbol_id.isalnum():
            record = await self.store.get_symbol_by_name(symbol_id.upper())
        if record is None:
            raise _not_found(symbol_id)
        return record

    async def list_all(self, request: web.Request) -> web.Response:
        query = read_query(request, SymbolsQuery)
        records = await self.store.list_symbols(active_only=not query.include_inactive)
        return envelope(records, "Symbols retrieved successfully")

    async def list_names(self, request: web.Request) -> web.Response:
        records = await self.store.list_symbols(active_only=True)
        return envelope([r.symbol for r in records], "Symbols list retrieved successfully")

    async def get_one(self, request: web.Request) -> web.Response:
        record = await self._resolve(request.match_info["id"])
        return envelope(record, "Symbol retrieved successfully")

    async def create(self, request: web.Request) -> web.Response:
        await self.guard.require_admin(request)
        body = await read_json(request, SymbolBody)
        await self._check_listed([("symbol", body.symbol.upper())])
        try:
            record = await self.store.create_symbol(_new_symbol(body))
        except DuplicateError as exc:
            raise _duplicate(exc) from None
        return envelope(record, "Symbol created successfully", status=201)

    async def create_bulk(self, request: web.Request) -> web.Response:
        await self.guard.require_admin(request)
        body: Any = await read_json(request, cast(Any, SymbolBulk))
        items: list[SymbolBody] = body.symbols if isinstance(body, SymbolBulkBody) else body
        prefix = "symbols" if isinstance(body, SymbolBulkBody) else ""
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            name = item.symbol.upper()
            if name in seen:
                message = (
                    f"Symbol {name} appears twice in the request (items {seen[name]} and {index})"
                )
                raise ApiError(409, message, [ErrorSource(f"{prefix}[{index}].symbol", message)])
            seen[name] = index
        await self._check_listed([(f"{prefix}[{i}].symbol", name) for name, i in seen.items()])
        try:
            records = await self.store.create_symbols([_new_symbol(item) for item in items])
        except DuplicateError as exc:
            index = seen.get(exc.value.upper(), 0)
            raise _duplicate(exc, f"{prefix}[{index}].symbol") from None
        return envelope(records, f"{len(records)} symbols created successfully", status=201)

    async def update(self, request: web.Request) -> web.Response:
        await self.guard.require_admin(request)
        body = await read_json(request, SymbolPatch)
        changes: dict[str, object] = {
            key: value.upper() if isinstance(value, str) else value
            for key, value in msgspec.structs.asdict(body).items()
            if value is not msgspec.UNSET
        }
        if not changes:
            raise ApiError.field(
                400, "body", "Nothing to update: give symbol, baseAsset, quoteAsset or isActive"
            )
        changes = {_CAMEL[key]: value for key, value in changes.items()}
        renamed = changes.get("symbol")
        if isinstance(renamed, str):
            await self._check_listed([("symbol", renamed)])
        record = await self._resolve(request.match_info["id"])
        try:
            updated = await self.store.update_symbol(record.id, changes)
        except DuplicateError as exc:
            raise _duplicate(exc) from None
        if updated is None:
            raise _not_found(request.match_info["id"])
        return envelope(updated, "Symbol updated successfully")

    async def delete(self, request: web.Request) -> web.Response:
        await self.guard.require_admin(request)
        record = await self._resolve(request.match_info["id"])
        if not await self.store.delete_symbol(record.id):
            raise _not_found(request.match_info["id"])
        return envelope(record, "Symbol deleted successfully")


_CAMEL = {
    "symbol": "symbol",
    "base_asset": "baseAsset",
    "quote_asset": "quoteAsset",
    "is_active": "isActive",
}
