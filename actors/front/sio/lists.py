"""List-form subscriptions (docs/socketio.md §2): each socket's set of symbols, grouped by set.

Most dashboards subscribe to every symbol, so sockets sharing one set form one group and the
once-a-second `price_update` is built and encoded once per group, not once per socket.
Sockets that take offsets (connection state recovery) are kept apart in their group: their
update is encoded once more, with the offset.
"""

from __future__ import annotations

from collections.abc import Container, Iterable


class ListGroup:
    """Sockets with exactly the same list subscription."""

    __slots__ = ("eio_sids", "offset_sids", "symbols")

    def __init__(self, symbols: frozenset[str]) -> None:
        self.symbols = symbols
        self.eio_sids: dict[str, str] = {}  # sid -> engine.io sid
        self.offset_sids: dict[str, str] = {}  # the same, for sockets that take offsets


class ListSubscriptions:
    """sid → symbol set, and set → group; bounded by the caller (known symbols only).
    `offsets` holds the sids of sockets that take offsets."""

    def __init__(self, offsets: Container[str] = frozenset()) -> None:
        self.by_sid: dict[str, frozenset[str]] = {}
        self.groups: dict[frozenset[str], ListGroup] = {}
        self.offsets = offsets

    def symbols_of(self, sid: str) -> frozenset[str]:
        return self.by_sid.get(sid, frozenset())

    def set(self, sid: str, eio_sid: str, symbols: frozenset[str]) -> None:
        """Make `symbols` the socket's whole list subscription (empty removes it)."""
        self.remove(sid)
        if not symbols:
            return
        group = self.groups.get(symbols)
        if group is None:
            group = self.groups[symbols] = ListGroup(symbols)
        # every socket of a group shares the group's set (242 symbols cost ~16 KB per copy)
        self.by_sid[sid] = group.symbols
        (group.offset_sids if sid in self.offsets else group.eio_sids)[sid] = eio_sid

    def add(self, sid: str, eio_sid: str, symbols: Iterable[str]) -> frozenset[str]:
        merged = self.symbols_of(sid) | frozenset(symbols)
        self.set(sid, eio_sid, merged)
        return merged

    def discard(self, sid: str, eio_sid: str, symbols: Iterable[str]) -> frozenset[str]:
        left = self.symbols_of(sid) - frozenset(symbols)
        self.set(sid, eio_sid, left)
        return left

    def remove(self, sid: str) -> None:
        old = self.by_sid.pop(sid, None)
        if old is None:
            return
        group = self.groups.get(old)
        if group is not None:
            group.eio_sids.pop(sid, None)
            group.offset_sids.pop(sid, None)
            if not group.eio_sids and not group.offset_sids:
                del self.groups[old]

    def subscribers_of(self, symbol: str) -> list[tuple[str, str]]:
        """(sid, eio sid) of every socket whose list holds `symbol`."""
        found: list[tuple[str, str]] = []
        for group in self.groups.values():
            if symbol in group.symbols:
                found.extend(group.eio_sids.items())
                found.extend(group.offset_sids.items())
        return found

    def subscription_count(self) -> int:
        return sum(len(symbols) for symbols in self.by_sid.values())
