"""The actor runtime against real asyncio tasks: restarts, strategies, intensity, ordered stop, backpressure."""

from __future__ import annotations

import asyncio

import pytest

from actors.core.actor import Actor
from actors.core.backoff import Backoff
from actors.core.service import Service
from actors.core.supervisor import (
    ChildSpec,
    Restart,
    RestartIntensityExceeded,
    Strategy,
    Supervisor,
)
from tests.helpers import eventually


class Recorder(Actor[str]):
    """Handles strings; a message 'crash' raises. Records lifecycle events in a shared journal."""

    def __init__(
        self, name: str, journal: list[str], *, mailbox_size: int = 100, delay: float = 0.0
    ) -> None:
        super().__init__(name, mailbox_size=mailbox_size)
        self.journal = journal
        self.delay = delay
        self.handled: list[str] = []
        self.starts = 0

    async def on_start(self) -> None:
        self.starts += 1
        self.journal.append(f"start:{self.name}")

    async def on_stop(self) -> None:
        self.journal.append(f"stop:{self.name}")

    async def handle(self, message: str) -> None:
        if message == "crash":
            raise RuntimeError(f"{self.name} was told to crash")
        if self.delay:
            await asyncio.sleep(self.delay)
        self.handled.append(message)


def spec(actor: Actor[str], base: float = 0.05) -> ChildSpec:
    return ChildSpec(actor, shutdown=5.0, backoff=Backoff(base=base, cap=0.5, jitter=0.0))


async def test_children_start_in_order_and_stop_in_reverse() -> None:
    journal: list[str] = []
    a, b, c = (Recorder(n, journal) for n in "abc")
    sup = Supervisor("root", [spec(a), spec(b), spec(c)])
    await sup.start()
    await sup.stop()
    assert journal == ["start:a", "start:b", "start:c", "stop:c", "stop:b", "stop:a"]


async def test_one_for_one_restarts_only_the_crashed_child_with_backoff(
    caplog: pytest.LogCaptureFixture,
) -> None:
    journal: list[str] = []
    a, b = Recorder("a", journal), Recorder("b", journal)
    sup = Supervisor("root", [spec(a, base=0.2), spec(b)], strategy=Strategy.ONE_FOR_ONE)
    await sup.start()
    loop = asyncio.get_running_loop()
    crashed_at = loop.time()
    await a.tell("crash")
    await b.tell("sibling keeps running")
    await eventually(lambda: _async(a.starts == 2), timeout=5, what="a restarted")
    assert loop.time() - crashed_at >= 0.2, "restart must wait for the backoff"
    assert b.starts == 1 and b.handled == ["sibling keeps running"]
    await a.tell("after restart")
    await eventually(
        lambda: _async(a.handled == ["after restart"]), timeout=5, what="a handles again"
    )
    assert any(
        "a crashed: RuntimeError: a was told to crash" in r.getMessage() for r in caplog.records
    )
    await sup.stop()


async def test_restart_keeps_queued_messages() -> None:
    journal: list[str] = []
    a = Recorder("a", journal)
    sup = Supervisor("root", [spec(a)])
    await sup.start()
    for message in ("crash", "m1", "m2"):
        await a.tell(message)
    await eventually(
        lambda: _async(a.handled == ["m1", "m2"]),
        timeout=5,
        what="queued messages handled after restart",
    )
    await sup.stop()


async def test_one_for_all_restarts_every_child_in_order() -> None:
    journal: list[str] = []
    a, b, c = (Recorder(n, journal) for n in "abc")
    sup = Supervisor("root", [spec(a), spec(b), spec(c)], strategy=Strategy.ONE_FOR_ALL)
    await sup.start()
    journal.clear()
    await b.tell("crash")
    await eventually(lambda: _async(c.starts == 2), timeout=5, what="all restarted")
    assert journal == ["stop:c", "stop:b", "stop:a", "start:a", "start:b", "start:c"]
    assert (a.starts, b.starts, c.starts) == (2, 2, 2)
    await sup.stop()


async def test_past_the_intensity_limit_the_supervisor_fails_upward() -> None:
    journal: list[str] = []
    a, b = Recorder("a", journal), Recorder("b", journal)
    sup = Supervisor("root", [spec(a, base=0.01), spec(b)], max_restarts=2, period=10.0)
    await sup.start()
    for _ in range(3):
        starts = a.starts
        await a.tell("crash")
        if _ < 2:
            await eventually(lambda s=starts: _async(a.starts == s + 1), timeout=5, what="restart")
    assert sup.failed is not None
    error = await asyncio.wait_for(sup.failed, 5)
    assert isinstance(error, RestartIntensityExceeded)
    assert "more than 2 restarts" in str(error)
    assert journal[-2:] == ["stop:b", "stop:a"], (
        "a failing supervisor stops its children in reverse"
    )


