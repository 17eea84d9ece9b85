"""The front as supervisor children: the app (REST) with its Socket.IO hub, and the server.

Embedded mode and the tree's `front` program differ only in the bus, cache and feed status
they pass in; both compose the front here.
"""

from __future__ import annotations

from collections.abc import Sequence

from actors.bus.base import Bus
from actors.cache.base import PriceCache
from actors.cache.reader import PriceReader
from actors.config import Settings
from actors.core.supervisor import ChildSpec
from actors.feed.listed import ListedSymbols
from actors.feed.status import FeedStatus
from actors.front.app import FrontDeps, build_app
from actors.front.rest.system import ReadinessCheck
from actors.front.server import FrontServer
from actors.front.sio.hub import BroadcastHub
from actors.front.sio.sessions import SessionStore
from actors.front.turns import LoopTurns
from actors.store import IntervalScheme, Store


def front_children(
    settings: Settings,
    scheme: IntervalScheme,
    *,
    bus: Bus,
    store: Store,
    cache: PriceCache,
    feed_status: FeedStatus,
    listed: ListedSymbols | None = None,
    readiness: Sequence[ReadinessCheck] = (),
    sessions: SessionStore | None = None,
) -> list[ChildSpec]:
    """The server, then the hub: the hub stops first and closes its clients (and pending
    long-polls) itself instead of the server waiting them out."""
    reader = PriceReader(cache, store, scheme)
    turns = LoopTurns.from_settings(settings)
    hub = BroadcastHub(bus, reader, store, scheme, settings, sessions=sessions, turns=turns)
    deps = FrontDeps(
        settings=settings,
        store=store,
        reader=reader,
        feed_status=feed_status,
        listed=listed,
        cache=cache,
        hub=hub,
        readiness=readiness,
        bus_losses=bus.losses,
        turns=turns,
    )
    app = build_app(settings, deps)
    hub.attach(app)
    return [ChildSpec(FrontServer(app, settings.host, settings.port)), ChildSpec(hub)]
