"""Composition roots: the one place per mode where actors are built and wired.

Embedded mode (`binance-stats run`) puts the whole tree in one process on the in-memory bus;
tree mode (`binance-stats actor NAME`) builds one program of supervisor.conf.
"""

from __future__ import annotations

from actors.config import Settings
from actors.core.supervisor import ChildSpec, Supervisor
from actors.front.app import build_app
from actors.front.server import FrontServer


def build_embedded(settings: Settings, *, simulate: bool = False, simulated_symbols: int = 242) -> Supervisor:
    """The whole tree in one process; `simulate` runs the local exchange in-process too."""
    app = build_app(settings)
    front = FrontServer(app, settings.host, settings.port)
    return Supervisor("embedded", [ChildSpec(front)])

