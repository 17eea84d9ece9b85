"""The aiohttp application factory: REST under /api/v1, Socket.IO, health and metrics."""

from __future__ import annotations

from aiohttp import web

from actors.config import Settings

SETTINGS = web.AppKey("settings", Settings)


async def healthz(request: web.Request) -> web.Response:
    """Alive: answers as long as the process serves HTTP, whatever the exchange or store do."""
    return web.json_response({"status": "ok"})


def build_app(settings: Settings) -> web.Application:
    """The front's app; dependencies arrive as arguments and live under typed AppKeys."""
    app = web.Application(client_max_size=1024 * 1024)
    app[SETTINGS] = settings
    app.router.add_get("/healthz", healthz)
    return app
