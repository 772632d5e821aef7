"""Rate limits of the REST API."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.authtoken.models import Token
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from integrations.models import ApiKey

logger = logging.getLogger(__name__)


@functools.cache
def _redis(location: str, options: tuple[tuple[str, Any], ...]) -> redis.Redis:
    """One redis-py client (and its connection pool) per process for the cache's server: the
    first of ``LOCATION``, the one Django's ``RedisCache`` writes to, with the cache's ``OPTIONS``
    (its timeouts). Django's cache keeps its own client to itself; this one only counts."""
    return redis.Redis.from_url(location.split(",")[0].strip(), **dict(options))


def _client_for(cache_alias: str = "default") -> redis.Redis:
    config = settings.CACHES[cache_alias]
    location = config["LOCATION"] if isinstance(config["LOCATION"], str) else ",".join(config["LOCATION"])
    return _redis(location, tuple(sorted(config.get("OPTIONS", {}).items())))


def window_counts(key: str, *, window: int, duration: int) -> tuple[int, int]:
    """Count one more hit in window ``window`` of ``key``; return (this window's count, the previous one's).

    On Redis (production) this is one round trip: INCR and EXPIRE of this window's counter and a
    GET of the previous one, pipelined, atomic per counter whatever the number of processes. Other
    backends (the local memory of ``make run``) use the cache API.
    """
    current, previous = f"{key}:{window}", f"{key}:{window - 1}"
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Django's cache serializer stores integers as plain integers, so INCR here and the
        # cache API read the same value under the same (prefixed, versioned) key.
        client = _client_for()
        current_key, previous_key = cache.make_and_validate_key(current), cache.make_and_validate_key(previous)
        pipe = client.pipeline(transaction=False)
        pipe.incr(current_key)
        pipe.expire(current_key, duration * 2)
        pipe.get(previous_key)
        count, _, before = pipe.execute()
        return int(count), int(before or 0)
    cache.add(current, 0, duration * 2)
    return cache.incr(current), int(cache.get(previous) or 0)


def window_uncount(key: str, *, window: int) -> None:
    """Take back the hit ``window_counts`` counted for a refused request: only served ones count."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        current = cache.make_and_validate_key(f"{key}:{window}")
        _client_for().decr(current)
    else:
        cache.decr(f"{key}:{window}")


class TokenRateThrottle(SimpleRateThrottle):
    """``API_RATE_LIMIT`` requests per API token (per user for a browser session, per address otherwise).

    A sliding-window counter: the count of the current window (of the rate's duration) plus the
    previous window's, weighted by how much of it still overlaps the last ``duration`` seconds.
    Two small counters per caller in the cache (Redis in production, so the limit holds across
    every process and container) and one round trip per served request, where a log of
    timestamps would read and write a list as long as the limit. Refused requests are not counted
    (as with DRF's own throttles): a caller who waits the ``Retry-After`` gets through.

    While the cache is unreachable requests are let through (and logged): the limit protects the
    service, and refusing every API call during a Redis outage would do the harm it is there to
    prevent.
    """

    scope = "token"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        now = self.timer()
        window, into = divmod(now, self.duration)
        try:
            count, before = window_counts(self.key, window=int(window), duration=self.duration)
        except Exception as exc:  # the cache backend's connection errors (redis-py, or another backend's)
            logger.warning("API rate limit not applied: the cache is unreachable (%s)", type(exc).__name__)
            return True
        overlap = (self.duration - into) / self.duration
        estimate = count + before * overlap
        if estimate <= self.num_requests:
            return True
        count -= 1
        try:
            window_uncount(self.key, window=int(window))
        except Exception as exc:
            logger.warning("API rate limit: a refused request stays counted (%s)", type(exc).__name__)
        self._retry_after = self._wait(count=count, before=before, into=into)
        return False

    def _wait(self, *, count: int, before: int, into: float) -> float:
        """Seconds until one more request fits (``count``: this window's served requests)."""
        left_in_window = self.duration - into
        if count >= self.num_requests or before == 0:
            return left_in_window  # this window alone is at the limit: wait for the next one
        # The previous window's weight falls as time passes: when is (count + 1) + before × overlap ≤ limit?
        seconds = left_in_window - (self.num_requests - count - 1) * self.duration / before
        return min(max(seconds, 1.0), left_in_window)

    def wait(self) -> float:
        return math.ceil(getattr(self, "_retry_after", self.duration))

    def timer(self) -> float:
        return time.time()

    def get_rate(self) -> str | None:
        # Read the setting now, not at import, so tests and settings changes take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.auth, ApiKey):
            ident = f"k{request.auth.prefix}"
        elif isinstance(request.auth, Token):
            ident = "t" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:24]
        elif request.user and request.user.is_authenticated:
            ident = f"u{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
