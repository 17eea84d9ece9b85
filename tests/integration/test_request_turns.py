"""Requests per loop turn (docs/security.md §6), over real HTTP: a burst arriving in one turn
is spread, and past the waiting bound refused with 503 + Retry-After, then served again."""

from __future__ import annotations

import asyncio

import msgspec

from actors import metrics
from actors.store import IntervalScheme, open_store
from tests.integration.api_harness import ServeApp, running_api

BURST = 30


async def _burst(base: str) -> list[bytes]:
    """BURST requests written back to back on open connections (no await between the writes:
    the server finds them all readable in one poll), then each status line and body."""
    host, port = base.removeprefix("http://").split(":")
    streams = [await asyncio.open_connection(host, int(port)) for _ in range(BURST)]
    request = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    for _, writer in streams:
        writer.write(request)
    answers = []
    for reader, writer in streams:
        answers.append(await reader.read())
        writer.close()
    return answers


async def test_a_burst_past_the_waiting_bound_gets_503_and_the_rest_are_served(
    sqlite_url: str, serve_app: ServeApp
) -> None:
    store = open_store(sqlite_url, IntervalScheme())
    await store.open()
    refused_before = metrics.TURNS_REFUSED._value.get()
    deferred_before = metrics.TURNS_DEFERRED._value.get()
    try:
        async with running_api(
            store, serve_app, DATABASE_URL=sqlite_url, REQUESTS_PER_TURN="1", REQUESTS_WAITING_MAX="2"
        ) as api:
            answers = await _burst(api.base)
            ok = [a for a in answers if a.startswith(b"HTTP/1.1 200")]
            busy = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
            assert len(ok) + len(busy) == BURST
            # one starts in the turn, two wait for later turns, the rest are refused at once
            assert len(ok) == 3, answers[:4]
            head, _, body = busy[0].partition(b"\r\n\r\n")
            assert b"Retry-After: 1" in head
            assert msgspec.json.decode(body)["success"] is False
            assert metrics.TURNS_REFUSED._value.get() - refused_before == BURST - 3
            assert metrics.TURNS_DEFERRED._value.get() - deferred_before == 2
            # nothing stays held: the next request is served
            assert (await api.call("GET", "/healthz")).status == 200
    finally:
        await store.close()