async def test_nested_supervisor_failure_is_a_crash_of_the_parent_child() -> None:
    journal: list[str] = []
    inner_actor = Recorder("leaf", journal)
    inner = Supervisor("inner", [spec(inner_actor, base=0.01)], max_restarts=0, period=10.0)
    sibling = Recorder("sibling", journal)
    outer = Supervisor(
        "outer", [ChildSpec(inner, backoff=Backoff(base=0.01, jitter=0.0)), spec(sibling)]
    )
    await outer.start()
    await inner_actor.tell("crash")
    await eventually(
        lambda: _async(inner_actor.starts == 2), timeout=5, what="parent restarted the inner tree"
    )
    assert sibling.starts == 1
    await outer.stop()


async def test_stop_drains_the_mailbox_first() -> None:
    journal: list[str] = []
    slow = Recorder("slow", journal, delay=0.01)
    sup = Supervisor("root", [spec(slow)])
    await sup.start()
    for i in range(20):
        await slow.tell(f"m{i}")
    await sup.stop()
    assert slow.handled == [f"m{i}" for i in range(20)]
    assert journal[-1] == "stop:slow"


async def test_full_mailbox_applies_backpressure_and_try_tell_drops() -> None:
    journal: list[str] = []
    gate = asyncio.Event()

    class Blocked(Recorder):
        async def handle(self, message: str) -> None:
            await gate.wait()
            await super().handle(message)

    actor = Blocked("blocked", journal, mailbox_size=2)
    await actor.start()
    await actor.tell("m0")  # taken by the handle loop, which then blocks on the gate
    await eventually(lambda: _async(actor.mailbox.empty()), timeout=5, what="m0 taken")
    await actor.tell("m1")
    await actor.tell("m2")
    assert actor.mailbox.full()
    pending = asyncio.ensure_future(actor.tell("m3"))
    await asyncio.sleep(0.05)
    assert not pending.done(), "tell must wait while the mailbox is full"
    assert actor.mailbox.qsize() == 2, "the mailbox never grows past its bound"
    assert actor.try_tell("dropped") is False
    gate.set()
    await asyncio.wait_for(pending, 5)
    await actor.stop()
    assert actor.handled == ["m0", "m1", "m2", "m3"]


def test_unbounded_mailbox_is_refused() -> None:
    with pytest.raises(ValueError):
        Recorder("x", [], mailbox_size=0)


async def _async(value: bool) -> bool:
    return value


class OneShot(Service):
    """Its `run` returns after `crashes` crashes; counts its starts."""

    def __init__(self, name: str, *, crashes: int = 0) -> None:
        super().__init__(name)
        self.crashes = crashes
        self.starts = 0

    async def on_start(self) -> None:
        self.starts += 1

    async def run(self) -> None:
        if self.starts <= self.crashes:
            raise RuntimeError(f"{self.name} crash {self.starts}")


def one_shot_spec(child: Service, restart: Restart) -> ChildSpec:
    return ChildSpec(child, restart=restart, backoff=Backoff(base=0.01, cap=0.05, jitter=0.0))


async def test_a_transient_child_that_returns_ends_and_one_that_crashes_restarts() -> None:
    done, flaky = OneShot("done"), OneShot("flaky", crashes=2)
    keeper = Recorder("keeper", [])
    sup = Supervisor(
        "root",
        [
            one_shot_spec(done, Restart.TRANSIENT),
            one_shot_spec(flaky, Restart.TRANSIENT),
            spec(keeper),
        ],
    )
    await sup.start()
    await eventually(
        lambda: _async(sup.ended == {"done", "flaky"}), timeout=5, what="both transients ended"
    )
    assert (done.starts, flaky.starts) == (1, 3), "a crash restarts it, returning ends it"
    await keeper.tell("still served")
    await eventually(lambda: _async(keeper.handled == ["still served"]), timeout=5, what="keeper")
    await sup.stop()


async def test_a_permanent_child_that_returns_is_restarted_and_a_temporary_one_never() -> None:
    permanent, temporary = OneShot("permanent"), OneShot("temporary", crashes=1)
    sup = Supervisor(
        "root",
        [one_shot_spec(permanent, Restart.PERMANENT), one_shot_spec(temporary, Restart.TEMPORARY)],
        max_restarts=3,
        period=10.0,
    )
    await sup.start()
    assert sup.failed is not None
    error = await asyncio.wait_for(sup.failed, 5)  # it returns each time: restarted until the limit
    assert isinstance(error, RestartIntensityExceeded) and "permanent exited" in str(error)
    assert permanent.starts == 4
    assert temporary.starts == 1 and "temporary" in sup.ended
