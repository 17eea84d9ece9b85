"""FrontServer: the actor that owns the aiohttp runner (REST, Socket.IO, /metrics) on PORT."""

from __future__ import annotations

from aiohttp import web

from actors.core.service import Service


class FrontServer(Service):
    """Serves `app` on host:port; started after the writers, stopped before them."""

    def __init__(self, app: web.Application, host: str, port: int, *, name: str = "front") -> None:
        super().__init__(name)
        self.app = app
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        if self._runner is not None:
            return  # a restart keeps the listening socket
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        self.log.info("listening on http://%s:%d", self.host, self.port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def bound_port(self) -> int:
        """The actual port (useful when PORT=0 in tests)."""
        assert self._runner is not None
        for addr in self._runner.addresses:
            return int(addr[1])
        return self.port
