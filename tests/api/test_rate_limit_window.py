"""The API rate limit's sliding window: the previous window counts in proportion to its overlap."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from config.throttling import TokenRateThrottle

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def throttle(settings, monkeypatch):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "10/min"}}
    cache.clear()
    clock = Clock(60_000.0)  # the start of a minute
    monkeypatch.setattr(TokenRateThrottle, "timer", lambda self: clock())
    request = APIRequestFactory().get("/api/v1/templates/", REMOTE_ADDR="198.51.100.7")

    def hit() -> tuple[bool, float]:
        limiter = TokenRateThrottle()
        allowed = limiter.allow_request(Request(request), None)
        return allowed, (limiter.wait() if not allowed else 0)

    yield clock, hit
    cache.clear()


def test_the_limit_within_one_window_with_the_wait_until_the_next(throttle):
    clock, hit = throttle
    assert all(hit()[0] for _ in range(10))
    clock.now += 20
    allowed, wait = hit()
    # Not only the rest of this minute (40 s): at the next minute's start this full minute still
    # weighs 10, so 6 s more are needed: 1 + 10 × 54/60 = 10.
    assert not allowed and wait == 46
    clock.now += 45
    assert not hit()[0]
    clock.now += 1
    assert hit()[0]


def test_the_previous_window_counts_by_its_overlap(throttle):
    clock, hit = throttle
    for _ in range(10):
        assert hit()[0]
    clock.now += 90  # half-way into the next minute: the last 60 s still hold half of the previous minute
    assert [hit()[0] for _ in range(6)] == [True, True, True, True, True, False]  # 5 + 10 × ½ = 10
    clock.now += 24  # 6 s before the minute ends: 5 + 10 × 0.1 = 6 (the refused one is not counted)
    assert [hit()[0] for _ in range(5)] == [True, True, True, True, False]


def test_the_wait_is_until_the_previous_window_weighs_little_enough(throttle):
    clock, hit = throttle
    for _ in range(10):
        hit()
    clock.now += 60  # the next minute's start: the previous one still weighs in fully
    allowed, wait = hit()
    assert not allowed and wait == 6  # after 6 s: 0 + 10 × 0.9 = 9, room for one more
    clock.now += 6
    assert hit()[0]


def test_without_a_rate_nothing_is_counted(throttle, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None}}
    _, hit = throttle
    assert all(hit()[0] for _ in range(50))


@settings_(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    start=st.floats(min_value=0, max_value=59.9),
    bursts=st.lists(
        st.tuples(st.floats(min_value=0, max_value=70), st.integers(min_value=0, max_value=14)), max_size=5
    ),
)
def test_honouring_retry_after_always_succeeds_and_a_second_earlier_never_does(throttle, start, bursts):
    """Whatever came before, a refused caller who waits exactly ``Retry-After`` is served; one who
    comes back a second earlier is refused (the header is neither short nor padded by more than 1 s)."""
    clock, hit = throttle
    cache.clear()
    clock.now = 60_000.0 + start
    for gap, count in bursts:
        clock.now += gap
        for _ in range(count):
            hit()
    while True:  # fill up to the first refusal
        allowed, wait = hit()
        if not allowed:
            break
    refused_at = clock.now
    if wait > 1:
        clock.now = refused_at + wait - 1
        assert not hit()[0], f"refused at {refused_at}, told {wait} s, but served {wait - 1} s later"
    clock.now = refused_at + wait
    assert hit()[0], f"refused at {refused_at}, told to wait {wait} s, refused again after waiting"
