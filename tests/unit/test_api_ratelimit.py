"""The login limiter's rules, on a clock the test drives."""

from __future__ import annotations

from actors.front.ratelimit import Limit, LoginLimiter, RegistrationLimiter, SlidingWindow
from tests.helpers import ManualClock


def test_eleventh_failure_from_one_address_waits_there_only() -> None:
    """Issue 12, attack 5: ten wrong passwords lock the (email, address) pair, not the owner."""
    clock = ManualClock()
    limiter = LoginLimiter(clock=clock)
    for _ in range(10):
        assert limiter.begin("a@x.io", "10.0.0.66") == 0
        clock.now += 1
    wait = limiter.begin("a@x.io", "10.0.0.66")
    assert wait == 15 * 60 - 10
    assert limiter.begin("a@x.io", "10.0.0.1") == 0  # the owner, elsewhere
    limiter.succeeded("a@x.io", "10.0.0.1")
    clock.now += wait
    assert limiter.begin("a@x.io", "10.0.0.66") == 0


def test_an_email_under_a_spread_attack_still_takes_clean_addresses() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(per_pair=Limit(10, 900), email_alarm=20, clock=clock)
    for i in range(20):
        assert limiter.begin("a@x.io", f"10.0.0.{i}") == 0
    assert limiter.begin("a@x.io", "10.0.0.3") > 0  # failed here before: not while alarmed
    assert limiter.begin("a@x.io", "10.9.9.9") == 0  # a clean address gets its try
    assert limiter.begin("b@x.io", "10.0.0.3") == 0  # other emails are not affected


def test_sixty_failures_from_one_ip_block_it_for_the_rest_of_the_minute() -> None:
    clock = ManualClock()
    limiter = LoginLimiter(clock=clock)
    for i in range(60):
        assert limiter.begin(f"u{i}@x.io", "10.0.0.1") == 0
    assert limiter.begin("new@x.io", "10.0.0.1") == 60
    assert limiter.begin("new@x.io", "10.0.0.2") == 0
    clock.now += 60
    assert limiter.begin("new@x.io", "10.0.0.1") == 0


def test_successes_never_count_and_clear_the_email() -> None:
    limiter = LoginLimiter(clock=ManualClock())
    for _ in range(9):
        assert limiter.begin("a@x.io", "ip") == 0
    assert limiter.begin("a@x.io", "ip") == 0
    limiter.succeeded("a@x.io", "ip")
    for _ in range(500):
        assert limiter.begin("b@x.io", "ip2") == 0
        limiter.succeeded("b@x.io", "ip2")
    assert limiter.begin("a@x.io", "ip") == 0


def test_attempts_in_flight_count_before_their_verdict() -> None:
    limiter = LoginLimiter(per_pair=Limit(3, 60), clock=ManualClock())
    assert [limiter.begin("a@x.io", "ip") for _ in range(4)] == [0, 0, 0, 60]
    limiter.withdraw("a@x.io", "ip")
    assert limiter.begin("a@x.io", "ip") == 0


def test_window_keeps_at_most_max_keys() -> None:
    clock = ManualClock()
    window = SlidingWindow(Limit(2, 60), max_keys=100, clock=clock)
    for i in range(1000):
        window.record(f"k{i}")
    assert len(window) == 100
    clock.now += 61
    assert window.retry_after("k999") == 0 and len(window) == 99


def test_registrations_per_address_are_limited_and_refusals_withdrawn() -> None:
    clock = ManualClock()
    limiter = RegistrationLimiter(Limit(3, 3600), clock=clock)
    assert [limiter.begin("10.0.0.1") for _ in range(3)] == [0, 0, 0]
    assert limiter.begin("10.0.0.1") == 3600
    assert limiter.begin("10.0.0.2") == 0
    limiter.withdraw("10.0.0.2")
    clock.now += 3600
    assert limiter.begin("10.0.0.1") == 0
