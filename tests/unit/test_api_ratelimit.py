"""The login limiter's rules, on a clock the test drives."""

from __future__ import annotations

from actors.front.ratelimit import Limit, LoginLimiter, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_eleventh_failure_for_one_email_waits_until_the_first_expires() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for i in range(10):
        assert limiter.begin("a@x.io", f"10.0.0.{i}") == 0
        clock.now += 1
    wait = limiter.begin("a@x.io", "10.0.1.1")
    assert wait == 15 * 60 - 10
    clock.now += wait
    assert limiter.begin("a@x.io", "10.0.1.1") == 0


def test_sixty_failures_from_one_ip_block_it_for_the_rest_of_the_minute() -> None:
    clock = Clock()
    limiter = LoginLimiter(clock=clock)
    for i in range(60):
        assert limiter.begin(f"u{i}@x.io", "10.0.0.1") == 0
    assert limiter.begin("new@x.io", "10.0.0.1") == 60
    assert limiter.begin("new@x.io", "10.0.0.2") == 0
    clock.now += 60
    assert limiter.begin("new@x.io", "10.0.0.1") == 0


def test_successes_never_count_and_clear_the_email() -> None:
    limiter = LoginLimiter(clock=Clock())
    for _ in range(9):
        assert limiter.begin("a@x.io", "ip") == 0
    assert limiter.begin("a@x.io", "ip") == 0
    limiter.succeeded("a@x.io", "ip")
    for _ in range(500):
        assert limiter.begin("b@x.io", "ip2") == 0
        limiter.succeeded("b@x.io", "ip2")
    assert limiter.begin("a@x.io", "ip") == 0


def test_attempts_in_flight_count_before_their_verdict() -> None:
    limiter = LoginLimiter(per_email=Limit(3, 60), clock=Clock())
    assert [limiter.begin("a@x.io", "ip") for _ in range(4)] == [0, 0, 0, 60]
    limiter.withdraw("a@x.io", "ip")
    assert limiter.begin("a@x.io", "ip") == 0


def test_window_keeps_at_most_max_keys() -> None:
    clock = Clock()
    window = SlidingWindow(Limit(2, 60), max_keys=100, clock=clock)
    for i in range(1000):
        window.record(f"k{i}")
    assert len(window) == 100
    clock.now += 61
    assert window.retry_after("k999") == 0 and len(window) == 99
